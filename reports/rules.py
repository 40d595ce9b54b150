"""The rules requirements rest on, as text the report can show (issue 23: a self-contained report).

A catalogue `source` names docs sections, e.g. "docs/profiles/ala-2.30.md#rule-6 (rules 6, 9)" or
"docs/profiles/fibrecafe-1.17.md#facts; docs/profiles/fibrecafe-1.17.md#op-service-orders (...)". Each
`docs/PAGE.md#ANCHOR` is looked up in the docs shipped with this fibrecert: the section that starts at
`<a id="ANCHOR"></a>` and its heading, up to the next heading of the same or a higher level. The report
shows that text itself, with the docs path as plain text: no link to the file system of the machine
that wrote it (a report travels by e-mail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_REF = re.compile(r"docs/[A-Za-z0-9_./-]+?\.md(?:#[A-Za-z0-9_-]+)?")
_ANCHOR = re.compile(r'^<a id="([^"]+)"></a>\s*$')
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


@dataclass(frozen=True)
class Rule:
    ref: str        # "docs/profiles/ala-2.30.md#rule-6": as the catalogue names it, plain text
    title: str      # the section's heading, e.g. "Rule 6. Data types"
    text: str       # the section's Markdown text, as in docs/

    @property
    def html_id(self) -> str:
        """The id of the rule's block in the report ("doc-profiles-ala-2-30-md-rule-6")."""
        return "doc-" + re.sub(r"[^A-Za-z0-9]+", "-", self.ref.removeprefix("docs/")).strip("-").lower()


@lru_cache(maxsize=1)
def docs_dir() -> Path | None:
    """The vendor documentation shipped with this fibrecert (the package's docs, or the checkout's)."""
    import fibrecert

    here = Path(fibrecert.__file__).resolve().parent
    for candidate in (here / "docs", here.parent / "docs"):
        if (candidate / "README.md").is_file():
            return candidate
    return None


def refs(source: str) -> list[str]:
    """The docs sections a catalogue `source` names, in order, each once."""
    return list(dict.fromkeys(_REF.findall(source or "")))


@lru_cache(maxsize=16)
def _sections(page: str) -> dict[str, tuple[str, str]]:
    """anchor -> (heading, text) for one docs page."""
    docs = docs_dir()
    path = (docs / page) if docs else None
    if path is None or not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    out: dict[str, tuple[str, str]] = {}
    for i, line in enumerate(lines):
        m = _ANCHOR.match(line)
        if not m:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        heading = _HEADING.match(lines[j]) if j < len(lines) else None
        if heading is None:
            continue
        level, title = len(heading.group(1)), heading.group(2)
        body: list[str] = []
        in_code = False
        for k in range(j + 1, len(lines)):
            text = lines[k]
            if text.startswith("```"):
                in_code = not in_code
            if not in_code:
                h = _HEADING.match(text)
                if h and len(h.group(1)) <= level:
                    break
                if _ANCHOR.match(text):
                    following = next((t for t in lines[k + 1:] if t.strip()), "")
                    h2 = _HEADING.match(following)
                    if h2 and len(h2.group(1)) <= level:
                        break
                    continue
            body.append(text)
        out[m.group(1)] = (title.replace("`", ""), "\n".join(body).strip("\n"))
    return out


@lru_cache(maxsize=256)
def rule(ref: str) -> Rule | None:
    """The section `ref` ("docs/PAGE.md#ANCHOR") names, or None when the docs have no such section."""
    page, _, anchor = ref.removeprefix("docs/").partition("#")
    if not anchor:
        return None
    found = _sections(page).get(anchor)
    return Rule(ref, found[0], found[1]) if found else None


def rules_of(source: str) -> list[Rule]:
    """The rules a catalogue `source` rests on, with their text (those the docs hold)."""
    return [r for r in map(rule, refs(source)) if r is not None]
