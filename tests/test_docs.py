"""The vendor documentation in docs/: self-contained, consistent with the code, and its CI recipes work.

- nothing in docs/ points outside the repository, and every relative link (with its #anchor) resolves;
- every key fibrecert/target.py accepts is documented, and only those; the complete target-file examples
  load; every option of the command-line parser is documented;
- each profile page has the anchors the catalogue and the report link to, documents every field,
  enum value and status of the published pages (the seed pages, read from ../shared/seeds or
  $FIBRECERT_SEEDS_DIR), and its XML/JSON examples are valid against the shipped contracts;
- the CI recipes parse as YAML, and their `fibrecert ...` command lines are run for real, in a shell,
  against a `fibrecert sandbox` subprocess, with the target file's secrets in the `*_env` form.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from fibrecert import contracts
from fibrecert.contracts import soap
from fibrecert.pki import CertificateAuthority
from fibrecert import target as target_module
from fibrecert.apis import DIALECTS

from helpers import REPO
from seed_items import default_seeds_dir, seed_items

DOCS = REPO / "docs"
CI = DOCS / "ci"
PAGES = sorted(DOCS.rglob("*.md"))
ALA_PAGE = DOCS / "profiles" / "ala-2.30.md"
FC_PAGE = DOCS / "profiles" / "fibrecafe-1.17.md"
TARGET_PAGE = DOCS / "target-file.md"
CLI_PAGE = DOCS / "cli.md"

# The anchors the common layout promises (the catalogue's `source` fields and the report link to them).
PROFILE_ANCHORS = {
    ALA_PAGE: {"facts", "choices", "op-ceaseorder", "op-cancelorder", "op-unsolicitedceaserequest",
               *(f"rule-{n}" for n in range(1, 13))},
    FC_PAGE: {"facts", "choices", "token-endpoint", "op-service-orders", "op-service-order-cancellations",
              *(f"decision-{n}" for n in range(1, 8))},
}
EXPECTED_PAGES = {"README.md", "profiles/ala-2.30.md", "profiles/fibrecafe-1.17.md", "levels-and-verdicts.md",
                  "target-file.md", "reading-a-report.md", "cli.md", "ci/README.md", "security.md"}

OUTSIDE = re.compile(r"\.\./shared|shared/spec|shared/seeds|(?<![\w.])/work/")
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXPLICIT_ID = re.compile(r"""<a\s+(?:[^>]*\s)?id=["']([^"']+)["']""")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """Markdown with code blocks and inline code removed (links inside code are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's heading anchor: link text kept, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    found = set(EXPLICIT_ID.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", text)):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        found.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return found


def explicit_anchors(page: Path) -> set[str]:
    return set(EXPLICIT_ID.findall(page.read_text(encoding="utf-8")))


def section(text: str, anchor: str) -> str:
    """The text from `<a id="anchor">` to the next explicit anchor."""
    marker = f'<a id="{anchor}"></a>'
    assert marker in text, f"no {marker} in the page"
    start = text.index(marker)
    following = EXPLICIT_ID.search(text, start + len(anchor) + 10)
    return text[start: following.start() if following else len(text)]


# ------------------------------------------------------------------------------------ the pages
def test_docs_has_every_page_of_the_layout_and_the_index_lists_each():
    present = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert EXPECTED_PAGES <= present, sorted(EXPECTED_PAGES - present)
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = set(LINK.findall(_prose(index)))
    for page in present - {"README.md"}:
        assert page in linked, f"docs/README.md does not list {page}"
    for name in ("github-actions.yml", "gitlab-ci.yml", "known-deviations.toml"):
        assert (CI / name).is_file()


def test_nothing_in_docs_refers_outside_the_repository():
    files = [p for p in DOCS.rglob("*") if p.is_file()]
    assert len(files) >= 11
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not OUTSIDE.search(line), f"{path.relative_to(REPO)}:{n}: refers outside the repository: {line.strip()}"


def test_every_relative_link_resolves_inside_the_repository_and_its_anchor_exists():
    checked = 0
    for page in PAGES:
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: - not a file link
                continue
            path_part, _, anchor = target.partition("#")
            where = f"{page.relative_to(REPO)}: link {target!r}"
            resolved = (page.parent / path_part).resolve() if path_part else page
            assert resolved.is_relative_to(REPO), f"{where} leaves the repository"
            assert resolved.exists(), f"{where}: no such file"
            if anchor:
                assert resolved.suffix == ".md", f"{where}: an anchor into a file that is not Markdown"
                assert anchor in anchors(resolved), f"{where}: no anchor #{anchor} in {resolved.relative_to(REPO)}"
            checked += 1
    assert checked >= 100, f"only {checked} links checked: is the link pattern still right?"


def test_heading_slugs_follow_github():
    assert _slug("`POST /ceaseOrder` (served by the seller)") == "post-ceaseorder-served-by-the-seller"
    assert _slug("Rule 1. Roles") == "rule-1-roles"
    assert _slug("Secrets: the `*_env` form") == "secrets-the-_env-form"


# --------------------------------------------------------------------------------- profile pages
@pytest.mark.parametrize("page", sorted(PROFILE_ANCHORS), ids=lambda p: p.name)
def test_each_profile_page_has_every_anchor_of_the_layout_as_an_explicit_tag(page):
    missing = PROFILE_ANCHORS[page] - explicit_anchors(page)
    assert not missing, f"{page.name} lacks <a id> tags for {sorted(missing)}"


def test_each_rule_and_decision_states_its_level():
    for page, prefix, count in ((ALA_PAGE, "rule", 12), (FC_PAGE, "decision", 7)):
        text = page.read_text(encoding="utf-8")
        for n in range(1, count + 1):
            assert re.search(r"^Level: ", section(text, f"{prefix}-{n}"), re.M), f"{page.name} {prefix} {n}: no Level line"


def _seed_places(stem: str) -> tuple[str, list[str], str]:
    """(separator of nested names, the page sections an item may be documented in, page name)."""
    api, _, operation = stem.partition("-1.17-") if stem.startswith("fibrecafe") else stem.partition("-2.30-")
    page = FC_PAGE if api == "fibrecafe" else ALA_PAGE
    text = page.read_text(encoding="utf-8")
    shared = ["headers", "errors"] if page is FC_PAGE else ["fault"]
    return ("." if page is FC_PAGE else "/"), [section(text, f"op-{operation.lower()}"),
                                               *(section(text, a) for a in shared)], page.name


def test_each_profile_page_documents_every_published_field_value_and_status():
    pages = seed_items(default_seeds_dir())
    assert len(pages) == 5
    missing = []
    for stem, items in pages.items():
        sep, places, name = _seed_places(stem)
        for item in sorted(items):
            kind, _, what = item.partition("#")
            if kind == "status":
                pattern = rf"\b{what}\b"
            elif "=" in what:
                pattern = re.escape(f"`{what.split('=', 1)[1]}`")
            else:
                pattern = re.escape(f"`{what.replace('.', sep)}`")
            if not any(re.search(pattern, place) for place in places):
                missing.append(f"{name}: {stem} {item}")
    assert not missing, "\n".join(missing)


def _examples(page: Path, language: str) -> list[tuple[str | None, str]]:
    """(the `<!-- example: NAME -->` tag before it or None, body) for each fenced block of a language."""
    text = page.read_text(encoding="utf-8")
    pattern = re.compile(rf"(?:<!-- example: ([\w-]+) -->\n)?```{language}\n(.*?)^```", re.S | re.M)
    return [(m.group(1), m.group(2)) for m in pattern.finditer(text)]


def test_the_ala_examples_are_valid_envelopes_against_the_contract():
    examples = _examples(ALA_PAGE, "xml")
    roots = []
    for _, body in examples:
        payload = soap.single_payload(soap.parse_envelope(body.encode("utf-8")))
        contracts.ala_schema().validate(payload)
        roots.append(payload.tag)
    assert set(roots) == {"ceaseOrder", "orderResponse", "cancelOrder", "cancelOrderResponse",
                          "unsolicitedCeaseRequest", "unsolicitedCeaseResponse", "fault"}


def test_the_fibrecafe_examples_are_valid_against_the_contract():
    examples = _examples(FC_PAGE, "json")
    assert examples and all(tag for tag, _ in examples), "every JSON example carries an <!-- example: NAME --> tag"
    shapes = set()
    for tag, body in examples:
        data = json.loads(body)
        if tag == "TokenAnswer":
            assert data["token_type"] == "Bearer" and data["expires_in"] > 0 and data["access_token"]
            continue
        errors = [e.message for e in contracts.json_validator(tag).iter_errors(data)]
        assert not errors, f"{tag} example: {errors}"
        shapes.add(data.get("orderType") if tag == "ServiceOrderRequest" else tag)
    assert shapes >= {"NEW", "CEASE", "MODIFY", "ServiceOrder", "ServiceOrderCancellationRequest",
                      "ServiceOrderCancellation", "Error"}


def test_the_fibrecafe_page_lists_every_enum_value_of_the_contract():
    text = FC_PAGE.read_text(encoding="utf-8")
    schemas = contracts.openapi_document()["components"]["schemas"]
    for name in ("ReasonCode", "CancellationStatus", "OrderStatus", "ErrorCode", "AddressType"):
        for value in schemas[name]["enum"]:
            assert f"`{value}`" in text, f"{name} value {value} is not documented"
    for value in schemas["ProvideOrder"]["properties"]["orderType"]["enum"]:
        assert f"`{value}`" in text


# ----------------------------------------------------------------------------------- target file
def _documented_keys(anchor: str) -> set[str]:
    rows = re.findall(r"^\| `([a-z_]+)` \|", section(TARGET_PAGE.read_text(encoding="utf-8"), anchor), re.M)
    return set(rows)


def test_every_key_the_target_file_accepts_is_documented_and_no_other():
    env = {f"{k}_env" for d in DIALECTS.values() for k in d.secret_keys}
    for anchor, keys in ((d.name, d.target_keys) for d in DIALECTS.values()):
        accepted = set(keys) | {k for k in env if k[:-4] in keys}
        documented = _documented_keys(anchor)
        assert accepted - documented == set(), f"[{anchor}] keys not documented: {sorted(accepted - documented)}"
        assert documented - accepted == set(), f"[{anchor}] documented keys the loader refuses: {sorted(documented - accepted)}"


def test_the_complete_target_file_examples_load(tmp_path, monkeypatch):
    blocks = [body for tag, body in _examples(TARGET_PAGE, "toml") if tag == "target-file"]
    assert len(blocks) == 2
    folder = tmp_path / "certification"
    folder.mkdir()
    path = folder / "target.toml"
    path.write_text("\n".join(blocks), encoding="utf-8")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    # Real certificates at the paths the examples name, each CN the identifier it stands for.
    ca = CertificateAuthority.create(tmp_path / "ca")
    (tmp_path / "issued").mkdir()
    ala = data["ala"]
    names = {"client": ala["buyer_identifier"], "other_client": ala["other_buyer_identifier"],
             "seller_client": ala["seller_identifier"]}
    for stem, cn in names.items():
        made = ca.issue(tmp_path / "issued", stem, cn, server=False)
        for suffix, source in (("cert", made.cert), ("key", made.key)):
            dest = folder / ala[f"{stem}_{suffix}"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
    for section_data in (ala, data["fibrecafe"]):
        shutil.copyfile(ca.cert_path, folder / section_data["ca_bundle"])
    for key, value in data["fibrecafe"].items():
        if key.endswith("_env"):
            monkeypatch.setenv(value, f"secret-for-{key}")
    loaded = target_module.load_target(path)
    assert loaded.apis == ("ala", "fibrecafe")
    assert loaded.ala.roles == ("seller", "buyer") and loaded.ala.active_services
    assert loaded.fibrecafe.client_secret.reveal() == "secret-for-client_secret_env"


# ----------------------------------------------------------------------------------- command line
def test_every_command_and_option_of_the_parser_is_documented():
    import argparse

    from fibrecert.cli import _parser

    text = CLI_PAGE.read_text(encoding="utf-8")
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "--version" in text
    for name, command in sub.choices.items():
        assert f'<a id="{name}"></a>' in text, f"cli.md has no section for `fibrecert {name}`"
        body = section(text, name)
        for action in command._actions:
            for option in action.option_strings:
                if option in ("-h", "--help"):
                    continue
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", body), \
                    f"cli.md: `fibrecert {name}` does not document {option}"


# ----------------------------------------------------------------------------------- CI recipes
def _recipe_commands(path: Path) -> list[str]:
    """Every `fibrecert ...` command line of a recipe (backslash continuations joined)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    scripts: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script", "after_script"):
                    scripts.extend([value] if isinstance(value, str) else list(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    lines = "\n".join(scripts).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip().startswith("fibrecert ")]


RUN_LINE = 'fibrecert run --target "$TARGET_FILE" --report-dir fibrecert-report --expect known-deviations.toml'


def test_the_ci_recipes_parse_and_publish_the_report_always():
    gh = yaml.safe_load((CI / "github-actions.yml").read_text(encoding="utf-8"))
    steps = [s for job in gh["jobs"].values() for s in job["steps"]]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"].rstrip("/") == "fibrecert-report"
    junit = next(s for s in steps if "test-reporter" in s.get("uses", ""))
    assert junit["if"] == "always()" and junit["with"]["path"] == "fibrecert-report/junit.xml"
    gl = yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8"))
    job = gl["fibrecert"]
    assert job["artifacts"]["when"] == "always"
    assert "fibrecert-report/" in job["artifacts"]["paths"]
    assert job["artifacts"]["reports"]["junit"] == "fibrecert-report/junit.xml"
    for recipe in ("github-actions.yml", "gitlab-ci.yml"):
        assert RUN_LINE in _recipe_commands(CI / recipe), f"{recipe} does not run the documented command"


def test_the_ci_recipes_keep_the_ledger_beside_the_target_file():
    gh = yaml.safe_load((CI / "github-actions.yml").read_text(encoding="utf-8"))
    job = gh["jobs"]["certify"]
    ledger = str(Path(job["env"]["TARGET_FILE"]).with_suffix(".ledger.json"))
    cached = [s["with"]["path"] for s in job["steps"] if s.get("uses", "").startswith("actions/cache/")]
    assert cached and set(cached) == {ledger}
    gl = yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8"))["fibrecert"]
    assert gl["cache"]["paths"] == [str(Path(gl["variables"]["TARGET_FILE"]).with_suffix(".ledger.json"))]
    assert gl["cache"]["when"] == "always"


def test_the_example_known_deviations_file_names_catalogue_requirements():
    data = tomllib.loads((CI / "known-deviations.toml").read_text(encoding="utf-8"))
    ids = set(contracts.requirements())
    assert data["deviation"]
    for entry in data["deviation"]:
        assert set(entry) == {"id", "reason", "expires"}
        assert fnmatch.filter(ids, entry["id"]), f"{entry['id']} matches no requirement"
        assert entry["reason"].strip() and type(entry["expires"]).__name__ == "date"


def _sandbox_target_with_env_secrets(original: Path, dest: Path) -> tuple[Path, dict[str, str]]:
    """The sandbox's target file rewritten to the CI form: secrets named by `*_env`, values in the environment."""
    data = tomllib.loads(original.read_text(encoding="utf-8"))["fibrecafe"]
    env = {"FIBRECAFE_CLIENT_SECRET": data["client_secret"], "FIBRECAFE_OTHER_CLIENT_SECRET": data["other_client_secret"],
           "FIBRECAFE_SHORT_TTL_CLIENT_SECRET": data["short_ttl_client_secret"]}
    text = original.read_text(encoding="utf-8")
    text = re.sub(r'^client_secret = .*$', 'client_secret_env = "FIBRECAFE_CLIENT_SECRET"', text, flags=re.M)
    text = re.sub(r'^other_client_secret = .*$', 'other_client_secret_env = "FIBRECAFE_OTHER_CLIENT_SECRET"', text, flags=re.M)
    text = re.sub(r'^short_ttl_client_secret = .*$', 'short_ttl_client_secret_env = "FIBRECAFE_SHORT_TTL_CLIENT_SECRET"',
                  text, flags=re.M)
    assert "_secret = " not in text
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    return dest, env


@pytest.mark.slow
def test_the_ci_recipes_command_lines_run_against_the_reference_sandbox(tmp_path):
    """The recipes' own command lines, in a shell, with `--profile smoke` added; the exit code and the
    files docs/ci/README.md promises."""
    commands = list(dict.fromkeys(_recipe_commands(CI / "github-actions.yml") + _recipe_commands(CI / "gitlab-ci.yml")))
    assert commands and any(c.startswith("fibrecert run ") for c in commands)
    assert "exits 0" in (CI / "README.md").read_text(encoding="utf-8")  # the promise asserted below

    bin_dir = tmp_path / "bin"  # `fibrecert` on PATH is this interpreter's fibrecert, whatever the install
    bin_dir.mkdir()
    shim = bin_dir / "fibrecert"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m fibrecert \"$@\"\n")
    shim.chmod(0o755)
    work = tmp_path / "repo"  # the vendor's checkout: known-deviations.toml at its root
    work.mkdir()
    shutil.copyfile(CI / "known-deviations.toml", work / "known-deviations.toml")

    written = tmp_path / "sandbox-target.toml"
    proc = subprocess.Popen([sys.executable, "-m", "fibrecert", "sandbox", "--state-dir", str(tmp_path / "state"),
                             "--target-file", str(written), "--services", "80"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        deadline = time.monotonic() + 30
        while not written.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert written.exists(), proc.stderr.read() if proc.poll() is not None else "no target file"
        time.sleep(0.2)
        target, secrets = _sandbox_target_with_env_secrets(written, work / "certification" / "target.toml")
        env = {**os.environ, **secrets, "TARGET_FILE": str(target), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        for command in commands:
            line = command
            if command.startswith("fibrecert run "):
                if "--profile" not in line:
                    line += " --profile smoke"
                if "--seed" not in line:
                    line += " --seed 20261122"
            done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=300, cwd=str(work), env=env)
            output = done.stdout + done.stderr
            assert "Traceback" not in output, output
            assert done.returncode == 0, f"{line}\nexit {done.returncode}\n{output[-3000:]}"
            if not command.startswith("fibrecert run "):
                continue
            report = work / "fibrecert-report"
            for name in ("index.html", "results.json", "junit.xml"):
                assert (report / name).is_file(), f"{name} missing after: {line}"
            assert json.loads((report / "results.json").read_text(encoding="utf-8"))["verdict"] == "CONFORMANT"
            # The example's entry now passes against the conformant sandbox: it is reported.
            for entry in tomllib.loads((work / "known-deviations.toml").read_text(encoding="utf-8"))["deviation"]:
                assert entry["id"] in output, f"the passing deviation {entry['id']} is not reported:\n{output[-3000:]}"
            # The test-data ledger, where the recipes cache it.
            assert target.with_suffix(".ledger.json").is_file()
            for value in secrets.values():
                assert value not in output
                for path in report.iterdir():
                    assert value not in path.read_text(encoding="utf-8", errors="replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
