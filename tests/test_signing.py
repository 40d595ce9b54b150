"""Signed certification evidence: keygen, certificate.json, verify (real keys, real report files).

The report folder is made by a real `fibrecert run --profile smoke --api fibrecafe` once per test
session (shared by the xdist workers through a lock); each test signs its own copy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import stat
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from fibrecert import signing
from fibrecert.signing import SigningError
from helpers import REPO, fibrecert

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPORT_FILES = ("results.json", "junit.xml", "index.html")


# --------------------------------------------------------------------------------------------------
# fixtures


@contextmanager
def _exclusive(lock_path: Path):
    import fcntl

    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_once(root: Path) -> Path:
    report = root / "report"
    if (root / "done").exists():
        return report
    done = fibrecert("run", "--profile", "smoke", "--api", "fibrecafe", "--report-dir", str(report), "--seed", "1",
                     "--quiet", env={"FIBRECERT_CACHE_DIR": str(root / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert all((report / name).is_file() for name in REPORT_FILES)
    (root / "done").touch()
    return report


@pytest.fixture(scope="session")
def real_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run's folder (results.json, junit.xml, index.html) and its sandbox cache (server.crt)."""
    if not hasattr(request.config, "workerinput"):  # no xdist: this session alone
        root = tmp_path_factory.mktemp("signing-run")
        _run_once(root)
        return root
    shared = tmp_path_factory.getbasetemp().parent  # one folder per session, common to the workers
    root = shared / "signing-run"
    with _exclusive(shared / "signing-run.lock"):
        root.mkdir(exist_ok=True)
        _run_once(root)
    return root


@dataclass
class Signed:
    report: Path
    key: Path
    pub: Path
    private_key: ed25519.Ed25519PrivateKey
    facts: dict


def _facts(run_root: Path) -> dict:
    results = json.loads((run_root / "report" / "results.json").read_text(encoding="utf-8"))
    server = x509.load_pem_x509_certificate((run_root / "cache" / "pki" / "server.crt").read_bytes())
    fp = signing.der_fingerprint(server.public_bytes(serialization.Encoding.DER))
    return signing.facts_from_results(results, {"fibrecafe": fp})


@pytest.fixture
def signed(tmp_path: Path, real_run: Path) -> Signed:
    report = tmp_path / "report"
    report.mkdir()
    for name in REPORT_FILES:
        shutil.copy2(real_run / "report" / name, report / name)
    key, pub = signing.keygen(tmp_path / "signer")
    facts = _facts(real_run)
    signing.sign_run(report, str(key), facts)
    return Signed(report, key, pub, signing.load_private_key(key), facts)


def verify_cli(report: Path, *extra: str) -> subprocess.CompletedProcess:
    return fibrecert("verify", str(report), *extra, timeout=60)


def _flip_byte(path: Path, index: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if index is None else index
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _certificate(report: Path) -> dict:
    return json.loads((report / "certificate.json").read_text(encoding="ascii"))


def _write_certificate(report: Path, jws: dict) -> None:
    (report / "certificate.json").write_text(json.dumps(jws), encoding="ascii")


def _change_char(text: str, i: int) -> str:
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]


# --------------------------------------------------------------------------------------------------
# keygen


def test_keygen_writes_a_0600_private_key_and_a_public_key_that_loads(tmp_path):
    done = fibrecert("keygen", str(tmp_path / "k"), timeout=60)
    assert done.returncode == 0, done.stderr
    private, public = tmp_path / "k", tmp_path / "k.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.stat().st_mode & stat.S_IRUSR
    key = signing.load_private_key(private)
    pub = signing.load_public_key(public)
    assert pub.public_bytes_raw() == key.public_key().public_bytes_raw()
    fp = signing.fingerprint(pub)
    assert re.fullmatch(r"SHA256:[0-9a-f]{64}", fp)
    assert fp in done.stdout  # shown before any certificate exists
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted


