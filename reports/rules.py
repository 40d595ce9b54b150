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
from typing import Any

_REF = re.compile(r"docs/[A-Za-z0-9_./-]+?\.md(?:#[A-Za-z0-9_-]+)?")
_ANCHOR = re.compile(r'^<a id="([^"]+)"></a>\s*$')
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


@dataclass(frozen=True)
class Rule:
    ref: str        # "docs/profiles/ala-2.30.md#rule-6": as the catalogue names it, plain text
    title: str      # the section's heading, e.g. "Rule 6. Data types"
    text: str       # the section's Markdown text, as in docs/

    @property
    def html(self) -> Any:
        """The text as HTML (escaped, with the docs' tables, lists and code kept)."""
        return _html_of(self.text)

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


# ------------------------------------------------------------------------------ as HTML, safely
_CODE_SPAN = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\([^)\s]*\)")
_LIST_ITEM = re.compile(r"^(\s*)(?:[-*]|\d+\.)\s+(.*)$")


def _inline(text: str) -> str:
    """One line of Markdown as HTML: everything escaped first; then code spans, bold, and links kept as
    their text (a docs link would point at a page the reader of a mailed report does not have)."""
    from markupsafe import escape

    out = []
    for i, part in enumerate(_CODE_SPAN.split(text)):
        if i % 2:
            out.append(f"<code>{escape(part)}</code>")
        else:
            part = _LINK.sub(r"\1", part)
            out.append(_BOLD.sub(r"<strong>\1</strong>", str(escape(part))))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def to_html(text: str) -> Any:
    """A docs section's Markdown (as this project's docs write it: paragraphs, pipe tables, lists,
    fenced code, sub-headings, bold, code spans, links) as HTML for the report. Every piece of text is
    escaped; only the tags made here are markup."""
    from markupsafe import Markup, escape

    lines = text.splitlines()
    html: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            html.append(f"<pre class=\"rule-code\">{escape(chr(10).join(lines[i + 1:j]))}</pre>")
            i = j + 1
            continue
        heading = _HEADING.match(line)
        if heading:
            html.append(f"<h4>{_inline(heading.group(2))}</h4>")
            i += 1
            continue
        if line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            head, body = rows[0], [r for r in rows[1:] if not all(re.fullmatch(r":?-{2,}:?", c) for c in r)]
            html.append("<table class=\"rule-table\"><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head)
                        + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r)
                                                           + "</tr>" for r in body) + "</tbody></table>")
            continue
        if _LIST_ITEM.match(line):
            items: list[str] = []
            ordered = bool(re.match(r"^\s*\d+\.", line))
            while i < len(lines) and lines[i].strip():
                m = _LIST_ITEM.match(lines[i])
                if m and len(m.group(1)) <= 1:
                    items.append(m.group(2))
                elif items:
                    items[-1] += " " + lines[i].strip()
                i += 1
            tag = "ol" if ordered else "ul"
            html.append(f"<{tag}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{tag}>")
            continue
        para = []
        while (i < len(lines) and lines[i].strip() and not lines[i].startswith("```")
               and not lines[i].lstrip().startswith("|") and not _HEADING.match(lines[i])
               and not _LIST_ITEM.match(lines[i])):
            para.append(lines[i].strip())
            i += 1
        html.append(f"<p>{_inline(' '.join(para))}</p>")
    return Markup("".join(html))


@lru_cache(maxsize=256)
def _html_of(text: str) -> Any:
    return to_html(text)
