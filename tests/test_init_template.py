"""`fibrecert init` (fibrecert.init_template) and the refusal of an unfilled template (fibrecert.target).

The template is checked against the loader itself: it parses, it names every key the loader accepts,
its placeholders are exactly the loader's required keys, its commented defaults are the loader's
defaults, and filled with the reference sandbox's values it loads (and passes the preflight).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fibrecert.apis import DIALECTS
from fibrecert.init_template import InitError, placeholders, template, write_template
from fibrecert.preflight import failures, probe
from fibrecert.target import TargetError, load_target

SECRET_VAR = "FIBRECERT_TEST_INIT_SECRET"
PLACEHOLDER = re.compile(r'^(\w+) = (\[?"<<FILL: [^"]*>>"\]?)$')


@pytest.fixture(scope="module")
def sandbox_values(tmp_path_factory: pytest.TempPathFactory, pki_dir: Path):
    """The reference sandbox's own target file, as data (what Sandbox.write_target writes)."""
    from fibrecert.sandbox import Sandbox

    folder = tmp_path_factory.mktemp("init")
    with Sandbox(folder / "state", pki_dir=pki_dir, services=5) as sb:
        yield tomllib.loads(sb.write_target(folder / "sandbox.toml").read_text(encoding="utf-8"))


def fill(text: str, values: dict, *, only: set[str] | None = None) -> str:
    """Replace each placeholder line `key = "<<FILL: ...>>"` by the sandbox's value for that key
    (client_secret_env: the name of a variable holding the sandbox's secret)."""
    out, section = [], ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        m = PLACEHOLDER.match(line)
        if m and (only is None or f"{section}.{m.group(1)}" in only):
            key = m.group(1)
            value = SECRET_VAR if key == "client_secret_env" else values[section][key]
            line = f"{key} = {json.dumps(value)}"
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("api", ["ala", "fibrecafe", "all"])
def test_the_template_is_toml_with_the_sections_asked_for(api: str) -> None:
    data = tomllib.loads(template(api))
    assert set(data) == ({"ala", "fibrecafe"} if api == "all" else {api})


@pytest.mark.parametrize("section, keys", [(d.name, d.target_keys) for d in DIALECTS.values()])
def test_every_key_the_loader_accepts_is_in_the_template(section: str, keys: set[str]) -> None:
    text = template(section)
    for key in keys:
        assert re.search(rf"^(# )?{key}(_env)? = ", text, re.M) or re.search(rf"\b{key} = ", text), key


def test_every_value_outside_a_comment_is_a_placeholder() -> None:
    for line in template("all").splitlines():
        if line and not line.startswith(("#", "[")):
            assert PLACEHOLDER.match(line), line
    assert placeholders(template("all")) == 10
    assert placeholders(template("ala")) + placeholders(template("fibrecafe")) == 10


def test_filled_with_the_sandboxs_values_it_loads(tmp_path: Path, sandbox_values: dict,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VAR, sandbox_values["fibrecafe"]["client_secret"])
    path = tmp_path / "mine.toml"
    path.write_text(fill(template("all"), sandbox_values), encoding="utf-8")
    t = load_target(path)
    ala, fc = sandbox_values["ala"], sandbox_values["fibrecafe"]
    assert t.apis == ("ala", "fibrecafe")
    assert t.ala.base_url == ala["base_url"] and t.ala.buyer_base_url is None
    assert str(t.ala.client.cert) == ala["client_cert"] and t.ala.buyer_identifier == ala["buyer_identifier"]
    assert t.ala.active_services == tuple(ala["active_services"])
    assert (t.ala.namespace, t.ala.timeout, t.ala.ca_bundle) == ("", 10.0, None)
    assert t.fibrecafe.client_secret.reveal() == fc["client_secret"]
    assert t.fibrecafe.token_url == fc["base_url"] + "/auth/tenant/access-token"
    # With ca_bundle uncommented and pointed at the sandbox's CA, the target is ready to certify.
    text = path.read_text().replace('# ca_bundle = "pki/ca.pem"', f"ca_bundle = {json.dumps(ala['ca_bundle'])}")
    path.write_text(text)
    t = load_target(path)
    assert failures(probe(t, t.apis)) == []