@pytest.mark.parametrize("existing", ["k", "k.pub"])
def test_keygen_refuses_to_overwrite_either_file(tmp_path, existing):
    (tmp_path / existing).write_text("precious\n")
    done = fibrecert("keygen", str(tmp_path / "k"), timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and existing in done.stderr and "already exists" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # nothing written, nothing replaced
    assert (tmp_path / existing).read_text() == "precious\n"
    with pytest.raises(SigningError):
        signing.keygen(tmp_path / "k")


def test_keygen_into_a_missing_folder_is_a_one_line_error(tmp_path):
    done = fibrecert("keygen", str(tmp_path / "nope" / "k"), timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "nope" in done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------------
# a good certificate


def test_a_signed_report_verifies_with_and_without_the_key(signed):
    result = signing.verify_report(signed.report, signed.pub)
    assert result.ok and result.problems == []
    assert result.verdict == "CONFORMANT"
    assert result.fingerprint == signing.fingerprint(signed.private_key)
    payload = result.payload
    assert payload["files_sha256"].keys() == set(REPORT_FILES)
    assert payload["contracts_sha256"] == signing.contract_digests()
    assert "fibrecafe/1.17/openapi.yaml" in payload["contracts_sha256"]
    for key in ("tool", "contracts", "profile", "seed", "verdict", "counts", "started_at", "finished_at"):
        assert payload[key] == signed.facts[key]
    assert payload["seed"] == 1 and payload["profile"] == "smoke"
    assert payload["target"]["fibrecafe"]["base_url"].startswith("https://")
    assert re.fullmatch(r"SHA256:[0-9a-f]{64}", payload["target"]["fibrecafe"]["server_certificate_sha256"])

    # verified, but a smoke run of the embedded sandbox: "not a certification", exit 4, each reason said
    assert not result.certification and result.scope["target_kind"] == "reference sandbox"
    done = verify_cli(signed.report, "--key", str(signed.pub))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "CONFORMANT" in done.stdout and result.fingerprint in done.stdout and done.stderr == ""
    last = done.stdout.splitlines()[-1]
    assert last.startswith("NOT A CERTIFICATION: ") and "smoke profile" in last and "reference sandbox" in last
    # without --key nothing is vouched for: never 0 (nor 4), and nothing from the certificate as if true
    unpinned = verify_cli(signed.report)
    assert unpinned.returncode == 1 and "no --key" in unpinned.stdout
    assert "CONFORMANT" not in unpinned.stdout and "seed" not in unpinned.stdout


def test_certificate_is_a_flattened_jws_with_an_eddsa_header_and_canonical_payload(signed):
    jws = _certificate(signed.report)
    assert set(jws) == {"payload", "protected", "signature"}
    header = json.loads(_b64url_decode(jws["protected"]))
    pub = signed.private_key.public_key()
    assert header == {"alg": "EdDSA", "kid": signing.fingerprint(pub), "typ": "fibrecert-certificate+json",
                      "jwk": {"kty": "OKP", "crv": "Ed25519", "x": _b64url(pub.public_bytes_raw())}}
    payload_bytes = _b64url_decode(jws["payload"])
    assert payload_bytes == json.dumps(json.loads(payload_bytes), sort_keys=True, separators=(",", ":")).encode()
    # RFC 7515 section 5.2, done here without fibrecert's code: the pinned key verifies the signing input
    pub.verify(_b64url_decode(jws["signature"]), f"{jws['protected']}.{jws['payload']}".encode("ascii"))


def test_signing_again_replaces_the_certificate_and_leaves_no_temporary_file(signed):
    first = (signed.report / "certificate.json").read_bytes()
    signing.sign_report(signed.report, signed.private_key, facts=signed.facts)
    assert sorted(p.name for p in signed.report.iterdir()) == sorted([*REPORT_FILES, "certificate.json"])
    assert (signed.report / "certificate.json").read_bytes() == first  # Ed25519 is deterministic
    assert signing.verify_report(signed.report, signed.pub).ok


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_openssl_verifies_the_certificate_as_the_module_docstring_says(signed, tmp_path):
    if not subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.startswith("OpenSSL 3"):
        pytest.skip("openssl pkeyutl -rawin needs OpenSSL 3")
    jws = _certificate(signed.report)
    (tmp_path / "signing-input").write_bytes(f"{jws['protected']}.{jws['payload']}".encode("ascii"))
    (tmp_path / "signature").write_bytes(_b64url_decode(jws["signature"]))
    other, other_pub = signing.keygen(tmp_path / "other")
    outcomes = {}
    for name, pub in (("signer", signed.pub), ("other", other_pub)):
        done = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
                               "-in", str(tmp_path / "signing-input"), "-sigfile", str(tmp_path / "signature")],
                              capture_output=True, text=True)
        outcomes[name] = (done.returncode, "Signature Verified Successfully" in done.stdout)
    assert outcomes == {"signer": (0, True), "other": (1, False)}
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(signed.pub), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert "SHA256:" + hashlib.sha256(der[-32:]).hexdigest() == json.loads(_b64url_decode(jws["protected"]))["kid"]


