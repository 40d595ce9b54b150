"""`fibrecert init`: write a commented target-file template.

Every key the target file accepts (fibrecert.target) is in the template: a required value as a
placeholder `"<<FILL: what goes here>>"`, an optional key commented out with its default (or, where
it has none, with an example and what leaving it out means). `fibrecert run` refuses a file that
still holds placeholders, listing them all (fibrecert.target.load_target).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from fibrecert.apis import DIALECTS, api_choices
from fibrecert.cli_help import HelpFormatter, exit_codes
from fibrecert.targetfile import PLACEHOLDER as PLACEHOLDER_PREFIX

__all__ = ["template", "write_template", "register", "run_init", "InitError", "PLACEHOLDER_PREFIX",
           "DEFAULT_PATH"]

DEFAULT_PATH = "fibrecert-target.toml"


class InitError(Exception):
    """The template could not be written: one line, exit code 2."""


def template(api: str = "all") -> str:
    """The template for `api` ("ala", "fibrecafe" or "all"), as TOML text."""
    if api not in api_choices():
        raise ValueError(f"api must be one of {', '.join(api_choices())}, not {api!r}")
    names = tuple(DIALECTS) if api == "all" else (api,)
    out = [
        "# fibrecert target file: what to certify and with which credentials.",
        "# Written by `fibrecert init`. Replace every \"<<FILL: ...>>\" (fibrecert refuses a file that still",
        "# holds one); uncomment an optional key to set it (the value shown is its default, or an example",
        "# where it has none). Paths are relative to this file. Keep secrets out of it: use *_secret_env.",
        "# Every key is described in docs/target-file.md of the fibrecert repository.",
        "#",
        "# Then:  fibrecert run --target THIS_FILE",
    ]
    for name in names:
        section = DIALECTS[name].template
        out += ["", f"# {section.about}"]
        if len(names) > 1:
            out.append(f"# (Delete this section if you do not implement {section.short_name}.)")
        out.append(f"[{name}]")
        for key in section.keys:
            if key.about:
                out.append("")
                out += [f"# {line}" for line in key.about]
            if key.fill is not None:
                value = f"[{key.placeholder()}]" if key.list_of_one else key.placeholder()
                out.append(f"{key.name} = {value}")
            else:
                out.append(f"# {key.name} = {key.value}")
    return "\n".join(out) + "\n"


def write_template(path: str | os.PathLike[str], api: str = "all") -> Path:
    """Write the template to `path`; never overwrites. Raises InitError (one line)."""
    p = Path(path)
    text = template(api)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it may hold a secret once filled
    except FileExistsError:
        raise InitError(f"{p}: already exists; not overwritten (remove it, or name another PATH)") from None
    except FileNotFoundError:
        raise InitError(f"{p}: folder {p.parent} does not exist") from None
    except IsADirectoryError:
        raise InitError(f"{p}: is a folder; name a file") from None
    except OSError as exc:
        raise InitError(f"{p}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return p


def placeholders(text: str) -> int:
    """How many placeholders a template text holds."""
    return sum(1 for line in text.splitlines() if not line.lstrip().startswith("#") and PLACEHOLDER_PREFIX in line)


# ------------------------------------------------------------------------------------------ CLI
def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `fibrecert init` to the CLI's sub-commands; `args.handler(args)` runs it."""
    p = subparsers.add_parser(
        "init", help="write a commented target-file template to fill in",
        description="Write a commented target-file template: every key, required values as "
                    "\"<<FILL: ...>>\"\nplaceholders, optional keys commented out with their default. "
                    "`fibrecert run` refuses\na file that still holds a placeholder.",
        formatter_class=HelpFormatter,
        epilog=exit_codes("0  template written", "2  usage error, or PATH exists (never overwritten)"))
    p.add_argument("--api", choices=api_choices(), default="all", help="the API section(s) to write")
    p.add_argument("path", metavar="PATH", nargs="?", default=DEFAULT_PATH, help="where to write the template")
    p.set_defaults(handler=run_init)
    return p


def run_init(args: argparse.Namespace) -> int:
    try:
        path = write_template(args.path, args.api)
    except InitError as exc:
        sys.stderr.write(f"fibrecert: {exc}\n")
        return 2
    count = placeholders(path.read_text(encoding="utf-8"))
    names = [f"[{name}]" for name in (DIALECTS if args.api == "all" else (args.api,))]
    sections = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    print(f"Wrote {path} ({sections}): replace its {count} \"<<FILL: ...>>\" placeholders, then run")
    print(f"  fibrecert run --target {shlex.quote(str(path))}")
    return 0
