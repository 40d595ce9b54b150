"""Signed certification evidence: `certificate.json`, `fibrecert keygen` and `fibrecert verify`.

A partner runs fibrecert against its own implementation and hands the report folder to a certifying
body. `certificate.json`, written beside `results.json`, `junit.xml` and `index.html`, lets that body
check that the report came from an unmodified run of the contracts shipped with a given fibrecert
version, and that not a byte of the report changed since it was signed.

The format
----------
`certificate.json` is a JWS in the flattened JSON serialization (RFC 7515 section 7.2.2) signed with
Ed25519 (`alg` "EdDSA", RFC 8037)::

    {"payload": BASE64URL(payload), "protected": BASE64URL(header), "signature": BASE64URL(signature)}

- header (protected, so it is covered by the signature)::

      {"alg": "EdDSA", "kid": "SHA256:<hex>", "typ": "fibrecert-certificate+json",
       "jwk": {"kty": "OKP", "crv": "Ed25519", "x": BASE64URL(32-byte public key)}}

  `kid` is the signer's fingerprint: "SHA256:" + the hex SHA-256 of the raw 32-byte public key (what
  `fibrecert keygen` prints and the HTML report shows).
- payload: canonical JSON (keys sorted, no spaces, ASCII) of the run's facts (tool name and version,
  contract versions, the contracts and catalogue `digests`, the target's base URLs and the SHA-256
  fingerprint of each server certificate seen on the wire, `server_certificates`: every one that
  answered, per origin, profile, seed, selection, `scope` (a certification or not, and why not:
  fibrecert/scope.py), verdict, counts, start and end, the signer's `signature` fingerprint) plus
  `contracts_sha256` {path under the contracts folder: hex SHA-256} for every contract file the
  installed fibrecert ships, and `files_sha256` {"results.json", "junit.xml", "index.html": hex SHA-256}.
- signature: Ed25519 over the ASCII bytes `protected + "." + payload` (both still base64url), as
  RFC 7515 section 5.1 says. The payload is signed as carried: no verifier needs to re-canonicalise.

The private key never enters the report: only the public key (in `jwk`) and its fingerprint do.

How a certifying body verifies
------------------------------
The partner registers its public key (`KEY.pub`, written by `fibrecert keygen KEY`) with the body,
once. For each report folder it is handed:

- With a checkout (or install) of the same fibrecert version::

      fibrecert verify REPORT_DIR --key KEY.pub

  exit 0: the signature is good, made by that key, every report file, every contract file and the
  contract and catalogue digests match, and the run is a certification (fibrecert/scope.py: standard
  or full, the whole catalogue, not the embedded sandbox); exit 4: all of that is good but the run is
  not a certification (each reason printed); exit 1: not verified, each difference on its own line (a
  changed file, a contract that differs from the ones this fibrecert ships or from `--contract DIR`,
  another signing key, a damaged certificate), or no `--key` given (a certificate is always consistent
  with the key it carries itself: anybody can make one); exit 2: unsigned (no certificate.json) or
  unusable input. After a failure nothing from the certificate is printed.

- With OpenSSL 3 and jq only (no fibrecert)::

      b64url() { tr '_-' '/+' | awk '{ while (length($0) % 4) $0 = $0 "="; print }' | base64 -d; }
      cd REPORT_DIR
      jq -j '.protected + "." + .payload' certificate.json > /tmp/signing-input
      jq -j .signature certificate.json | b64url > /tmp/signature
      openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in /tmp/signing-input -sigfile /tmp/signature
      jq -j .payload certificate.json | b64url | jq .files_sha256    # compare with:
      sha256sum results.json junit.xml index.html
      openssl pkey -pubin -in KEY.pub -outform DER | tail -c 32 | sha256sum   # = kid, without "SHA256:"

  `openssl pkeyutl` prints "Signature Verified Successfully" only for a signature made by KEY.pub. The
  contract digests (`jq .contracts_sha256`) compare with `sha256sum` of the files under fibrecert's
  `contracts/` folder of the same version. Any JOSE library that supports EdDSA verifies the same
  file as it stands (e.g. Python `jwcrypto`, Node `jose`: `flattenedVerify(jws, publicKey)`), given
  the public key; pin the key rather than trusting the `jwk` the header carries.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CERTIFICATE_NAME = "certificate.json"
REPORT_FILES = ("results.json", "junit.xml", "index.html")
JWS_TYPE = "fibrecert-certificate+json"
CONTRACT_SUFFIXES = (".xsd", ".yaml", ".json")


def _default_contracts_root() -> Path:
    # The folder of the installed `fibrecert.contracts` package, found without importing it.
    spec = importlib.util.find_spec("fibrecert.contracts")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - broken install
        raise RuntimeError("fibrecert.contracts is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


# Where the shipped contracts are. A module attribute (read at call time) and a parameter of
# contract_digests(), sign_report() and verify_report(), so that a test can point at a modified copy.
CONTRACTS_ROOT: Path = _default_contracts_root()


class SigningError(Exception):
    """A problem with a key, a path or the input: one line, never any key material."""


# --------------------------------------------------------------------------------------------------
# keys


def keygen(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new Ed25519 key: the private key (PEM, PKCS#8, unencrypted, mode 0600) at PATH and the
    public key (PEM, SubjectPublicKeyInfo) at PATH.pub. Refuses to overwrite either file."""
    text = os.fspath(path)
    private_path = Path(text)
    if not text or private_path.name in ("", ".", "..") or text.endswith(("/", os.sep)):
        raise SigningError(f"{text!r}: not a file name (give the path of the private key to write, e.g. signer)")
    public_path = private_path.with_name(private_path.name + ".pub")
    for p in (private_path, public_path):
        if p.exists() or p.is_symlink():
            raise SigningError(f"{p}: already exists; not overwritten (choose another PATH or remove it)")
    if not private_path.parent.is_dir():
        raise SigningError(f"{private_path.parent}: no such folder")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return private_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """A new file with exactly `mode`, complete or not at all (fibrecert/safefiles.py), never over an
    existing one."""
    from fibrecert.safefiles import write_private

    try:
        write_private(path, data, replace=False, mode=mode)
    except FileExistsError:
        raise SigningError(f"{path}: already exists; not overwritten (choose another PATH or remove it)") from None
    except OSError as exc:
        raise SigningError(f"{path}: cannot create ({exc.strerror or type(exc).__name__})") from None


