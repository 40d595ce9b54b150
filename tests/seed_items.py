"""Parse the seed pages (shared/seeds/<stem>.md) into the items a requirement catalogue must cover.

An item is written ``<section>#<item>`` within a stem, and ``<stem>#<section>#<item>`` in a
catalogue's ``covers``:

- ``header#X-Request-ID``               a bullet under "## Header parameters:"
- ``request#buyer.cfh:resellerId``      a bullet under "## Request fields ..."
- ``response-403#fault.detail``         a bullet under "## Response 403 fields ..."
- ``status#403``                        every "## Response 403 ..." heading, with or without fields
- ``request#cfh:newOrderType=WLTO``     a value of ``Enum: "Regrade", "Switch", "WLTO"``
- ``request#reasonCode=OTHER``          a code listed in a description as `` - OTHER``

The parser is deliberately strict: a heading, bullet, line or ``Enum:`` it does not recognise is a
``SeedPageError`` (file and line), never silently skipped, so that a field or value added to a page
in a form we did not foresee cannot escape the coverage check.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SEEDS_DIR_ENV = "FIBRECERT_SEEDS_DIR"

_TITLE = re.compile(r"^# \S")
_HEADING = re.compile(r"^#{2,} ")
_HEADER_SECTION = re.compile(r"^## Header parameters:$")
_REQUEST_SECTION = re.compile(r"^## Request fields(?: \([^()]+\))?:?$")
_RESPONSE_SECTION = re.compile(r"^## Response (?P<status>[1-5][0-9]{2}) fields(?: \([^()]+\))?:?$")

_BULLET = re.compile(r"^\s*[-*+] ")
_FIELD = re.compile(
    r"^- `(?P<name>[^`\s#=]+)` "
    r"\((?P<type>string|number|integer|boolean|object|array|null)(?P<required>, required)?\)"
    r"(?: (?P<description>.*))?$"
)

_ENUM_KEYWORD = re.compile(r"\bEnum:")
_ENUM = re.compile(r'\bEnum: (?P<values>"[^"]+"(?:, "[^"]+")*)')
_ENUM_VALUE = re.compile(r'"([^"]+)"')
# Codes listed in a description as " - CODE" (e.g. the reasonCode description): an upper-case word,
# digits and underscores allowed, standing alone after " - ".
_DASH_CODE = re.compile(r"(?<= - )[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*(?=\s|$)")


class SeedPageError(ValueError):
    """A seed page holds something the parser does not recognise."""


def default_seeds_dir() -> Path:
    """``$FIBRECERT_SEEDS_DIR`` if set, else ``shared/seeds`` beside the repository checkout."""
    override = os.environ.get(SEEDS_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "seeds"


def seed_items(seeds_dir: Path) -> dict[str, set[str]]:
    """Map each seed stem in ``seeds_dir`` to the set of ``<section>#<item>`` items on its page.

    Raises ``FileNotFoundError`` when the directory is missing or holds no ``*.md`` page, and
    ``SeedPageError`` when a page holds something the parser does not recognise.
    """
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        raise FileNotFoundError(
            f"seed pages directory not found: {seeds_dir} "
            f"(expected shared/seeds beside the repository; set {SEEDS_DIR_ENV} to override)"
        )
    pages = sorted(seeds_dir.glob("*.md"))
    if not pages:
        raise FileNotFoundError(f"no seed pages (*.md) in {seeds_dir}")
    return {page.stem: parse_page(page) for page in pages}


def parse_page(path: Path) -> set[str]:
    """The ``<section>#<item>`` items of one seed page."""
    items: set[str] = set()
    seen_sections: set[str] = set()
    section: str | None = None

    def fail(lineno: int, why: str, line: str) -> SeedPageError:
        return SeedPageError(f"{path}:{lineno}: {why}: {line!r}")

    def add(lineno: int, item: str, line: str) -> None:
        if item in items:
            raise fail(lineno, f"duplicate item {item!r}", line)
        items.add(item)

    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if not line:
            continue

        if _HEADING.match(line):
            section = _section_of(line)
            if section is None:
                raise fail(lineno, "unrecognised section heading", line)
            if section in seen_sections:
                raise fail(lineno, f"section {section!r} appears twice", line)
            seen_sections.add(section)
            if section.startswith("response-"):
                add(lineno, "status#" + section.removeprefix("response-"), line)
            continue

        if section is None:
            # Preamble: the title and the "Endpoint: ..." prose. A field before any section is an error.
            if _BULLET.match(line):
                raise fail(lineno, "bullet before any section heading", line)
            if line.startswith("#") and not _TITLE.match(line):
                raise fail(lineno, "unrecognised heading", line)
            continue

        field = _FIELD.match(line)
        if field is None:
            raise fail(lineno, f"unrecognised line in section {section!r} (expected a field bullet)", line)
        name = field["name"]
        add(lineno, f"{section}#{name}", line)
        for value in _values(field["description"] or "", lambda why: fail(lineno, why, line)):
            add(lineno, f"{section}#{name}={value}", line)

    return items


def _section_of(heading: str) -> str | None:
    if _HEADER_SECTION.match(heading):
        return "header"
    if _REQUEST_SECTION.match(heading):
        return "request"
    response = _RESPONSE_SECTION.match(heading)
    if response:
        return "response-" + response["status"]
    return None


def _values(description: str, fail) -> list[str]:
    """The enumerated values in a field description: ``Enum: "A", "B"`` and `` - CODE`` lists."""
    values: list[str] = []
    keywords = len(_ENUM_KEYWORD.findall(description))
    if keywords:
        enum = _ENUM.search(description)
        if keywords > 1 or enum is None or description[enum.end():].lstrip().startswith(","):
            raise fail("unrecognised Enum: list (expected one Enum: \"A\", \"B\", ...)")
        values += _ENUM_VALUE.findall(enum["values"])
    for code in _DASH_CODE.findall(description):
        if code not in values:
            values.append(code)
    if len(values) != len(set(values)):
        raise fail("a value is listed twice")
    for value in values:
        if "#" in value or "=" in value or value != value.strip():
            raise fail(f"value {value!r} cannot be written as an item")
    return values
