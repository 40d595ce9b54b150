"""What every sub-command's --help shares: defaults and choices shown, an epilog kept as written."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every command's help: each option's default shown where it has a meaningful one (not None, False,
    an empty list, or a default the help text already names), description and epilog kept as written
    (so that an exit-code table stays a table)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower() or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            text += " (default: %(default)s)"
        return text


def exit_codes(*lines: str) -> str:
    """An epilog listing exit codes, e.g. exit_codes("0  written", "2  usage error")."""
    return "exit codes:\n" + "\n".join(f"  {line}" for line in lines)


# `fibrecert run`'s exit codes: the one table docs/cli.md, docs/levels-and-verdicts.md, docs/ci/README.md,
# README.md and `fibrecert run --help` show (tests/test_docs.py checks that they agree).
EXIT_NOTHING_TESTED = 5
RUN_EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "CONFORMANT"),
    (1, "NON_CONFORMANT (with --expect: a fail not listed as a known deviation)"),
    (2, "usage or configuration error: every problem listed (file, section, key), nothing sent"),
    (3, "INCOMPLETE: the suites ran, but a MUST was not tested, the run stopped early or was interrupted, "
        "or it was a subset"),
    (EXIT_NOTHING_TESTED, "nothing was tested: the preflight failed (target unreachable or misconfigured); "
                          "one line per endpoint names the cause and the fix"),
)
