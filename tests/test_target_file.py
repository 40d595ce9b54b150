"""The target file (shared/spec/cli-and-target.md): loading, checking and reporting problems.

Every problem with the target file is a configuration error: one clear line that names the file,
the section and the key, exit code 2, and no request sent. The base of every test is a real, valid
target file written here by hand, whose certificates come from a real PKI (the sandbox's) and are
referenced by paths relative to the file.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from fibrecert.pki import ensure_sandbox_pki
from fibrecert.target import Secret, Target, TargetError, load_target

ENV_SECRET_VAR = "FIBRECERT_TEST_TENANT_A_SECRET"
ENV_SECRET = "env-secret-Zq7vK2pW9xT4rLm8"
LITERAL_SECRET = "literal-secret-Hd83Kq0LmNbV5"
UNSET_VAR = "FIBRECERT_TEST_SURELY_UNSET_VAR"
PARTIES = {"buyer": "SPDEV1", "other": "SPDEV2", "seller": "CITYFIBRE"}

# A valid target file, written by hand; every path is relative to the file's own folder.
BASE_TOML = f"""\
# A hand-written target file for the self-tests.
[ala]
base_url = "https://127.0.0.1:8443/"
buyer_base_url = "https://127.0.0.1:9443"
namespace = ""
ca_bundle = "pki/ca.pem"
client_cert = "pki/buyer.crt"
client_key = "pki/buyer.key"
other_client_cert = "pki/other.crt"
other_client_key = "pki/other.key"
seller_client_cert = "pki/seller.crt"
seller_client_key = "pki/seller.key"
buyer_identifier = "SPDEV1"
other_buyer_identifier = "SPDEV2"
seller_identifier = "CITYFIBRE"
active_services = ["CF-SVC-00001", "CF-SVC-00002"]

[fibrecafe]
base_url = "https://127.0.0.1:7443/v1"
token_url = "https://127.0.0.1:7443/v1/auth/tenant/access-token"
ca_bundle = "pki/ca.pem"
client_id = "tenant-a"
client_secret_env = "{ENV_SECRET_VAR}"
other_client_id = "tenant-b"
other_client_secret = "{LITERAL_SECRET}"
supplier = "DUMMY_SUPPLIER"
timeout = 7.5
"""


# ------------------------------------------------------------------------------------- helpers


class Raw:
    """A TOML value written verbatim (nan, inf, a malformed value...)."""

    def __init__(self, text: str):
        self.text = text


DROP = object()


def _toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string (\uXXXX escapes included)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def to_toml(config: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for section, body in config.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in body.items()]
        lines.append("")
    return "\n".join(lines)


def base_config() -> dict[str, dict[str, Any]]:
    return tomllib.loads(BASE_TOML)


@pytest.fixture(scope="session")
def pki_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real PKI (CA, server and three client identities) for the whole session."""
    directory = tmp_path_factory.mktemp("pki-source") / "pki"
    pki = ensure_sandbox_pki(directory, PARTIES)
    assert pki.ca.is_file()
    return directory


@pytest.fixture
def folder(tmp_path: Path, pki_source: Path) -> Path:
    """A private folder holding a copy of the PKI (so a test may damage its files)."""
    cfg = tmp_path / "cfg"
    shutil.copytree(pki_source, cfg / "pki")
    return cfg


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SECRET_VAR, ENV_SECRET)
    monkeypatch.delenv(UNSET_VAR, raising=False)