def test_the_commented_defaults_are_the_loaders_defaults(tmp_path: Path, sandbox_values: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VAR, "s3cret-value")
    filled = fill(template("all"), sandbox_values)
    (tmp_path / "a.toml").write_text(filled)
    defaults = re.sub(r"^# (namespace|timeout) = ", r"\1 = ", filled, flags=re.M)
    assert defaults.count("\ntimeout = 10\n") == 2 and '\nnamespace = ""\n' in defaults
    (tmp_path / "b.toml").write_text(defaults)
    a, b = load_target(tmp_path / "a.toml"), load_target(tmp_path / "b.toml")
    assert a.ala == b.ala
    # Secret has no equality (it never shows itself); compare everything else.
    assert dataclasses.replace(a.fibrecafe, client_secret=None) == dataclasses.replace(b.fibrecafe, client_secret=None)


@pytest.mark.parametrize("key", ["base_url", "client_cert", "client_key", "buyer_identifier", "seller_identifier"])
def test_each_ala_placeholder_stands_for_a_key_the_loader_requires(tmp_path: Path, sandbox_values: dict,
                                                                    key: str) -> None:
    text = fill(template("ala"), sandbox_values)
    text = re.sub(rf"^{key} = .*\n", "", text, flags=re.M)
    (tmp_path / "t.toml").write_text(text)
    with pytest.raises(TargetError, match=rf"\[ala\] {key}: missing required key"):
        load_target(tmp_path / "t.toml")


@pytest.mark.parametrize("key", ["base_url", "client_id", "client_secret", "supplier"])
def test_each_fibrecafe_placeholder_stands_for_a_key_the_loader_requires(tmp_path: Path, sandbox_values: dict,
                                                                         key: str) -> None:
    text = fill(template("fibrecafe"), sandbox_values)
    text = re.sub(rf"^{key}(_env)? = .*\n", "", text, flags=re.M)
    (tmp_path / "t.toml").write_text(text)
    with pytest.raises(TargetError, match=rf"\[fibrecafe\] {key}: missing required key"):
        load_target(tmp_path / "t.toml")


