"""One vocabulary everywhere a vendor reads it (issue 23):

- the environment variables that hold secrets have one set of names across the `init` template, docs/,
  the CI recipes and the examples;
- `fibrecert run`'s exit codes (fibrecert.cli_help.RUN_EXIT_CODES, 5 = nothing was tested) agree across
  `fibrecert run --help`, docs/cli.md, docs/levels-and-verdicts.md, docs/ci/README.md, README.md and the CI
  recipes, which act on exit 5.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from fibrecert.cli_help import EXIT_NOTHING_TESTED, RUN_EXIT_CODES
from fibrecert.init_template import template

from helpers import REPO

DOCS = REPO / "docs"
CI = DOCS / "ci"

# The names a target file's *_env keys use in every example, and what the CI recipes export.
SECRET_VARIABLES = {"client_secret_env": "FIBRECAFE_CLIENT_SECRET",
                    "short_ttl_client_secret_env": "FIBRECAFE_SHORT_TTL_CLIENT_SECRET",
                    "other_client_secret_env": "FIBRECAFE_OTHER_CLIENT_SECRET"}
# Other upper-case variables the vendor docs may name (curl placeholders, signing key, cache).
OTHER_VARIABLES = {"FIBRECAFE_TOKEN", "FIBRECAFE_OTHER_TOKEN", "FIBRECAFE_SHORT_TTL_TOKEN", "FIBRECERT_SIGNING_KEY", "FIBRECERT_CACHE_DIR"}
_VARIABLE = re.compile(r"\bFIBRE(?:CAFE|CERT)_[A-Z0-9_]+\b")


def _vendor_texts() -> dict[str, str]:
    texts = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in sorted(DOCS.rglob("*"))
             if p.is_file() and p.suffix in (".md", ".yml", ".toml")}
    texts["README.md"] = (REPO / "README.md").read_text(encoding="utf-8")
    texts["fibrecert init"] = template("all")
    return texts


def test_every_secret_variable_name_is_the_same_everywhere():
    texts = _vendor_texts()
    for name, text in texts.items():
        for var in _VARIABLE.findall(text):
            if name == "README.md" and var == "FIBRECERT_SEEDS_DIR":  # the project's own tests, not a vendor's
                continue
            assert var in set(SECRET_VARIABLES.values()) | OTHER_VARIABLES, f"{name} names {var}"
        for key, var in SECRET_VARIABLES.items():  # `key = "NAME"` always names the one variable
            for value in re.findall(rf'\b{key}\s*=\s*"([^"]*)"', text):
                if value.startswith("<<FILL:"):  # the template's placeholder suggests a name: "e.g. NAME>>"
                    value = value.rsplit("e.g. ", 1)[1].removesuffix(">>")
                assert value == var, f"{name}: {key} = {value!r}, elsewhere {var!r}"
    template_text = texts["fibrecert init"]
    assert all(var in template_text for var in SECRET_VARIABLES.values()), "the init template suggests other names"
    for recipe in ("github-actions.yml", "gitlab-ci.yml", "README.md"):
        assert all(var in texts[f"docs/ci/{recipe}"] for var in SECRET_VARIABLES.values()), recipe
    target_doc = texts["docs/target-file.md"]
    assert all(f'{k} = "{v}"' in target_doc for k, v in SECRET_VARIABLES.items())
    gh = yaml.safe_load((CI / "github-actions.yml").read_text(encoding="utf-8"))
    exported = set(gh["jobs"]["certify"]["env"])
    assert set(SECRET_VARIABLES.values()) <= exported


def _table(text: str, anchor: str) -> dict[int, str]:
    """The rows `| code | ... |` of the first table after `<a id="anchor">`: code -> the row's text."""
    section = text.split(f'<a id="{anchor}"></a>', 1)[1]
    rows: dict[int, str] = {}
    started = False
    for line in section.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|(.*)\|\s*$", line)
        if m:
            rows[int(m.group(1))] = m.group(2)
            started = True
        elif started and not line.startswith("|"):
            break
    return rows


