"""fibrecert: conformance certification for UK wholesale fibre ordering APIs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fibrecert")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+checkout"