def write_target(folder: Path, text: str, name: str = "target.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_config_error(exc: TargetError, path: Path, section: str | None, key: str | None) -> str:
    message = str(exc)
    assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    assert str(path) in message, f"the file is not named: {message!r}"
    if section is not None:
        assert f"[{section}]" in message, f"the section is not named: {message!r}"
    if key is not None:
        assert f"] {key}:" in message, f"the key is not named: {message!r}"
    return message


# --------------------------------------------------------------------------------- a valid file


def test_valid_hand_written_file_loads(folder: Path) -> None:
    path = write_target(folder, BASE_TOML)
    target = load_target(path)

    assert isinstance(target, Target)
    assert target.apis == ("ala", "fibrecafe")
    assert target.path == path.resolve()
    ala, fc = target.ala, target.fibrecafe
    assert ala is not None and fc is not None
    assert ala.base_url == "https://127.0.0.1:8443"  # trailing slash removed
    assert ala.buyer_base_url == "https://127.0.0.1:9443"
    assert ala.roles == ("seller", "buyer")
    assert ala.buyer_identifier == "SPDEV1"
    assert ala.other_buyer_identifier == "SPDEV2"
    assert ala.seller_identifier == "CITYFIBRE"
    assert ala.active_services == ("CF-SVC-00001", "CF-SVC-00002")
    assert ala.timeout == 10.0
    assert fc.base_url == "https://127.0.0.1:7443/v1"
    assert fc.token_url == "https://127.0.0.1:7443/v1/auth/tenant/access-token"
    assert fc.client_id == "tenant-a" and fc.other_client_id == "tenant-b"
    assert fc.supplier == "DUMMY_SUPPLIER"
    assert fc.timeout == 7.5
    assert target.public() == {
        "ala": {"base_url": "https://127.0.0.1:8443", "buyer_base_url": "https://127.0.0.1:9443",
                "namespace": "", "roles": ["seller", "buyer"]},
        "fibrecafe": {"base_url": "https://127.0.0.1:7443/v1",
                      "token_url": "https://127.0.0.1:7443/v1/auth/tenant/access-token"},
    }


def test_relative_paths_resolve_against_the_files_folder(folder: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    write_target(folder, BASE_TOML)
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    # A decoy PKI folder beside the working directory: it must not be the one used.
    shutil.copytree(folder / "pki", elsewhere / "pki")
    monkeypatch.chdir(elsewhere)

    for given in (folder / "target.toml", Path("../../cfg/target.toml")):
        target = load_target(given)
        pki = (folder / "pki").resolve()
        assert target.ala is not None and target.fibrecafe is not None
        assert target.ala.ca_bundle == pki / "ca.pem"
        assert target.ala.client.cert == pki / "buyer.crt"
        assert target.ala.client.key == pki / "buyer.key"
        assert target.ala.other_client is not None and target.ala.other_client.cert == pki / "other.crt"
        assert target.ala.seller_client is not None and target.ala.seller_client.key == pki / "seller.key"
        assert target.fibrecafe.ca_bundle == pki / "ca.pem"
        assert target.ala.client.cert.is_absolute()


def test_paths_may_climb_out_of_the_files_folder(folder: Path) -> None:
    sub = folder / "targets" / "partner"
    sub.mkdir(parents=True)
    config = base_config()
    for key in ("ca_bundle", "client_cert", "client_key", "other_client_cert", "other_client_key",
                "seller_client_cert", "seller_client_key"):
        config["ala"][key] = "../../" + config["ala"][key]
    config["fibrecafe"]["ca_bundle"] = "../../pki/ca.pem"
    target = load_target(write_target(sub, to_toml(config)))
    assert target.ala is not None
    assert target.ala.client.cert == (folder / "pki" / "buyer.crt").resolve()


def test_secret_env_reads_the_environment(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = load_target(write_target(folder, BASE_TOML))
    assert target.fibrecafe is not None
    assert isinstance(target.fibrecafe.client_secret, Secret)
    assert target.fibrecafe.client_secret.reveal() == ENV_SECRET
    assert target.fibrecafe.other_client_secret is not None
    assert target.fibrecafe.other_client_secret.reveal() == LITERAL_SECRET
    assert sorted(target.secrets()) == sorted([ENV_SECRET, LITERAL_SECRET])

    # The value is read when the file is loaded: another value, another secret.
    monkeypatch.setenv(ENV_SECRET_VAR, "a-different-secret-value")
    assert load_target(folder / "target.toml").fibrecafe.client_secret.reveal() == "a-different-secret-value"


def test_other_secret_may_come_from_the_environment_too(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = base_config()
    del config["fibrecafe"]["other_client_secret"]
    config["fibrecafe"]["other_client_secret_env"] = "FIBRECERT_TEST_OTHER_SECRET"
    monkeypatch.setenv("FIBRECERT_TEST_OTHER_SECRET", "other-from-env-1234")
    target = load_target(write_target(folder, to_toml(config)))
    assert target.fibrecafe is not None and target.fibrecafe.other_client_secret is not None
    assert target.fibrecafe.other_client_secret.reveal() == "other-from-env-1234"


def test_secrets_never_show_in_repr_or_str(folder: Path) -> None:
    target = load_target(write_target(folder, BASE_TOML))
    fc = target.fibrecafe
    assert fc is not None
    assert fc.client_secret.reveal() == ENV_SECRET  # the secret is really held...
    shown = [repr(target), str(target), repr(fc), str(fc), repr(target.ala), str(target.ala),
             repr(fc.client_secret), str(fc.client_secret), f"{fc.client_secret}", f"{fc.client_secret!r}",
             "%s %r" % (fc.other_client_secret, fc.other_client_secret), repr(target.__dict__),
             json.dumps(target.public())]
    for text in shown:  # ...but never shows
        assert ENV_SECRET not in text
        assert LITERAL_SECRET not in text
    assert "***" in repr(fc)


def test_token_url_defaults_to_the_contracts_token_path(folder: Path) -> None:
    config = base_config()
    del config["fibrecafe"]["token_url"]
    target = load_target(write_target(folder, to_toml(config)))
    assert target.fibrecafe is not None
    assert target.fibrecafe.token_url == "https://127.0.0.1:7443/v1/auth/tenant/access-token"


def test_an_absent_section_is_not_tested(folder: Path) -> None:
    config = base_config()
    del config["ala"]
    target = load_target(write_target(folder, to_toml(config)))
    assert target.apis == ("fibrecafe",)
    assert target.ala is None and target.fibrecafe is not None

    config = base_config()
    del config["fibrecafe"]
    target = load_target(write_target(folder, to_toml(config)))
    assert target.apis == ("ala",)
    assert target.secrets() == []


def test_minimal_ala_section_without_optional_identities(folder: Path) -> None:
    config = base_config()
    for key in ("buyer_base_url", "other_client_cert", "other_client_key", "other_buyer_identifier",
                "seller_client_cert", "seller_client_key", "active_services", "namespace", "ca_bundle"):
        del config["ala"][key]
    del config["fibrecafe"]
    target = load_target(write_target(folder, to_toml(config)))
    assert target.ala is not None
    assert target.ala.roles == ("seller",)
    assert target.ala.other_client is None and target.ala.seller_client is None
    assert target.ala.ca_bundle is None
    assert target.ala.namespace == ""
    assert target.ala.active_services == ()


def test_the_sandboxs_own_target_file_loads(tmp_path: Path) -> None:
    from fibrecert.sandbox import Sandbox

    sandbox = Sandbox(tmp_path / "state", pki_dir=tmp_path / "pki", services=3).start()
    try:
        path = sandbox.write_target(tmp_path / "sandbox-target.toml")
        target = load_target(path)
        secret_a = sandbox.tenant_secret("tenant-a")
    finally:
        sandbox.stop()
    assert target.apis == ("ala", "fibrecafe")
    assert target.fibrecafe is not None and target.fibrecafe.client_secret.reveal() == secret_a
    assert target.ala is not None and len(target.ala.active_services) == 3
    assert secret_a not in repr(target)


# ------------------------------------------------------------------------------------ mistakes


def _set(section: str, key: str, value: Any) -> Callable[[dict, Path], None]:
    def op(config: dict, folder: Path) -> None:
        if value is DROP:
            config[section].pop(key)
        else:
            config[section][key] = value
    return op


def _drop(section: str, key: str) -> Callable[[dict, Path], None]:
    return _set(section, key, DROP)


def _file(relative: str, content: bytes) -> Callable[[dict, Path], None]:
    def op(config: dict, folder: Path) -> None:
        (folder / relative).write_bytes(content)
    return op


NOT_PEM = b"this is not a certificate\n"
MISTAKES: list[tuple[str, list[Callable[[dict, Path], None]], str, str]] = [
    # (id, changes to the valid file, section named, key named)
    ("missing-ala-client_cert", [_drop("ala", "client_cert")], "ala", "client_cert"),
    ("missing-ala-client_key", [_drop("ala", "client_key")], "ala", "client_key"),
    ("missing-ala-base_url", [_drop("ala", "base_url")], "ala", "base_url"),
    ("missing-ala-buyer_identifier", [_drop("ala", "buyer_identifier")], "ala", "buyer_identifier"),
    ("missing-ala-seller_identifier", [_drop("ala", "seller_identifier")], "ala", "seller_identifier"),
    ("missing-seller-identity-with-buyer-role", [_drop("ala", "seller_client_cert"),
                                                 _drop("ala", "seller_client_key")], "ala", "seller_client_cert"),
    ("missing-fibrecafe-supplier", [_drop("fibrecafe", "supplier")], "fibrecafe", "supplier"),
    ("missing-fibrecafe-client_id", [_drop("fibrecafe", "client_id")], "fibrecafe", "client_id"),
    ("missing-fibrecafe-base_url", [_drop("fibrecafe", "base_url")], "fibrecafe", "base_url"),
    ("missing-fibrecafe-client_secret", [_drop("fibrecafe", "client_secret_env")], "fibrecafe", "client_secret"),
    ("empty-buyer_identifier", [_set("ala", "buyer_identifier", "  ")], "ala", "buyer_identifier"),
    ("wrong-type-buyer_identifier", [_set("ala", "buyer_identifier", 42)], "ala", "buyer_identifier"),
    ("unknown-key-ala", [_set("ala", "client_certificate", "pki/buyer.crt")], "ala", "client_certificate"),
    ("unknown-key-fibrecafe", [_set("fibrecafe", "tenant", "x")], "fibrecafe", "tenant"),
    ("env-form-of-a-non-secret-key", [_set("fibrecafe", "client_id_env", ENV_SECRET_VAR)], "fibrecafe", "client_id_env"),
    ("fibrecafe-key-in-ala", [_set("ala", "client_secret", "abcdefgh")], "ala", "client_secret"),
    ("client_cert-file-missing", [_set("ala", "client_cert", "pki/nope.crt")], "ala", "client_cert"),
    ("client_key-file-missing", [_set("ala", "client_key", "pki/nope.key")], "ala", "client_key"),
    ("ala-ca_bundle-missing", [_set("ala", "ca_bundle", "pki/nope.pem")], "ala", "ca_bundle"),
    ("fibrecafe-ca_bundle-missing", [_set("fibrecafe", "ca_bundle", "nope/ca.pem")], "fibrecafe", "ca_bundle"),
    ("client_cert-is-a-folder", [_set("ala", "client_cert", "pki")], "ala", "client_cert"),
    ("client_cert-not-pem", [_file("pki/buyer.crt", NOT_PEM)], "ala", "client_cert"),
    ("client_cert-empty-file", [_file("pki/buyer.crt", b"")], "ala", "client_cert"),
    ("client_cert-is-a-private-key", [_set("ala", "client_cert", "pki/buyer.key")], "ala", "client_cert"),
    ("seller_client_cert-not-pem", [_file("pki/seller.crt", NOT_PEM)], "ala", "seller_client_cert"),
    ("client_key-not-a-key", [_set("ala", "client_key", "pki/buyer.crt")], "ala", "client_key"),
    ("client_key-does-not-match", [_set("ala", "client_key", "pki/other.key")], "ala", "client_key"),
    ("other_client_key-does-not-match", [_set("ala", "other_client_key", "pki/seller.key")], "ala", "other_client_key"),
    ("http-ala-base_url", [_set("ala", "base_url", "http://127.0.0.1:8443")], "ala", "base_url"),
    ("http-ala-buyer_base_url", [_set("ala", "buyer_base_url", "http://127.0.0.1:9443")], "ala", "buyer_base_url"),
    ("http-fibrecafe-base_url", [_set("fibrecafe", "base_url", "http://127.0.0.1/v1")], "fibrecafe", "base_url"),
    ("http-fibrecafe-token_url", [_set("fibrecafe", "token_url", "http://127.0.0.1/t")], "fibrecafe", "token_url"),
    ("base_url-without-scheme", [_set("ala", "base_url", "127.0.0.1:8443")], "ala", "base_url"),
    ("base_url-without-host", [_set("fibrecafe", "base_url", "https:///v1")], "fibrecafe", "base_url"),
    ("secret_env-names-unset-variable", [_set("fibrecafe", "client_secret_env", UNSET_VAR)],
     "fibrecafe", "client_secret_env"),
    ("other_secret_env-names-unset-variable", [_drop("fibrecafe", "other_client_secret"),
                                               _set("fibrecafe", "other_client_secret_env", UNSET_VAR)],
     "fibrecafe", "other_client_secret_env"),
    ("both-secret-and-secret_env", [_set("fibrecafe", "client_secret", "abcdefgh")], "fibrecafe", "client_secret"),
    ("empty-literal-secret", [_drop("fibrecafe", "client_secret_env"), _set("fibrecafe", "client_secret", "")],
     "fibrecafe", "client_secret"),
    ("other_client_cert-without-key", [_drop("ala", "other_client_key")], "ala", "other_client_key"),
    ("other_client_key-without-cert", [_drop("ala", "other_client_cert")], "ala", "other_client_cert"),
    ("other-identity-without-identifier", [_drop("ala", "other_buyer_identifier")], "ala", "other_buyer_identifier"),
    ("other_secret-without-other_client_id", [_drop("fibrecafe", "other_client_id")], "fibrecafe", "other_client_id"),
    ("other_client_id-without-secret", [_drop("fibrecafe", "other_client_secret")], "fibrecafe", "other_client_secret"),
    ("active_services-duplicate", [_set("ala", "active_services", ["CF-1", "CF-2", "CF-1"])], "ala", "active_services"),
    ("active_services-not-a-list", [_set("ala", "active_services", "CF-1")], "ala", "active_services"),
    ("active_services-empty-entry", [_set("ala", "active_services", ["CF-1", " "])], "ala", "active_services"),
    ("supplier-with-hyphen", [_set("fibrecafe", "supplier", "DUMMY-SUPPLIER")], "fibrecafe", "supplier"),
    ("supplier-with-space", [_set("fibrecafe", "supplier", "DUMMY SUPPLIER")], "fibrecafe", "supplier"),
    ("supplier-too-long", [_set("fibrecafe", "supplier", "S" * 21)], "fibrecafe", "supplier"),
    ("supplier-trailing-newline", [_set("fibrecafe", "supplier", "DUMMY\n")], "fibrecafe", "supplier"),
    ("timeout-zero", [_set("ala", "timeout", 0)], "ala", "timeout"),
    ("timeout-negative", [_set("fibrecafe", "timeout", -1.5)], "fibrecafe", "timeout"),
    ("timeout-string", [_set("ala", "timeout", "10")], "ala", "timeout"),
    ("timeout-boolean", [_set("ala", "timeout", True)], "ala", "timeout"),
    # Ports, user:password and malformed URLs (issues 18 and 23): refused when the file is loaded.
    ("ala-port-too-high", [_set("ala", "base_url", "https://127.0.0.1:99999")], "ala", "base_url"),
    ("ala-port-negative", [_set("ala", "buyer_base_url", "https://127.0.0.1:-1")], "ala", "buyer_base_url"),
    ("fc-port-not-a-number", [_set("fibrecafe", "base_url", "https://127.0.0.1:abc/v1")], "fibrecafe", "base_url"),
    ("fc-port-zero", [_set("fibrecafe", "token_url", "https://127.0.0.1:0/t")], "fibrecafe", "token_url"),
    ("ipv6-port-too-high", [_set("ala", "base_url", "https://[::1]:70000")], "ala", "base_url"),
    ("token_url-malformed-ipv6", [_set("fibrecafe", "token_url", "https://[::1/x")], "fibrecafe", "token_url"),
    ("base_url-userinfo", [_set("fibrecafe", "base_url", "https://user:pw@127.0.0.1:7443/v1")], "fibrecafe",
     "base_url"),
    ("buyer_base_url-user-only", [_set("ala", "buyer_base_url", "https://user@127.0.0.1:9443")], "ala",
     "buyer_base_url"),
    ("base_url-with-query", [_set("ala", "base_url", "https://127.0.0.1:8443/?x=1")], "ala", "base_url"),
    ("base_url-with-space", [_set("ala", "base_url", "https://127.0.0.1:8443/a b")], "ala", "base_url"),
]


@pytest.mark.parametrize("changes,section,key", [pytest.param(c, s, k, id=i) for i, c, s, k in MISTAKES])
def test_mistake_is_one_line_naming_file_section_and_key(folder: Path, changes: list, section: str,
                                                         key: str) -> None:
    config = base_config()
    for change in changes:
        change(config, folder)
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert_config_error(caught.value, path, section, key)


@pytest.mark.parametrize("url, shown", [
    ("https://127.0.0.1:99999", "port '99999' is not a port number from 1 to 65535"),
    ("https://127.0.0.1:-1", "port '-1' is not a port number from 1 to 65535"),
    ("https://127.0.0.1:abc", "port 'abc' is not a port number from 1 to 65535"),
    ("https://[::1/x", "not a valid URL (Invalid IPv6 URL)"),
    ("https://vendor:Pa55w0rd-Kq9@127.0.0.1:8443", "must not carry a user name or password"),
])
def test_bad_urls_are_named_with_what_is_wrong_and_never_show_a_password(folder: Path, url: str, shown: str) -> None:
    config = base_config()
    config["ala"]["base_url"] = url
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    message = assert_config_error(caught.value, path, "ala", "base_url")
    assert shown in message
    assert "Pa55w0rd" not in message and "vendor:" not in message


def test_every_problem_is_listed_at_once(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: both secret variables unset, a bad port, a missing file, a bad value and an unknown key:
    one error listing all six, each naming its section and key; nothing is reported twice."""
    monkeypatch.delenv(ENV_SECRET_VAR)
    config = base_config()
    config["fibrecafe"].pop("other_client_secret")
    config["fibrecafe"]["other_client_secret_env"] = UNSET_VAR
    config["ala"]["base_url"] = "https://127.0.0.1:99999"
    config["ala"]["client_cert"] = "pki/nope.crt"
    config["fibrecafe"]["timeout"] = 0
    config["fibrecafe"]["tenant"] = "x"
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    problems = caught.value.problems
    named = sorted(p.split(":")[0] for p in problems)
    assert named == sorted(["[ala] base_url", "[ala] client_cert", "[fibrecafe] client_secret_env",
                            "[fibrecafe] other_client_secret_env", "[fibrecafe] timeout", "[fibrecafe] tenant"]), problems
    assert f"environment variable {ENV_SECRET_VAR} is not set" in " ".join(problems)
    assert f"environment variable {UNSET_VAR} is not set" in " ".join(problems)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: 6 problems; fix them all, then run again (nothing was sent):"
    assert [ln.strip() for ln in lines[1:]] == problems


def test_supplier_at_the_limit_is_accepted(folder: Path) -> None:
    """The other side of the supplier mistakes: exactly 20 word characters is fine."""
    config = base_config()
    config["fibrecafe"]["supplier"] = "S_" * 10
    target = load_target(write_target(folder, to_toml(config)))
    assert target.fibrecafe is not None and target.fibrecafe.supplier == "S_" * 10


def test_secret_env_naming_an_empty_variable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SECRET_VAR, "")
    path = write_target(folder, BASE_TOML)
    with pytest.raises(TargetError) as caught:
        load_target(path)
    message = assert_config_error(caught.value, path, "fibrecafe", "client_secret_env")
    assert ENV_SECRET_VAR in message


def test_error_messages_never_show_a_secret(folder: Path) -> None:
    """A mistake next to a secret does not print the secret."""
    config = base_config()
    config["fibrecafe"]["client_secret"] = "literal-in-both-forms-9876"
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert "literal-in-both-forms-9876" not in str(caught.value)
    assert ENV_SECRET not in str(caught.value)


@pytest.mark.parametrize("section", ["ala", "fibrecafe"])
def test_ca_bundle_that_is_not_a_certificate_is_a_configuration_error(folder: Path, section: str) -> None:
    """The spec: "unreadable certificates are configuration errors (exit 2), reported before any request".
    The client certificates are checked; the CA bundle (the trust for the target's certificate) is not."""
    (folder / "pki" / "bundle.pem").write_bytes(NOT_PEM)
    config = base_config()
    config[section]["ca_bundle"] = "pki/bundle.pem"
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert_config_error(caught.value, path, section, "ca_bundle")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_timeout_must_be_a_finite_number(folder: Path, value: str) -> None:
    config = base_config()
    config["ala"]["timeout"] = Raw(value)
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert_config_error(caught.value, path, "ala", "timeout")


@pytest.mark.parametrize("supplier", ["FOURNISSEUR_É", "١٢٣"])
def test_supplier_pattern_is_the_contracts_ascii_word_pattern(folder: Path, supplier: str) -> None:
    config = base_config()
    config["fibrecafe"]["supplier"] = supplier
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert_config_error(caught.value, path, "fibrecafe", "supplier")


def test_message_stays_one_line_when_the_value_holds_a_newline(folder: Path) -> None:
    config = base_config()
    config["ala"]["client_cert"] = "pki/buyer.crt\nsecond line"
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert_config_error(caught.value, path, "ala", "client_cert")


# ----------------------------------------------------------------------- the file itself is bad


def test_invalid_toml(folder: Path) -> None:
    path = write_target(folder, BASE_TOML + "\nthis is = = not toml\n")
    with pytest.raises(TargetError) as caught:
        load_target(path)
    message = assert_config_error(caught.value, path, None, None)
    assert "TOML" in message
    assert f"line {BASE_TOML.count(chr(10)) + 2}" in message  # points at the bad line


def test_not_utf8(folder: Path) -> None:
    path = folder / "target.toml"
    path.write_bytes(b'[ala]\nbase_url = "https://h\xff\xfe"\n')
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert_config_error(caught.value, path, None, None)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_names_no_api(folder: Path, text: str) -> None:
    path = write_target(folder, text)
    with pytest.raises(TargetError) as caught:
        load_target(path)
    message = assert_config_error(caught.value, path, None, None)
    assert "[ala]" in message and "[fibrecafe]" in message


@pytest.mark.parametrize("name", ["does-not-exist.toml", "subdir-missing/target.toml"])
def test_file_not_found(folder: Path, name: str) -> None:
    path = folder / name
    with pytest.raises(TargetError) as caught:
        load_target(path)
    message = assert_config_error(caught.value, path, None, None)
    assert "not found" in message


def test_a_folder_is_not_a_target_file(folder: Path) -> None:
    with pytest.raises(TargetError) as caught:
        load_target(folder)
    assert_config_error(caught.value, folder, None, None)


@pytest.mark.parametrize("section", ["alla", "fibre_cafe", "ALA"])
def test_unknown_section(folder: Path, section: str) -> None:
    config = base_config()
    config[section] = {"base_url": "https://127.0.0.1:1"}
    path = write_target(folder, to_toml(config))
    with pytest.raises(TargetError) as caught:
        load_target(path)
    message = assert_config_error(caught.value, path, section, None)
    assert "unknown section" in message


def test_section_that_is_not_a_table(folder: Path) -> None:
    path = write_target(folder, 'ala = "https://127.0.0.1:8443"\n')
    with pytest.raises(TargetError) as caught:
        load_target(path)
    assert_config_error(caught.value, path, "ala", None)


# ---------------------------------------------------------------------------------- the command


@pytest.fixture
def listener() -> socket.socket:
    """A plain TCP socket standing in for the target: it must never see a connection."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.3)
    # Sanity: it does register a connection when one is made (so "accepted nothing" means something).
    probe = socket.create_connection(sock.getsockname(), timeout=2)
    conn, _ = sock.accept()
    conn.close()
    probe.close()
    yield sock
    sock.close()


def _listener_config(port: int) -> dict[str, dict[str, Any]]:
    config = base_config()
    url = f"https://127.0.0.1:{port}"
    config["ala"]["base_url"] = url
    config["ala"]["buyer_base_url"] = url
    config["fibrecafe"]["base_url"] = f"{url}/v1"
    config["fibrecafe"]["token_url"] = f"{url}/v1/auth/tenant/access-token"
    return config


def _assert_nothing_accepted(sock: socket.socket) -> None:
    try:
        conn, peer = sock.accept()
    except (socket.timeout, TimeoutError):
        return
    conn.close()
    pytest.fail(f"a connection was made to the target ({peer}) although the target file is bad")


CLI_MISTAKES = [
    pytest.param([_set("fibrecafe", "client_secret_file", "secret.txt")], "fibrecafe", "client_secret_file",
                 id="unknown-key"),
    pytest.param([_drop("ala", "client_cert")], "ala", "client_cert", id="missing-client_cert"),
    pytest.param([_set("ala", "other_client_key", "pki/buyer.key")], "ala", "other_client_key",
                 id="key-does-not-match-cert"),
    pytest.param([_set("fibrecafe", "client_secret_env", UNSET_VAR)], "fibrecafe", "client_secret_env",
                 id="secret-env-unset"),
    pytest.param([_set("fibrecafe", "token_url", "https://[::1/x")], "fibrecafe", "token_url",
                 id="token_url-malformed"),
    pytest.param([_set("ala", "buyer_base_url", "https://127.0.0.1:99999")], "ala", "buyer_base_url",
                 id="port-out-of-range"),
    pytest.param([_set("fibrecafe", "token_url", "https://u:pw@127.0.0.1/t")], "fibrecafe", "token_url",
                 id="userinfo"),
]


@pytest.mark.parametrize("changes,section,key", CLI_MISTAKES)
def test_cli_run_with_bad_target_exits_2_before_any_request(folder: Path, tmp_path: Path, listener: socket.socket,
                                                            changes: list, section: str, key: str) -> None:
    config = _listener_config(listener.getsockname()[1])
    for change in changes:
        change(config, folder)
    path = write_target(folder, to_toml(config), name="bad.toml")
    report_dir = tmp_path / "reports"
    env = dict(os.environ)
    env.pop(UNSET_VAR, None)
    proc = subprocess.run([sys.executable, "-m", "fibrecert", "run", "--target", str(path),
                           "--report-dir", str(report_dir)],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and f"[{section}]" in lines[0] and key in lines[0]
    assert proc.stdout == ""
    assert not report_dir.exists()
    _assert_nothing_accepted(listener)


def test_cli_run_lists_every_problem_then_exits_2_before_any_request(folder: Path, tmp_path: Path,
                                                                     listener: socket.socket) -> None:
    config = _listener_config(listener.getsockname()[1])
    config["fibrecafe"]["client_secret_env"] = UNSET_VAR
    config["ala"]["base_url"] = "https://127.0.0.1:abc"
    config["ala"]["timeout"] = "10"
    path = write_target(folder, to_toml(config), name="bad.toml")
    env = dict(os.environ)
    env.pop(UNSET_VAR, None)
    proc = subprocess.run([sys.executable, "-m", "fibrecert", "run", "--target", str(path),
                           "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f"fibrecert: {path}: 3 problems; fix them all, then run again (nothing was sent):"
    assert sorted(ln.strip().split(":")[0] for ln in lines[1:]) == [
        "[ala] base_url", "[ala] timeout", "[fibrecafe] client_secret_env"], proc.stderr
    assert proc.stdout == "" and not (tmp_path / "reports").exists()
    _assert_nothing_accepted(listener)


def test_in_process_run_reports_a_missing_target_file(tmp_path: Path) -> None:
    from fibrecert.runner import RunOptions, run

    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(target=str(tmp_path / "absent.toml"), report_dir=str(tmp_path / "r"), quiet=True),
               out=out, err=err)
    assert code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "absent.toml" in lines[0] and "not found" in lines[0]
    assert not (tmp_path / "r").exists()


def test_in_process_run_api_not_in_target_is_a_configuration_error(folder: Path, tmp_path: Path) -> None:
    from fibrecert.runner import RunOptions, run

    config = base_config()
    del config["ala"]
    path = write_target(folder, to_toml(config))
    out, err = io.StringIO(), io.StringIO()
    code = run(RunOptions(target=str(path), api="ala", report_dir=str(tmp_path / "r"), quiet=True),
               out=out, err=err)
    assert code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "[ala]" in lines[0] and str(path) in lines[0]


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> list:
    """Replace the run itself: the command line is parsed for real, nothing is certified."""
    import fibrecert.runner

    calls: list = []

    def fake_run(opts: Any, *a: Any, **k: Any) -> int:
        calls.append(opts)
        return 0

    monkeypatch.setattr(fibrecert.runner, "run", fake_run)
    return calls


@pytest.mark.parametrize("argv", [
    ["run", "--max-rps", "0"],
    ["run", "--max-rps", "-3"],
    ["run", "--max-rps", "fast"],
    ["run", "--profile", "bogus"],
    ["run", "--api", "both"],
    ["run", "--seed", "x"],
], ids=lambda a: " ".join(a[1:]))
def test_usage_errors_exit_2(no_run: list, capsys: pytest.CaptureFixture, argv: list[str]) -> None:
    from fibrecert.cli import main

    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert no_run == []
    err = capsys.readouterr().err
    assert argv[1] in err  # names the option


def test_valid_options_reach_the_run(no_run: list) -> None:
    """The other side of the usage errors: good values are accepted and passed on."""
    from fibrecert.cli import main

    assert main(["run", "--max-rps", "0.5", "--profile", "smoke", "--target", "t.toml", "--seed", "7"]) == 0
    (opts,) = no_run
    assert opts.max_rps == 0.5 and opts.profile == "smoke" and opts.target == "t.toml" and opts.seed == 7


def test_max_rps_nan_is_a_usage_error(no_run: list) -> None:
    from fibrecert.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["run", "--max-rps", "nan"])
    assert caught.value.code == 2


@pytest.mark.parametrize("argv", [["--max-rps", "0"], ["--profile", "bogus"]], ids=["max-rps-0", "profile-bogus"])
def test_cli_usage_errors_exit_2_as_a_process(tmp_path: Path, argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "fibrecert", "run", *argv, "--report-dir", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert argv[0] in proc.stderr and "error" in proc.stderr
    assert not (tmp_path / "r").exists()