def test_the_run_exit_codes_agree_everywhere():
    codes = dict(RUN_EXIT_CODES)
    assert set(codes) == {0, 1, 2, 3, EXIT_NOTHING_TESTED} and EXIT_NOTHING_TESTED == 5
    # --help
    done = subprocess.run([sys.executable, "-m", "fibrecert", "run", "--help"], capture_output=True, text=True,
                          cwd=str(REPO), timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0
    epilog = done.stdout.split("exit codes:", 1)[1]
    helped = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\s+(\d+)\s+(.+)$", epilog, flags=re.M)}
    assert helped == codes
    # docs/cli.md: the table, one row per code, the verdict or cause named
    cli = _table((DOCS / "cli.md").read_text(encoding="utf-8"), "exit-codes")
    assert set(cli) == set(codes)
    for code, word in ((0, "CONFORMANT"), (1, "NON_CONFORMANT"), (2, "configuration error"), (3, "INCOMPLETE"),
                       (5, "nothing was tested")):
        assert word in cli[code] and word in codes[code], (code, cli[code])
    assert "preflight" in cli[5] and "preflight" not in cli[3]
    # docs/levels-and-verdicts.md: verdict table (exit code in the last column) and the --expect table
    levels = (DOCS / "levels-and-verdicts.md").read_text(encoding="utf-8")
    verdicts = levels.split('<a id="verdicts"></a>', 1)[1].split("<a id=", 1)[0]
    last_column = {int(m.group(1)) for m in re.finditer(r"\|\s*(\d+)\s*\|\s*$", verdicts, flags=re.M)}
    assert last_column == {0, 1, 3, 5}
    assert "Exit code 2 is a usage or configuration error" in verdicts
    assert re.search(r"preflight failed.*\| 5 \|", levels)
    assert "exits 5: nothing was tested" in " ".join(verdicts.split())
    # docs/ci/README.md: what makes the job fail
    ci = _table((CI / "README.md").read_text(encoding="utf-8"), "exit-codes")
    assert set(ci) == set(codes) and "nothing was tested" in ci[5] and "preflight" in ci[5]
    # README.md
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "exit 0/1/2/3/5" in readme
    for phrase in ("`CONFORMANT` (exit 0)", "`NON_CONFORMANT` (exit 1)", "`INCOMPLETE` (exit 3", "exit 2 is a usage or configuration error",
                   "exit 5 means nothing was tested"):
        assert phrase in readme, phrase
    # the CI recipes tell exit 5 apart in the log, and still fail the job with it
    for recipe in ("github-actions.yml", "gitlab-ci.yml"):
        text = (CI / recipe).read_text(encoding="utf-8")
        assert '[ "$status" -eq 5 ]' in text and "nothing was tested" in text and 'exit "$status"' in text, recipe


def test_the_recipes_exit_5_handling_runs_in_a_shell(tmp_path: Path):
    """The recipes' Certify script, with `fibrecert` replaced by a stub exiting 5, then 3: the job fails
    with the same code, and only exit 5 says that nothing was tested."""
    gh = yaml.safe_load((CI / "github-actions.yml").read_text(encoding="utf-8"))
    script = next(s["run"] for s in gh["jobs"]["certify"]["steps"] if s.get("name") == "Certify")
    gl = yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8"))["fibrecert"]["script"]
    for body in (script, "\n".join(gl)):
        for code in (5, 3, 0):
            stub = tmp_path / "fibrecert"
            stub.write_text(f"#!/bin/sh\n[ \"$1\" = --version ] && exit 0\nexit {code}\n")
            stub.chmod(0o755)
            done = subprocess.run(["bash", "-e", "-c", body], capture_output=True, text=True, timeout=30,
                                  env={"PATH": f"{tmp_path}:/usr/bin:/bin", "TARGET_FILE": "t.toml"})
            assert done.returncode == code, done.stdout + done.stderr
            assert ("nothing was tested" in done.stdout) == (code == 5), done.stdout