def load_private_key(spec: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The Ed25519 private key named by SPEC: a path to a PEM file, or `env:VAR` (the PEM text in the
    environment variable VAR). Every problem is a one-line SigningError naming the file or variable."""
    text = os.fspath(spec)
    if text.startswith("env:"):
        var = text[4:]
        where = f"environment variable {var}"
        if not var:
            raise SigningError("env: needs a variable name (env:VAR, the private key's PEM text in VAR)")
        value = os.environ.get(var)
        if value is None:
            raise SigningError(f"{where} is not set (it should hold the private key's PEM text)")
        if not value.strip():
            raise SigningError(f"{where} is empty (it should hold the private key's PEM text)")
        data = value.encode("utf-8", "replace")
    else:
        where = text
        data = _read_key_file(Path(text), "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted: a password would be needed
        raise SigningError(f"{where}: the private key is encrypted; give an unencrypted PKCS#8 PEM "
                           "(as `fibrecert keygen` writes)") from None
    except (ValueError, UnsupportedAlgorithm):
        if b"PUBLIC KEY" in data and b"PRIVATE KEY" not in data:
            raise SigningError(f"{where}: holds a public key; signing needs the private key "
                               "(the file without .pub)") from None
        raise SigningError(f"{where}: not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{where}: not an Ed25519 key (make one with `fibrecert keygen PATH`)")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file PATH (as `fibrecert keygen` writes to PATH.pub)."""
    where = os.fspath(path)
    data = _read_key_file(Path(where), "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        if b"PRIVATE KEY" in data:
            raise SigningError(f"{where}: holds a private key; give the public key (the .pub file), "
                               "and keep the private one to yourself") from None
        raise SigningError(f"{where}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{where}: not an Ed25519 public key")
    return key


def _read_key_file(path: Path, what: str) -> bytes:
    """A key file: a regular file of at most 64 KiB (never a FIFO or /dev/zero: fibrecert/safefiles.py)."""
    from fibrecert.safefiles import InputError, read_regular

    if path.is_dir():
        raise SigningError(f"{path}: is a folder, not a {what} file")
    if not os.path.lexists(path):
        raise SigningError(f"{path}: no such {what} file")
    try:
        return read_regular(path, f"{what} file", 64 * 1024)
    except InputError as exc:
        raise SigningError(str(exc)) from None


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """"SHA256:" + hex SHA-256 of the raw 32-byte public key (a private key: of its public half)."""
    if isinstance(public_key, Ed25519PrivateKey):
        public_key = public_key.public_key()
    return "SHA256:" + hashlib.sha256(_raw_public(public_key)).hexdigest()


def der_fingerprint(der: bytes) -> str:
    """The fingerprint written for a server certificate seen on the wire: "SHA256:" + hex SHA-256 of
    its DER encoding (what `openssl x509 -noout -fingerprint -sha256` shows, without colons)."""
    return "SHA256:" + hashlib.sha256(der).hexdigest()


# --------------------------------------------------------------------------------------------------
# digests and encodings


def _sha256_file(path: Path) -> str:
    """SHA-256 of a regular file (OSError for anything else: a FIFO or /dev/zero would never end)."""
    import stat

    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(22, "not a regular file")
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def contract_digests(root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """SHA-256 (hex) of every shipped contract file (*.xsd, *.yaml, *.json) under the contracts folder
    ROOT (default: CONTRACTS_ROOT, the installed package's), keyed by '/'-separated path relative to
    ROOT, sorted."""
    base = Path(root) if root is not None else CONTRACTS_ROOT
    found: dict[str, str] = {}
    for path in base.rglob("*"):
        rel = path.relative_to(base)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if path.suffix in CONTRACT_SUFFIXES and path.is_file():
            found[rel.as_posix()] = _sha256_file(path)
    return dict(sorted(found.items()))


CATALOGUE_PREFIX = "requirements/"


def _digest_of(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(sorted(files.items())), sort_keys=True,
                                     separators=(",", ":")).encode("ascii")).hexdigest()


def digests(contracts_root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """{"contracts": hex, "catalogue": hex} of the contracts installed (or under contracts_root): the
    contracts and the catalogue (the files under requirements/) bound by digest (results.json `digests`)."""
    files = contract_digests(contracts_root)
    catalogue = {k: v for k, v in files.items() if k.startswith(CATALOGUE_PREFIX)}
    others = {k: v for k, v in files.items() if not k.startswith(CATALOGUE_PREFIX)}
    return {"contracts": _digest_of(others), "catalogue": _digest_of(catalogue)}


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, ASCII only, no NaN: the payload's bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64url_decode(text: Any, what: str) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2): anything else, including an encoding
    whose unused trailing bits are set (so that two texts would decode the same), is refused."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError(f"{what} is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64url") from None
    if _b64url(data) != text:
        raise ValueError(f"{what} is not canonical base64url")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError(f"duplicate member {k!r}")
        seen[k] = v
    return seen


def _strict_json(data: bytes | str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    from fibrecert.safefiles import check_depth

    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=refuse)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    check_depth(value, 32)  # a certificate nests 3 deep: nothing later recurses into a deeper one
    return value


def _jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(_raw_public(public_key))}


# --------------------------------------------------------------------------------------------------
# signing


def sign_report(report_dir: str | os.PathLike[str], private_key: Ed25519PrivateKey, *, facts: dict[str, Any],
                contracts_root: str | os.PathLike[str] | None = None) -> Path:
    """Write REPORT_DIR/certificate.json (atomically) and return its path.

    FACTS are the run's facts, passed in by the caller (see facts_from_results()); the payload adds
    `contracts_sha256` (contract_digests(contracts_root)) and `files_sha256` of the three report files,
    which must already be written in their final form."""
    directory = Path(report_dir)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise SigningError("signing needs an Ed25519 private key (see load_private_key())")
    if not isinstance(facts, dict):
        raise SigningError("facts must be a dict")
    clash = sorted({"contracts_sha256", "files_sha256"} & facts.keys())
    if clash:
        raise SigningError(f"facts must not carry {', '.join(clash)}: the certificate computes them")
    files: dict[str, str] = {}
    for name in REPORT_FILES:
        path = directory / name
        try:
            files[name] = _sha256_file(path)
        except FileNotFoundError:
            raise SigningError(f"{path}: missing; sign after the report is written") from None
        except OSError as exc:
            raise SigningError(f"{path}: cannot read ({exc.strerror})") from None
    payload = {**facts, "contracts_sha256": contract_digests(contracts_root), "files_sha256": files}
    if "digests" in facts:  # the run's contract and catalogue digests, of the contracts it signs for
        payload["digests"] = digests(contracts_root)
    try:
        payload_bytes = canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise SigningError(f"facts are not plain JSON ({exc})") from None
    public_key = private_key.public_key()
    header = {"alg": "EdDSA", "kid": fingerprint(public_key), "jwk": _jwk(public_key), "typ": JWS_TYPE}
    protected = _b64url(canonical_json(header))
    encoded_payload = _b64url(payload_bytes)
    signature = private_key.sign(f"{protected}.{encoded_payload}".encode("ascii"))
    jws = {"payload": encoded_payload, "protected": protected, "signature": _b64url(signature)}
    target = directory / CERTIFICATE_NAME
    _write_atomically(target, (json.dumps(jws, indent=2, sort_keys=True) + "\n").encode("ascii"))
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    from fibrecert.safefiles import write_private

    try:
        write_private(target, data, mode=0o644)
    except OSError as exc:
        raise SigningError(f"{target}: cannot write ({exc.strerror})") from None


def sign_run(report_dir: str | os.PathLike[str], key_spec: str, result_facts: dict[str, Any]) -> Path:
    """What `fibrecert run --sign KEY_SPEC` calls once the report is written: load the key (a path or
    `env:VAR`) and sign. Raises SigningError (one line) for a bad key; call load_private_key() before
    the run as well, so that a bad key is refused (exit 2) before any request."""
    return sign_report(report_dir, load_private_key(key_spec), facts=result_facts)


def facts_from_results(results: dict[str, Any], server_certificates: dict[str, str] | None = None) -> dict[str, Any]:
    """The facts a certificate carries, taken from a results.json document, with the fingerprint
    (der_fingerprint()) of the server certificate seen on the wire for each API added to its target
    entry as `server_certificate_sha256`."""
    target = {api: dict(entry) if isinstance(entry, dict) else entry
              for api, entry in (results.get("target") or {}).items()}
    for api, fp in (server_certificates or {}).items():
        target.setdefault(api, {})["server_certificate_sha256"] = fp
    facts = {key: results.get(key) for key in ("tool", "contracts", "profile", "seed", "verdict", "counts",
                                                "started_at", "finished_at", "selection", "scope", "digests",
                                                "server_certificates", "signature")}
    facts["target"] = target
    return facts


# --------------------------------------------------------------------------------------------------
# verifying


@dataclass
class Verification:
    """What verify_report() found. `ok` only when `problems` is empty."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    verdict: str | None = None          # the verdict the certificate carries
    fingerprint: str | None = None      # the signer's key, as the certificate carries it
    payload: dict[str, Any] | None = None
    unsigned: bool = False              # no certificate.json at all (exit 2, not 1)
    pinned: bool = False                # a --key was given (and, when ok, it is the signer's)
    scope: dict[str, Any] | None = None  # fibrecert/scope.py, recomputed from the payload's own facts

    @property
    def certification(self) -> bool:
        return bool(self.ok and self.scope and self.scope.get("certification") is True)


def verify_report(report_dir: str | os.PathLike[str], public_key_path: str | os.PathLike[str] | None = None, *,
                  contracts_root: str | os.PathLike[str] | None = None) -> Verification:
    """Check REPORT_DIR/certificate.json: the signature (with the key it carries; with PUBLIC_KEY_PATH,
    also that it is that key), the SHA-256 of each report file, and the contract digests against the
    contracts installed here (or CONTRACTS_ROOT). Every difference is a one-line problem.

    Raises SigningError only for usage errors: REPORT_DIR missing, PUBLIC_KEY_PATH unusable."""
    directory = Path(report_dir)
    if not directory.is_dir():
        raise SigningError(f"{directory}: no such report folder")
    pinned = load_public_key(public_key_path) if public_key_path is not None else None
    result = Verification(ok=False, pinned=pinned is not None)
    problems = result.problems
    cert_path = directory / CERTIFICATE_NAME

    from fibrecert.safefiles import InputError, read_regular

    if not os.path.lexists(cert_path):
        problems.append(f"{CERTIFICATE_NAME}: missing (the report was not signed, or the certificate was removed)")
        result.unsigned = True
        return result
    try:  # a regular file of bounded size: never a FIFO, /dev/zero or a huge file
        raw = read_regular(cert_path, "certificate", 1024 * 1024)
    except InputError as exc:
        problems.append(f"{CERTIFICATE_NAME}: cannot be used: {_safe(str(exc).partition(': ')[2])}")
        return result

    try:
        protected, encoded_payload, signature, header, payload_bytes = _parse_jws(raw)
    except ValueError as exc:
        problems.append(f"{CERTIFICATE_NAME}: {exc}")
        return result

    try:
        signer = _header_key(header)
    except ValueError as exc:
        problems.append(f"{CERTIFICATE_NAME}: protected header: {exc}")
        return result
    result.fingerprint = fingerprint(signer)

    try:
        signer.verify(signature, f"{protected}.{encoded_payload}".encode("ascii"))
    except InvalidSignature:
        problems.append(f"{CERTIFICATE_NAME}: the signature does not match the signed header and payload "
                        "(the certificate was changed after signing)")
    if pinned is not None and _raw_public(pinned) != _raw_public(signer):
        problems.append(f"{CERTIFICATE_NAME}: signed by {result.fingerprint}, not by the key in "
                        f"{public_key_path} ({fingerprint(pinned)})")

    try:
        payload = _strict_json(payload_bytes)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(f"{CERTIFICATE_NAME}: the payload is not a JSON object ({_safe(str(exc))})")
        return result
    result.payload = payload
    if isinstance(payload.get("verdict"), str):
        result.verdict = payload["verdict"]

    _check_files(directory, payload.get("files_sha256"), problems)
    _check_contracts(payload, contracts_root, problems)
    _check_digests(payload, contracts_root, problems)
    result.scope = _scope_of(payload, problems)
    result.ok = not problems
    return result


def _check_digests(payload: dict[str, Any], contracts_root: Any, problems: list[str]) -> None:
    """The contracts and catalogue digests the run recorded (fibrecert/scope.py) against the ones of the
    contracts here (a certificate of an older fibrecert carries none: the per-file digests then decide)."""

    claimed = payload.get("digests")
    if claimed is None:
        return
    if not isinstance(claimed, dict):
        problems.append(f"{CERTIFICATE_NAME}: digests is not an object")
        return
    here = digests(contracts_root)
    for what in ("contracts", "catalogue"):
        if claimed.get(what) != here[what]:
            problems.append(f"{what} digest: the run was made against {_safe(str(claimed.get(what)))}, these "
                            f"contracts are {here[what]} (a certificate made against other "
                            f"{'contracts' if what == 'contracts' else 'requirement catalogue'})")


def _scope_of(payload: dict[str, Any], problems: list[str]) -> dict[str, Any] | None:
    """The scope recomputed from the payload's profile, selection and target kind (never taken from its
    `certification` flag alone); a payload whose flag disagrees with its own facts is a problem."""
    from fibrecert.scope import VENDOR_TARGET, assess

    carried = payload.get("scope")
    if not isinstance(carried, dict):
        return None  # an older certificate: no scope, so never a certification
    selection = payload.get("selection")
    profile = payload.get("profile")
    if not isinstance(profile, str) or not isinstance(selection, str):
        problems.append(f"{CERTIFICATE_NAME}: the payload's profile or selection is missing")
        return None
    scope = assess(profile, embedded=carried.get("target_kind") != VENDOR_TARGET, selection=selection)
    if carried.get("certification") != scope["certification"]:
        problems.append(f"{CERTIFICATE_NAME}: the scope says certification {carried.get('certification')!r}, "
                        f"but its own facts (profile {_safe(profile)}, selection {_safe(selection or 'all')}, "
                        f"target {_safe(str(carried.get('target_kind')))}) make it {scope['certification']!r}")
    return scope


def _parse_jws(raw: bytes) -> tuple[str, str, bytes, dict[str, Any], bytes]:
    try:
        jws = _strict_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({_safe(str(exc))})") from None
    if not isinstance(jws, dict):
        raise ValueError("not a JWS: a JSON object with payload, protected and signature is expected")
    if "signatures" in jws:
        raise ValueError("a general JWS serialization; fibrecert writes the flattened one")
    expected = {"payload", "protected", "signature"}
    missing, extra = sorted(expected - jws.keys()), sorted(jws.keys() - expected)
    if missing:
        raise ValueError(f"not a JWS: no {', '.join(missing)}")
    if extra:  # an unprotected "header" would be unsigned: fibrecert never writes one
        raise ValueError(f"unexpected member(s) {_safe(', '.join(extra))} (not covered by the signature)")
    protected, encoded_payload = jws["protected"], jws["payload"]
    header_bytes = _b64url_decode(protected, "protected")
    payload_bytes = _b64url_decode(encoded_payload, "payload")
    signature = _b64url_decode(jws["signature"], "signature")
    if len(signature) != 64:
        raise ValueError("signature is not 64 bytes (not an Ed25519 signature)")
    try:
        header = _strict_json(header_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the protected header is not JSON ({_safe(str(exc))})") from None
    if not isinstance(header, dict):
        raise ValueError("the protected header is not a JSON object")
    return protected, encoded_payload, signature, header, payload_bytes


def _header_key(header: dict[str, Any]) -> Ed25519PublicKey:
    if header.get("alg") != "EdDSA":
        raise ValueError(f"alg is {_safe(repr(header.get('alg')))}, not \"EdDSA\"")
    if header.get("typ") != JWS_TYPE:
        raise ValueError(f"typ is {_safe(repr(header.get('typ')))}, not \"{JWS_TYPE}\"")
    if "crit" in header:  # RFC 7515 section 4.1.11: extensions we do not understand are refused
        raise ValueError("carries crit (extensions fibrecert does not know)")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("jwk is not an Ed25519 public key (kty OKP, crv Ed25519)")
    if "d" in jwk:
        raise ValueError("jwk carries a private key (d)")
    x = _b64url_decode(jwk.get("x"), "jwk x")
    if len(x) != 32:
        raise ValueError("jwk x is not 32 bytes")
    key = Ed25519PublicKey.from_public_bytes(x)
    if header.get("kid") != fingerprint(key):
        raise ValueError(f"kid {_safe(repr(header.get('kid')))} is not the fingerprint of jwk ({fingerprint(key)})")
    return key


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _check_files(directory: Path, claimed: Any, problems: list[str]) -> None:
    if not isinstance(claimed, dict):
        problems.append(f"{CERTIFICATE_NAME}: the payload has no files_sha256")
        return
    for name in sorted(claimed.keys() - set(REPORT_FILES)):
        problems.append(f"{CERTIFICATE_NAME}: files_sha256 names an unexpected file {_safe(repr(name))}")
    for name in REPORT_FILES:
        want = claimed.get(name)
        if not isinstance(want, str) or not _HEX64.fullmatch(want):
            problems.append(f"{name}: the certificate carries no SHA-256 for it")
            continue
        path = directory / name
        try:
            got = _sha256_file(path)
        except FileNotFoundError:
            problems.append(f"{name}: missing from the report folder")
            continue
        except OSError as exc:
            problems.append(f"{name}: cannot read ({exc.strerror})")
            continue
        if got != want:
            problems.append(f"{name}: changed after signing (SHA-256 {got}, the certificate says {want})")


def _check_contracts(payload: dict[str, Any], contracts_root: Any, problems: list[str]) -> None:
    claimed = payload.get("contracts_sha256")
    if not isinstance(claimed, dict):
        problems.append(f"{CERTIFICATE_NAME}: the payload has no contracts_sha256")
        return
    here = contract_digests(contracts_root)
    before = len(problems)
    for rel in sorted(claimed.keys() | here.keys()):
        shown = _safe(rel)
        if rel not in here:
            problems.append(f"contract {shown}: in the certificate, not shipped with this fibrecert")
        elif rel not in claimed:
            problems.append(f"contract {shown}: shipped with this fibrecert, not in the certificate")
        elif claimed[rel] != here[rel]:
            problems.append(f"contract {shown}: differs from the one shipped with this fibrecert "
                            f"(run with SHA-256 {_safe(str(claimed[rel]))}, shipped {here[rel]})")
    if len(problems) > before:
        from fibrecert import __version__

        tool = payload.get("tool")
        signed_with = tool.get("version") if isinstance(tool, dict) else None
        if isinstance(signed_with, str) and signed_with != __version__:
            problems.append(f"the certificate was made with fibrecert {_safe(signed_with)}; this is fibrecert "
                            f"{__version__}: verify with the same version")


def _safe(text: str, limit: int = 200) -> str:
    """Text from the certificate, made safe for a terminal (control characters shown as escapes)."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------
# command line


def register(subparsers: Any) -> None:
    """Add `keygen` and `verify` to the `fibrecert` command's subparsers."""
    k = subparsers.add_parser(
        "keygen", help="make an Ed25519 key for signing reports (PATH and PATH.pub)",
        description="Write a new Ed25519 signing key: the private key at PATH (PEM, PKCS#8, unencrypted, "
                    "mode 0600; give it to `fibrecert run --sign PATH` and to nobody else) and the public "
                    "key at PATH.pub (give it to the certifying body). Refuses to overwrite either file. "
                    "Exit 0 written, 2 error (file exists, folder missing).")
    k.add_argument("path", metavar="PATH", help="where to write the private key (the public key goes to PATH.pub)")

    v = subparsers.add_parser(
        "verify", help="check a signed report folder: exit 0 a verified certification, 4 verified but not a "
                       "certification, 1 not verified, 2 unsigned or unusable input",
        description="Check DIR/certificate.json: its Ed25519 signature by the pinned key (--key), the SHA-256 "
                    "of results.json, junit.xml and index.html, and the SHA-256 of every contract file and of "
                    "the contracts and requirement catalogue against the contracts here (--contract). Then say "
                    "what was certified: tool version, digests, profile, seed, selection, target and the "
                    "server certificates that answered, start and end, verdict and counts, signer.",
        epilog=VERIFY_EXIT_CODES)
    v.add_argument("dir", metavar="DIR", help="the report folder (with certificate.json)")
    v.add_argument("--key", metavar="PUB", default=None,
                   help="the signer's registered public key (PEM, the PATH.pub of `fibrecert keygen`); "
                        "without it nothing is vouched for and the exit status is never 0")
    v.add_argument("--contract", metavar="DIR", default=None,
                   help="the contracts folder to compare with (default: the contracts this fibrecert ships); "
                        "a certificate made against other contract or catalogue digests is reported")


def run_keygen(args: argparse.Namespace) -> int:
    try:
        private_path, public_path = keygen(args.path)
        fp = fingerprint(load_public_key(public_path))
    except SigningError as exc:
        sys.stderr.write(f"fibrecert: {exc}\n")
        return 2
    print(f"private key  {private_path}  (mode 0600: keep it secret; `fibrecert run --sign {private_path}`)")
    print(f"public key   {public_path}  (give it to the certifying body)")
    print(f"fingerprint  {fp}")
    return 0


VERIFY_OK, VERIFY_FAILED, VERIFY_UNUSABLE, VERIFY_NOT_A_CERTIFICATION = 0, 1, 2, 4
VERIFY_EXIT_CODES = ("exit status: 0 verified (signature good, made by the --key given, every digest good) and a "
                     "certification; 4 verified, but not a certification (smoke profile, the reference sandbox, "
                     "a subset); 1 not verified (a difference, another key, no --key); 2 unsigned (no "
                     "certificate.json) or unusable input (DIR missing, --key or --contract unusable)")


def run_verify(args: argparse.Namespace) -> int:
    contracts_root = getattr(args, "contract", None)
    if contracts_root is not None and not Path(contracts_root).is_dir():
        sys.stderr.write(f"fibrecert: --contract {contracts_root}: no such contracts folder\n")
        return VERIFY_UNUSABLE
    try:
        result = verify_report(args.dir, args.key, contracts_root=contracts_root)
    except SigningError as exc:
        sys.stderr.write(f"fibrecert: {exc}\n")
        return VERIFY_UNUSABLE
    for problem in result.problems:
        print(problem)
    if result.unsigned:
        print("NOT VERIFIED: the report is not signed; nothing in it is vouched for")
        return VERIFY_UNUSABLE
    if not result.ok:
        # Nothing from the certificate is shown: after a failure none of it can be relied on.
        count = len(result.problems)
        print(f"NOT VERIFIED: {count} difference{'s' if count != 1 else ''}; nothing in the certificate can be "
              "relied on")
        return VERIFY_FAILED
    if not result.pinned:
        print(f"NOT VERIFIED: no --key: the certificate is consistent with the key it carries itself "
              f"({result.fingerprint}), which anybody can make; give the signer's registered public key "
              "(--key KEY.pub); nothing in the certificate is vouched for")
        return VERIFY_FAILED
    print(f"OK: signature good (by the key given), {', '.join(REPORT_FILES)}, every contract file and the "
          "contract and catalogue digests match")
    for line in describe(result.payload or {}, result.fingerprint):
        print(line)
    from fibrecert.scope import headline

    print(headline(result.scope))
    return VERIFY_OK if result.certification else VERIFY_NOT_A_CERTIFICATION


def describe(payload: dict[str, Any], signer: str | None) -> list[str]:
    """What a verified certificate says, one fact a line (text from it made terminal-safe)."""
    def get(key: str) -> Any:
        return payload.get(key)

    def show(value: Any) -> str:
        return _safe(str(value)) if value not in (None, "") else "-"

    lines = [f"signer       {signer or '-'}"]
    tool = get("tool") if isinstance(get("tool"), dict) else {}
    lines.append(f"tool         {show(tool.get('name'))} {show(tool.get('version'))}")
    contracts = get("contracts") if isinstance(get("contracts"), dict) else {}
    lines.append("contracts    " + (", ".join(f"{show(k)} {show(v)}" for k, v in sorted(contracts.items())) or "-"))
    dg = get("digests") if isinstance(get("digests"), dict) else {}
    lines.append(f"digests      contracts sha256:{show(dg.get('contracts'))}, catalogue sha256:{show(dg.get('catalogue'))}")
    lines.append(f"profile      {show(get('profile'))}")
    lines.append(f"seed         {show(get('seed'))}")
    lines.append(f"selection    {show(get('selection') or 'all')}")
    target = get("target") if isinstance(get("target"), dict) else {}
    for api, entry in sorted(target.items()):
        if isinstance(entry, dict):
            urls = ", ".join(f"{show(k)} {show(v)}" for k, v in sorted(entry.items()) if str(k).endswith("url"))
            lines.append(f"target       {show(api)}: {urls or '-'}")
    certs = get("server_certificates") if isinstance(get("server_certificates"), dict) else {}
    for origin, fps in sorted(certs.items()):
        shown = ", ".join(show(f) for f in fps) if isinstance(fps, list) else show(fps)
        lines.append(f"answered by  {show(origin)}: {shown}")
    if not certs:
        lines.append("answered by  - (no server certificate recorded)")
    lines.append(f"run          {show(get('started_at'))} to {show(get('finished_at'))}")
    counts = get("counts") if isinstance(get("counts"), dict) else {}
    lines.append(f"verdict      {show(get('verdict'))} (" + ", ".join(f"{show(v)} {show(k)}" for k, v in counts.items()) + ")")
    return lines
