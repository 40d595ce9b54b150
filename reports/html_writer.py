"""index.html: one self-contained page (CSS and JS inlined from templates/) rendered by Jinja with
autoescaping, so anything that came from the target renders as text.

No markup is written here: this module prepares plain values (pretty-printed bodies, a curl command,
durations) and the templates turn them into HTML. A Content-Security-Policy in the page allows only the
report's own script (by its SHA-256), so even a value that escaped escaping could not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from fibrecert import wirejson
from fibrecert.apis import dialect
from fibrecert.core.exchange import EVIDENCE_BODY_LIMIT
from fibrecert.core.identity import Identity

from .model import OUTCOMES, RunResult
from .rules import Rule, rules_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
# How the report names the evidence body limit ("body cut at 64 KiB"): written once, from the limit itself.
EVIDENCE_CUT = f"{EVIDENCE_BODY_LIMIT // 1024} KiB"

# pretty() leaves a body as it came when it is longer or nests deeper than this: the work stays
# bounded whatever the evidence holds (the suite's own negatives nest JSON 1000 and more deep).
_PRETTY_MAX_CHARS = 256 * 1024
# Shown as escapes: lone surrogates (not UTF-8), controls but tab and newline (ESC, NUL, a CR that
# ends no line, DEL, C1): none can be displayed, and a terminal paging the file would act on them.
_INVISIBLE = re.compile("\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def pretty(body: Any) -> str:
    """Pretty-print an XML or JSON body for reading; anything else as it came, control characters
    shown as escapes (\\x1b). Never raises: a body too long, too deep or not parseable is shown as it
    came (the exact text is in results.json)."""
    def visible(text: str) -> str:
        shown = _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
        return shown.replace("\r\n", "\n")

    raw = visible(body if isinstance(body, str) else ("" if body is None else str(body)))
    text = raw.strip()
    if not text:
        return ""
    if len(text) > _PRETTY_MAX_CHARS:
        return raw
    try:
        if text[0] in "{[":
            # Nesting depth counted outside strings, before parsing: json recurses once per level.
            if wirejson.depth_exceeds(text):
                return raw
            return visible(json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        if text[0] == "<":
            from lxml import etree

            from fibrecert.contracts.soap import safe_parser

            # The safe parser: no DTD loaded, no entity resolved or fetched, libxml2's depth limit.
            root = etree.fromstring(text.encode("utf-8"), safe_parser())
            for el in root.iter():
                if len(el) and el.text is not None and not el.text.strip():
                    el.text = None
                if el.tail is not None and not el.tail.strip():
                    el.tail = None
            etree.indent(root, space="  ")
            declaration = text.split("?>", 1)[0] + "?>\n" if text.startswith("<?xml") else ""
            return visible(declaration + etree.tostring(root, encoding="unicode"))
    except Exception:  # RecursionError included: anything unreadable is shown as it came
        return raw
    return raw


def duration(seconds: float) -> str:
    seconds = float(seconds or 0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def curl(step: dict[str, Any], api: str) -> dict[str, Any]:
    """A curl command equivalent to one recorded request of `api` (the API its exchange was sent to:
    `RunResult.api_of`), with placeholders for every credential.

    Returns {"command": str | None, "notes": [str]}. Placeholders are shell variables: the target-file
    keys for certificate files (`"$client_cert"`) and client credentials, `$FIBRECAFE_TOKEN` for a bearer
    token. No credential is ever written: the evidence holds none."""
    request = step.get("request") or {}
    url, method, body = request.get("url", ""), request.get("method", "POST"), request.get("body", "") or ""
    identity = step.get("identity", "")
    notes: list[str] = []
    if len(body) >= EVIDENCE_BODY_LIMIT:  # cut when recorded: no exact curl then
        return {"command": None, "notes": ["no curl equivalent: the request body was longer than the evidence "
                                           "keeps; the replay line sends it"]}
    if "\x00" in body:
        return {"command": None, "notes": ["no curl equivalent: the body holds a NUL byte; the replay line sends it"]}
    words = ["curl", "-i", "-sS", "--request", method, shlex.quote(url)]
    lines = [" ".join(words)]
    tls = ['--cacert "$ca_bundle"']
    auth: list[str] = []
    headers = request.get("headers") or {}
    try:
        ident: Identity | None = Identity.parse(api, identity) if identity else None
    except ValueError:
        ident = None
        notes.append(f"identity {identity!r}: present the matching credentials")
    if ident is not None:
        args, more = dialect(ident.api).curl_arguments(ident)
        notes.extend(more)
        tls[:0] = [a for a in args if a.startswith(("--cert ", "--key "))]  # a client certificate, then the CA
        auth.extend(a for a in args if not a.startswith(("--cert ", "--key ")))
    lines.append(" ".join(tls + auth))
    for k, v in headers.items():
        lower = k.lower()
        if lower in ("authorization", "content-length", "host"):
            continue
        if lower in ("cookie", "proxy-authorization"):
            notes.append(f"the {k} header was redacted and is left out")
            continue
        lines.append("-H " + shlex.quote(f"{k}: {v}"))
    if body:
        lines.append("--data-binary " + shlex.quote(body))
        if "[REDACTED]" in body:
            notes.append("the body had a secret redacted: put the real value in before sending")
        if "\ufffd" in body:
            notes.append("the body was not valid UTF-8 and is shown decoded; the bytes sent differed")
    return {"command": " \\\n  ".join(lines), "notes": notes}


FAILING_SHOWN = 12  # failing / warning requirements summarised at the top of the report, each with its violation
LAZY_CHUNK = 200  # requirements whose passing evidence is packed (and inflated) together


def _lazy_item(e: dict[str, Any]) -> dict[str, Any]:
    steps = (e.get("sequence") or []) + [e]
    return {"replay": e.get("replay", ""), "test": e.get("test", ""), "note": e.get("note", ""),
            "constraint": e.get("constraint", ""), "expected": e.get("expected", ""),
            "steps": [{"exchange": st.get("exchange", ""), "identity": st.get("identity", ""),
                       "request": st.get("request") or {}, "response": st.get("response") or {},
                       "elapsed_ms": st.get("elapsed_ms")} for st in steps]}


def pack(items: list[dict[str, Any]]) -> str:
    """Passing evidence as data the report's script turns into the same request / response view when a
    reader opens it: JSON, deflated and base64-encoded (the browser inflates it with its own
    DecompressionStream), packed for many requirements at once, so that a report of 10,000
    requirements stays light to load."""
    raw = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return base64.b64encode(packer.compress(raw) + packer.flush()).decode("ascii")


def _rows(result: RunResult) -> tuple[list[dict[str, Any]], list[str]]:
    """What each requirement row shows, prepared once in Python (the template only prints it), and the
    packed passing evidence: the first passing case of each requirement in full (built when opened); the
    others by a line each (their exchanges are in results.json, and replay sends any of them again)."""
    rows, chunks, current = [], [], []
    for q in result.requirements:
        cited = rules_of(q.source) if q.source else []
        shown = [e for e in q.evidence if e.get("kind", "violation") != "pass"]
        passing = [e for e in q.evidence if e.get("kind") == "pass"]
        where = None
        if passing:
            where = (len(chunks), len(current))
            current.append(_lazy_item(passing[0]))
            if len(current) == LAZY_CHUNK:
                chunks.append(pack(current))
                current = []
        rows.append({"q": q, "shown": shown, "passing": passing, "total": len(q.evidence),
                     "rules": cited, "lazy": where})
    if current:
        chunks.append(pack(current))
    return rows, chunks


def _shown(value: Any) -> Any:
    """Every value the templates print: control characters (and lone surrogates) as visible escapes, so
    that nothing the target sent acts on a terminal paging the file, or breaks the UTF-8 of the page."""
    if isinstance(value, str) and _INVISIBLE.search(value):
        return _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
    return value


@lru_cache(maxsize=1)  # one environment per process: its templates are compiled once, not per report
def _env() -> Environment:
    env = Environment(loader=PackageLoader("fibrecert.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True, finalize=_shown)
    env.filters["pretty"] = pretty
    env.filters["duration"] = duration
    env.globals["curl"] = curl
    env.globals["evidence_cut"] = EVIDENCE_CUT
    return env


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str, str]:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    js = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    return css, js, f"'sha256-{digest}'"


def render(result: RunResult) -> str:
    css, js, script_hash = _assets()
    rows, chunks = _rows(result)
    cited: dict[str, tuple[Rule, list[str]]] = {}  # each rule once, with the requirements resting on it
    for row in rows:
        for rule in row["rules"]:
            cited.setdefault(rule.ref, (rule, []))[1].append(row["q"].id)
    failing = [row for row in rows if row["q"].outcome in ("fail", "warn")]
    failing.sort(key=lambda row: row["q"].outcome != "fail")  # fails first, then warns, catalogue order
    return _env().get_template("report.html.j2").render(
        r=result, rows=rows, chunks=chunks, outcomes=OUTCOMES, css=css, js=js, script_hash=script_hash,
        rules=list(cited.values()), failing=failing, failing_shown=FAILING_SHOWN)


def write(result: RunResult, directory: Path) -> Path:
    from .writers import atomic_write

    return atomic_write(Path(directory) / "index.html", render(result))