# ------------------------------------------------------------------------------------------ refusal
@pytest.mark.parametrize("api, first", [
    ("all", "[ala] base_url: still the template placeholder <<FILL: https:// URL of the ALA seller endpoint, "
            "e.g. https://ala-sandbox.example.net:8443>>: fill it in"),
    ("fibrecafe", "[fibrecafe] base_url: still the template placeholder <<FILL: https:// base URL of the Fibre "
                  "Cafe API, e.g. https://fc-sandbox.example.net/v1>>: fill it in"),
])
def test_an_unfilled_template_is_refused_in_one_message_listing_every_placeholder(
        tmp_path: Path, api: str, first: str) -> None:
    """Issue 23: not the first placeholder only (one edit-and-run loop per placeholder), all of them, in
    file order, and nothing else (a placeholder is not also reported as a bad URL or a missing file)."""
    path = write_template(tmp_path / "t.toml", api)
    text = path.read_text(encoding="utf-8")
    fills = [(section, m.group(1), re.search(r'<<FILL: [^"]*>>', m.group(2)).group())
             for section, m in _placeholder_lines(text)]
    expected = [f"[{section}] {key}: still the template placeholder {value}: fill it in" for section, key, value in fills]
    assert len(expected) == placeholders(text) == (10 if api == "all" else 4)
    with pytest.raises(TargetError) as info:
        load_target(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: {len(expected)} template placeholders still to fill in (nothing was sent):"
    assert [ln.strip() for ln in lines[1:]] == expected and expected[0] == first
    assert info.value.problems == expected


def _placeholder_lines(text: str):
    section = None
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        m = PLACEHOLDER.match(line)
        if m:
            yield section, m


def test_a_template_with_placeholders_and_other_mistakes_lists_them_all(tmp_path: Path) -> None:
    """Every configuration error at once: placeholders first (file order), then the other problems."""
    text = template("all").replace("[ala]\n", "[ala]\nno_such_key = 1\n").replace(
        "[fibrecafe]\n", '[fibrecafe]\ntimeout = -1\nca_bundle = "nope/ca.pem"\n')
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(TargetError) as info:
        load_target(path)
    problems = info.value.problems
    assert len(problems) == 10 + 3, problems
    assert all("still the template placeholder" in p for p in problems[:10])
    assert "[ala] no_such_key: unknown key" in problems
    assert "[fibrecafe] ca_bundle: file not found: 'nope/ca.pem'" in problems
    assert "[fibrecafe] timeout: must be a positive number of seconds" in problems
    assert str(info.value).splitlines()[0] == f"{path}: 13 problems; fix them all, then run again (nothing was sent):"


@pytest.mark.parametrize("filled, named", [
    ({"ala.base_url"}, "[ala] client_cert:"),
    ({"ala.base_url", "ala.client_cert", "ala.client_key", "ala.buyer_identifier", "ala.seller_identifier"},
     "[ala] active_services: still the template placeholder <<FILL: an active service id"),
    ({"ala.base_url", "ala.client_cert", "ala.client_key", "ala.buyer_identifier", "ala.seller_identifier",
      "ala.active_services", "fibrecafe.base_url", "fibrecafe.client_id"}, "[fibrecafe] client_secret_env:"),
])
def test_a_partly_filled_template_names_the_placeholders_left_in_file_order(
        tmp_path: Path, sandbox_values: dict, filled: set[str], named: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(fill(template("all"), sandbox_values, only=filled))
    with pytest.raises(TargetError, match=re.escape(named)):
        load_target(path)


def test_the_placeholders_are_listed_before_any_other_problem(tmp_path: Path) -> None:
    text = template("all").replace("[ala]\n", "[ala]\nno_such_key = 1\n").replace(
        "[fibrecafe]\n", "[fibrecafe]\nsupplier_env = 2\n") + "\n[extra]\n"
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(TargetError) as info:
        load_target(path)
    problems = info.value.problems
    assert problems[0].startswith("[ala] base_url: still the template placeholder")
    assert all("placeholder" in p for p in problems[:10]) and not any("placeholder" in p for p in problems[10:])
    assert {"[extra]: unknown section (expected [ala] and/or [fibrecafe])", "[ala] no_such_key: unknown key",
            "[fibrecafe] supplier_env: unknown key"} <= set(problems[10:])


def test_a_placeholder_with_a_line_break_is_named_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[fibrecafe]\nbase_url = """<<FILL: two\nlines>>"""\n')
    with pytest.raises(TargetError) as info:
        load_target(path)
    assert info.value.problems[0] == "[fibrecafe] base_url: still the template placeholder <<FILL: two lines>>: fill it in"
    assert all("\n" not in p for p in info.value.problems)


# ------------------------------------------------------------------------------------------ writing
def test_init_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("# mine\n")
    with pytest.raises(InitError, match=r"already exists; not overwritten"):
        write_template(path, "all")
    assert path.read_text() == "# mine\n"


def test_init_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InitError, match=r"does not exist"):
        write_template(tmp_path / "nope" / "t.toml", "ala")


def test_the_written_file_is_private(tmp_path: Path) -> None:
    path = write_template(tmp_path / "t.toml", "fibrecafe")
    assert path.stat().st_mode & 0o077 == 0  # it may hold a client secret once filled


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fibrecert", *args], capture_output=True, text=True, timeout=60,
                          cwd=str(cwd), env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def test_cli_init_writes_the_default_path_then_refuses_to_overwrite(tmp_path: Path) -> None:
    first = _cli("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    written = tmp_path / "fibrecert-target.toml"
    assert written.read_text() == template("all")
    assert "fibrecert run --target fibrecert-target.toml" in first.stdout
    again = _cli("init", "--api", "ala", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr == "fibrecert: fibrecert-target.toml: already exists; not overwritten (remove it, or name another PATH)\n"
    assert written.read_text() == template("all")


def test_cli_init_api_and_path_then_run_refuses_the_unfilled_file(tmp_path: Path) -> None:
    done = _cli("init", "--api", "fibrecafe", "vendor.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "vendor.toml").read_text() == template("fibrecafe")
    run = _cli("run", "--target", "vendor.toml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 + 4 and "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert lines[0] == "fibrecert: vendor.toml: 4 template placeholders still to fill in (nothing was sent):"
    assert lines[1].startswith("  [fibrecafe] base_url: still the template placeholder <<FILL:")
    assert [ln.split(":")[0].strip() for ln in lines[1:]] == [
        "[fibrecafe] base_url", "[fibrecafe] client_id", "[fibrecafe] client_secret_env", "[fibrecafe] supplier"]


def test_cli_init_bad_api_is_a_usage_error(tmp_path: Path) -> None:
    done = _cli("init", "--api", "soap", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice" in done.stderr
    assert not (tmp_path / "fibrecert-target.toml").exists()
