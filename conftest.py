"""Thin: the fibrecert pytest plugin (also registered by the package's pytest11 entry point under
this same module name, so it is never registered twice)."""

pytest_plugins = ["fibrecert.suites.plugin"]