# --------------------------------------------------------------------------------------------------
# tampering


@pytest.mark.parametrize("name", REPORT_FILES)
def test_a_changed_byte_in_a_report_file_is_named(signed, name):
    _flip_byte(signed.report / name)
    result = signing.verify_report(signed.report, signed.pub)
    assert not result.ok and len(result.problems) == 1 and result.problems[0].startswith(f"{name}: changed")
    done = verify_cli(signed.report, "--key", str(signed.pub))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout  # the difference, NOT VERIFIED: nothing from the certificate
    assert lines[0].startswith(f"{name}: changed after signing")
    assert lines[1] == "NOT VERIFIED: 1 difference; nothing in the certificate can be relied on"


def test_a_removed_report_file_is_named(signed):
    (signed.report / "junit.xml").unlink()
    result = signing.verify_report(signed.report, signed.pub)
    assert result.problems == ["junit.xml: missing from the report folder"]


def _tamper_payload_byte(jws: dict) -> None:
    jws["payload"] = _change_char(jws["payload"], len(jws["payload"]) // 2)


def _forge_verdict(jws: dict) -> None:
    payload = json.loads(_b64url_decode(jws["payload"]))
    payload["verdict"] = "CONFORMANT" if payload["verdict"] != "CONFORMANT" else "NON_CONFORMANT"
    payload["counts"]["pass"] += 1
    jws["payload"] = _b64url(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())


def _tamper_signature_byte(jws: dict) -> None:
    sig = bytearray(_b64url_decode(jws["signature"]))
    sig[20] ^= 0x01
    jws["signature"] = _b64url(bytes(sig))


def _signature_unused_bits(jws: dict) -> None:
    # 64 bytes take 86 base64url characters; the last one has 2 unused bits. Setting them leaves the
    # decoded signature unchanged in lenient decoders: the text itself changed, so it is refused.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(jws["signature"][-1])
    jws["signature"] = jws["signature"][:-1] + alphabet[last ^ 0b01]
    assert len(jws["signature"]) == 86


def _tamper_protected_header(jws: dict) -> None:
    header = json.loads(_b64url_decode(jws["protected"]))
    header["typ"] = "JWT"
    jws["protected"] = _b64url(json.dumps(header).encode())


@pytest.mark.parametrize("tamper", [_tamper_payload_byte, _forge_verdict, _tamper_signature_byte,
                                    _signature_unused_bits, _tamper_protected_header],
                         ids=lambda f: f.__name__.lstrip("_"))
def test_a_changed_certificate_is_refused(signed, tamper):
    jws = _certificate(signed.report)
    tamper(jws)
    _write_certificate(signed.report, jws)
    result = signing.verify_report(signed.report, signed.pub)
    assert not result.ok and result.problems[0].startswith("certificate.json: "), result.problems
    done = verify_cli(signed.report, "--key", str(signed.pub))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout.startswith("certificate.json: ")


def test_a_changed_raw_byte_of_certificate_json_is_refused(signed):
    _flip_byte(signed.report / "certificate.json", index=30)  # inside the payload's base64url text
    done = verify_cli(signed.report, "--key", str(signed.pub))
    assert done.returncode == 1 and done.stdout.startswith("certificate.json: ")


@pytest.mark.parametrize("content", [None, b"", b"{not json", b"[]", b'{"payload": "e30", "protected": "e30"}',
                                     "general", "unprotected", "duplicate"])
def test_a_missing_or_malformed_certificate_is_a_problem_never_a_traceback(signed, content):
    path = signed.report / "certificate.json"
    jws = _certificate(signed.report)
    if content is None:
        path.unlink()
    elif content == "general":
        path.write_text(json.dumps({"payload": jws["payload"], "signatures": [
            {"protected": jws["protected"], "signature": jws["signature"]}]}))
    elif content == "unprotected":
        path.write_text(json.dumps({**jws, "header": {"kid": "SHA256:" + "0" * 64}}))
    elif content == "duplicate":
        text = path.read_text()
        path.write_text(text.replace('"payload": ', '"payload": "e30", "payload": ', 1))
    else:
        path.write_bytes(content)
    result = signing.verify_report(signed.report, signed.pub)
    assert not result.ok and len(result.problems) == 1 and result.problems[0].startswith("certificate.json: ")
    done = verify_cli(signed.report, "--key", str(signed.pub))
    # no certificate at all: unsigned input, 2 (docs/cli.md); a damaged one: not verified, 1
    assert done.returncode == (2 if content is None else 1) and done.stderr == ""
    assert done.stdout.startswith("certificate.json: ") and "CONFORMANT" not in done.stdout


def test_a_certificate_signed_by_another_key_is_refused_naming_both_fingerprints(signed, tmp_path):
    _, other_pub = signing.keygen(tmp_path / "other")
    done = verify_cli(signed.report, "--key", str(other_pub))
    ours, theirs = signing.fingerprint(signed.private_key), signing.fingerprint(signing.load_public_key(other_pub))
    assert done.returncode == 1
    first = done.stdout.splitlines()[0]
    assert first == f"certificate.json: signed by {ours}, not by the key in {other_pub} ({theirs})"


def test_a_report_re_signed_by_a_forger_passes_only_without_the_registered_key(signed, tmp_path):
    _flip_byte(signed.report / "results.json")
    forger = ed25519.Ed25519PrivateKey.generate()
    signing.sign_report(signed.report, forger, facts=signed.facts)
    assert signing.verify_report(signed.report).ok  # self-consistent: why the key must be pinned
    done = verify_cli(signed.report, "--key", str(signed.pub))
    assert done.returncode == 1 and f"signed by {signing.fingerprint(forger)}" in done.stdout
    assert "CONFORMANT" not in done.stdout and "verdict" not in done.stdout  # nothing shown as if true
    assert verify_cli(signed.report).returncode == 1  # and without --key it never passes either


# --------------------------------------------------------------------------------------------------
# contracts


@pytest.fixture
def modified_contracts(tmp_path: Path) -> Path:
    """A copy of the shipped contracts with one byte of openapi.yaml changed."""
    copy = tmp_path / "contracts"
    for rel in signing.contract_digests():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(signing.CONTRACTS_ROOT / rel, copy / rel)
    openapi = copy / "fibrecafe" / "1.17" / "openapi.yaml"
    data = bytearray(openapi.read_bytes())
    i = data.index(b"maxLength")  # a constraint the run would have generated cases from
    data[i + len("maxLength: ") + 1] ^= 0x01
    openapi.write_bytes(bytes(data))
    return copy


def test_a_run_under_modified_contracts_is_named_by_verify(signed, modified_contracts):
    signing.sign_report(signed.report, signed.private_key, facts=signed.facts, contracts_root=modified_contracts)
    assert signing.verify_report(signed.report, signed.pub, contracts_root=modified_contracts).ok
    done = verify_cli(signed.report, "--key", str(signed.pub))  # against the contracts shipped
    assert done.returncode == 1
    differences = done.stdout.splitlines()[:-1]
    assert len(differences) == 2, done.stdout
    assert differences[0].startswith("contract fibrecafe/1.17/openapi.yaml: differs from the one shipped")
    assert differences[1].startswith("contracts digest: the run was made against ")
    # --contract DIR: compared with those contracts instead, the certificate verifies (not a certification)
    assert verify_cli(signed.report, "--key", str(signed.pub), "--contract", str(modified_contracts)).returncode == 4
    missing = verify_cli(signed.report, "--key", str(signed.pub), "--contract", str(modified_contracts / "nowhere"))
    assert missing.returncode == 2 and "--contract" in missing.stderr


def test_a_missing_or_extra_contract_file_is_named(signed, modified_contracts):
    (modified_contracts / "requirements" / "ala-2.30.yaml").unlink()
    (modified_contracts / "fibrecafe" / "1.17" / "extra.json").write_text("{}")
    signing.sign_report(signed.report, signed.private_key, facts=signed.facts, contracts_root=modified_contracts)
    problems = signing.verify_report(signed.report, signed.pub).problems
    assert problems[:3] == [
        "contract fibrecafe/1.17/extra.json: in the certificate, not shipped with this fibrecert",
        problems[1],
        "contract requirements/ala-2.30.yaml: shipped with this fibrecert, not in the certificate",
    ]
    assert problems[1].startswith("contract fibrecafe/1.17/openapi.yaml: differs")
    assert [p.split(":")[0] for p in problems[3:]] == ["contracts digest", "catalogue digest"]


def test_contract_digests_cover_exactly_the_contract_files_the_package_ships():
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = data["tool"]["setuptools"]["package-data"]["fibrecert.contracts"]
    contracts = REPO / "contracts"
    shipped = {p.relative_to(contracts).as_posix() for g in globs for p in contracts.glob(g)}
    assert set(signing.contract_digests(contracts)) == shipped
    assert list(signing.contract_digests(contracts)) == sorted(shipped)


# --------------------------------------------------------------------------------------------------
# the private key stays private


def _needles(key_path: Path) -> list[str]:
    key = signing.load_private_key(key_path)
    raw = key.private_bytes_raw()
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pem_lines = [line for line in key_path.read_text().splitlines() if line and not line.startswith("-----")]
    found = [*pem_lines, "PRIVATE KEY"]
    for blob in (raw, der):
        found += [base64.b64encode(blob).decode(), _b64url(blob), blob.hex(), blob.hex().upper()]
    return found


def _haystack(report: Path) -> str:
    parts = []
    for path in report.iterdir():
        parts.append(path.read_bytes().decode("utf-8", "replace"))
    jws = _certificate(report)
    parts += [_b64url_decode(jws["protected"]).decode(), _b64url_decode(jws["payload"]).decode()]
    return "\n".join(parts)


def test_the_private_key_reaches_no_report_file_and_no_terminal(signed, tmp_path, monkeypatch):
    outputs = []
    done = fibrecert("keygen", str(tmp_path / "cli-key"), timeout=60)
    outputs.append(done.stdout + done.stderr)
    for key in (signed.key, tmp_path / "cli-key"):
        needles = _needles(key)
        assert len(needles) >= 10
        monkeypatch.setenv("FIBRECERT_TEST_SIGNING_KEY", key.read_text())
        signing.sign_run(signed.report, "env:FIBRECERT_TEST_SIGNING_KEY", signed.facts)
        for extra in ([], ["--key", str(signed.pub)], ["--key", str(key)]):  # the last: a private key by mistake
            done = verify_cli(signed.report, *extra)
            outputs.append(done.stdout + done.stderr)
        haystack = _haystack(signed.report) + "\n".join(outputs)
        leaked = [n[:12] for n in needles if n in haystack]
        assert leaked == [], f"private key material found: {leaked}"
    assert "holds a private key" in outputs[-1]


def test_env_var_key_signs_like_the_file(signed, monkeypatch):
    monkeypatch.setenv("FIBRECERT_TEST_SIGNING_KEY", signed.key.read_text())
    signing.sign_run(signed.report, "env:FIBRECERT_TEST_SIGNING_KEY", signed.facts)
    result = signing.verify_report(signed.report, signed.pub)
    assert result.ok and result.fingerprint == signing.fingerprint(signing.load_public_key(signed.pub))


def _bad_key_cases(tmp_path: Path, signed: Signed, monkeypatch) -> dict[str, tuple[str, str]]:
    """name -> (spec, text that must be named in the error)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "rsa.pem").write_bytes(rsa_key)
    encrypted = signed.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.BestAvailableEncryption(b"pw"))
    (tmp_path / "encrypted.pem").write_bytes(encrypted)
    truncated = signed.key.read_text()[:-40]
    (tmp_path / "truncated.pem").write_text(truncated)
    monkeypatch.setenv("FIBRECERT_TEST_TRUNCATED_KEY", truncated)
    monkeypatch.setenv("FIBRECERT_TEST_EMPTY_KEY", "")
    monkeypatch.delenv("FIBRECERT_TEST_UNSET_KEY", raising=False)
    return {
        "missing file": (str(tmp_path / "absent.pem"), "absent.pem"),
        "folder": (str(tmp_path), str(tmp_path)),
        "public key": (str(signed.pub), "signer.pub"),
        "rsa key": (str(tmp_path / "rsa.pem"), "rsa.pem"),
        "encrypted": (str(tmp_path / "encrypted.pem"), "encrypted.pem"),
        "truncated": (str(tmp_path / "truncated.pem"), "truncated.pem"),
        "env unset": ("env:FIBRECERT_TEST_UNSET_KEY", "FIBRECERT_TEST_UNSET_KEY"),
        "env empty": ("env:FIBRECERT_TEST_EMPTY_KEY", "FIBRECERT_TEST_EMPTY_KEY"),
        "env truncated": ("env:FIBRECERT_TEST_TRUNCATED_KEY", "FIBRECERT_TEST_TRUNCATED_KEY"),
        "env no name": ("env:", "env:"),
    }


def test_every_bad_private_key_is_a_one_line_error_naming_file_or_variable(signed, tmp_path, monkeypatch):
    secret_lines = [line for line in signed.key.read_text().splitlines() if not line.startswith("-----")]
    for name, (spec, named) in _bad_key_cases(tmp_path, signed, monkeypatch).items():
        with pytest.raises(SigningError) as caught:
            signing.load_private_key(spec)
        message = str(caught.value)
        assert "\n" not in message and named in message, (name, message)
        assert not any(line in message for line in secret_lines), name
    with pytest.raises(SigningError, match="^environment variable FIBRECERT_TEST_UNSET_KEY is not set"):
        signing.load_private_key("env:FIBRECERT_TEST_UNSET_KEY")


# --------------------------------------------------------------------------------------------------
# usage errors


def test_verify_usage_errors_exit_2_with_one_line(signed, tmp_path):
    cases = {
        "missing dir": ([str(tmp_path / "nowhere")], "nowhere"),
        "missing key": ([str(signed.report), "--key", str(tmp_path / "absent.pub")], "absent.pub"),
        "not a key": ([str(signed.report), "--key", str(signed.report / "junit.xml")], "junit.xml"),
    }
    for name, (args, named) in cases.items():
        done = fibrecert("verify", *args, timeout=60)
        assert done.returncode == 2, name
        assert done.stderr.count("\n") == 1 and named in done.stderr and "Traceback" not in done.stderr, name
        assert done.stdout == "", name


def test_sign_report_refuses_an_unfinished_report(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(SigningError, match="junit.xml: missing"):
        signing.sign_report(tmp_path, ed25519.Ed25519PrivateKey.generate(), facts={})
    assert not (tmp_path / "certificate.json").exists()


def test_a_scope_that_contradicts_its_own_facts_is_not_verified(signed):
    """The scope is recomputed from the payload's profile, selection and target kind: a certificate that
    calls a smoke run of the reference sandbox a certification is refused (exit 1), never exit 0."""
    facts = {**signed.facts, "scope": {**signed.facts["scope"], "certification": True, "not_a_certification": []}}
    signing.sign_report(signed.report, signed.private_key, facts=facts)
    result = signing.verify_report(signed.report, signed.pub)
    assert not result.ok and not result.certification
    assert any("the scope says certification True" in p for p in result.problems), result.problems
    done = verify_cli(signed.report, "--key", str(signed.pub))
    assert done.returncode == 1 and "CERTIFICATION" not in done.stdout.replace("NOT VERIFIED", "")
