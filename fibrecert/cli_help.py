"""What every sub-command's --help shares: defaults and choices shown, an epilog kept as written."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (ArgumentDefaultsHelpFormatter) and keeps the description and the
    epilog's line breaks (RawDescriptionHelpFormatter), so that an exit-code table stays a table.
    An option without a default worth showing (None, an empty list, a flag's False) shows none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def exit_codes(*lines: str) -> str:
    """An epilog listing exit codes, e.g. exit_codes("0  written", "2  usage error")."""
    return "exit codes:\n" + "\n".join(f"  {line}" for line in lines)
