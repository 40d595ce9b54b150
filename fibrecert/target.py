"""The target file (TOML): what to certify and with which credentials (cli-and-target.md).

Every problem is a `TargetError` naming the file, the section and the key, raised before any request
is sent. Secret values are held in `Secret` so that they never print.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomllib

from cryptography import x509
from cryptography.hazmat.primitives import serialization


class TargetError(Exception):
    """A configuration error in the target file: one clear line, exit code 2."""


class Secret:
    """A secret string that never shows itself in repr/str/format."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class ClientIdentity:
    cert: Path
    key: Path


@dataclass(frozen=True)
class AlaTarget:
    base_url: str
    buyer_base_url: str | None
    namespace: str
    ca_bundle: Path | None
    client: ClientIdentity
    other_client: ClientIdentity | None
    seller_client: ClientIdentity | None
    buyer_identifier: str
    other_buyer_identifier: str | None
    seller_identifier: str
    active_services: tuple[str, ...]
    timeout: float

    @property
    def roles(self) -> tuple[str, ...]:
        return ("seller", "buyer") if self.buyer_base_url else ("seller",)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base_url": self.base_url}
        if self.buyer_base_url:
            out["buyer_base_url"] = self.buyer_base_url
        out["namespace"] = self.namespace
        out["roles"] = list(self.roles)
        return out


@dataclass(frozen=True)
class FibreCafeTarget:
    base_url: str
    token_url: str
    ca_bundle: Path | None
    client_id: str
    client_secret: Secret
    other_client_id: str | None
    other_client_secret: Secret | None
    supplier: str
    scope: str | None
    timeout: float
    short_ttl_client_id: str | None = None        # a client whose tokens expire within seconds (expiry test)
    short_ttl_client_secret: Secret | None = None

    def public(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "token_url": self.token_url}

    def secrets(self) -> list[str]:
        return [s.reveal() for s in (self.client_secret, self.other_client_secret, self.short_ttl_client_secret)
                if s]


@dataclass(frozen=True)
class Target:
    path: Path
    ala: AlaTarget | None = None
    fibrecafe: FibreCafeTarget | None = None
    apis: tuple[str, ...] = field(default=())

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.ala:
            out["ala"] = self.ala.public()
        if self.fibrecafe:
            out["fibrecafe"] = self.fibrecafe.public()
        return out

    def secrets(self) -> list[str]:
        return self.fibrecafe.secrets() if self.fibrecafe else []


_ALA_KEYS = {
    "base_url", "buyer_base_url", "namespace", "ca_bundle", "client_cert", "client_key",
    "other_client_cert", "other_client_key", "seller_client_cert", "seller_client_key",
    "buyer_identifier", "other_buyer_identifier", "seller_identifier", "active_services", "timeout",
}
_FC_KEYS = {
    "base_url", "token_url", "ca_bundle", "client_id", "client_secret", "other_client_id",
    "other_client_secret", "supplier", "scope", "timeout", "short_ttl_client_id", "short_ttl_client_secret",
}
_SECRET_KEYS = {"client_secret", "other_client_secret", "short_ttl_client_secret"}


class _Section:
    """Typed access to one section, producing errors that name file, section and key."""

    def __init__(self, path: Path, name: str, data: dict[str, Any], allowed: set[str]):
        self.path, self.name, self.data = path, name, data
        for key in data:
            base = key[:-4] if key.endswith("_env") else key
            if key not in allowed and not (key.endswith("_env") and base in _SECRET_KEYS & allowed):
                raise self.error(key, "unknown key")

    def error(self, key: str, message: str) -> TargetError:
        return TargetError(f"{self.path}: [{self.name}] {key}: {message}")

    def string(self, key: str, *, required: bool = True, default: str | None = None) -> str | None:
        if key not in self.data:
            if required:
                raise self.error(key, "missing required key")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {type(value).__name__}")
        if required and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def url(self, key: str, *, required: bool = True) -> str | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise self.error(key, f"must be an https:// URL, got {value!r}")
        return value.rstrip("/")

    def file(self, key: str, *, required: bool = True) -> Path | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        path = (self.path.parent / value).resolve()
        if not path.is_file():
            raise self.error(key, f"file not found: {value!r}")
        return path

    def secret(self, key: str, *, required: bool = True) -> Secret | None:
        env_key = f"{key}_env"
        if key in self.data and env_key in self.data:
            raise self.error(key, f"give either {key} or {env_key}, not both")
        if env_key in self.data:
            var = self.string(env_key)
            assert var is not None
            if var not in os.environ:
                raise self.error(env_key, f"environment variable {var} is not set")
            if not os.environ[var]:
                raise self.error(env_key, f"environment variable {var} is empty")
            return Secret(os.environ[var])
        value = self.string(key, required=required)
        return Secret(value) if value is not None else None

    def number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise self.error(key, "must be a positive number of seconds")
        return float(value)

    def ca_bundle(self, key: str = "ca_bundle") -> Path | None:
        path = self.file(key, required=False)
        if path is None:
            return None
        try:
            certs = x509.load_pem_x509_certificates(path.read_bytes())
        except (ValueError, OSError) as exc:
            raise self.error(key, f"not a readable PEM certificate bundle ({type(exc).__name__})") from None
        if not certs:
            raise self.error(key, "holds no certificate")
        return path

    def identity(self, stem: str, *, required: bool) -> ClientIdentity | None:
        cert_key, key_key = f"{stem}_cert", f"{stem}_key"
        if not required and cert_key not in self.data and key_key not in self.data:
            return None
        if cert_key not in self.data:
            raise self.error(cert_key, f"missing required key (needed with {key_key})")
        if key_key not in self.data:
            raise self.error(key_key, f"missing required key (needed with {cert_key})")
        cert_path, key_path = self.file(cert_key), self.file(key_key)
        assert cert_path and key_path
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (ValueError, OSError) as exc:
            raise self.error(cert_key, f"not a readable PEM certificate ({type(exc).__name__})") from None
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise self.error(key_key, f"not a readable unencrypted PEM private key ({type(exc).__name__})") from None
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        if (cert.public_key().public_bytes(serialization.Encoding.DER, pub)
                != key.public_key().public_bytes(serialization.Encoding.DER, pub)):
            raise self.error(key_key, f"does not match the certificate in {cert_key}")
        return ClientIdentity(cert_path, key_path)


def _load_ala(path: Path, data: Any) -> AlaTarget:
    if not isinstance(data, dict):
        raise TargetError(f"{path}: [ala] must be a table")
    s = _Section(path, "ala", data, _ALA_KEYS)
    base_url = s.url("base_url")
    buyer_base_url = s.url("buyer_base_url", required=False)
    namespace = s.string("namespace", required=False, default="") or ""
    other = s.identity("other_client", required=False)
    other_id = s.string("other_buyer_identifier", required=other is not None)
    services = data.get("active_services", [])
    if not isinstance(services, list) or not all(isinstance(x, str) and x.strip() for x in services):
        raise s.error("active_services", "must be a list of non-empty strings")
    if len(set(services)) != len(services):
        raise s.error("active_services", "lists a service twice (each is ceased once)")
    return AlaTarget(
        base_url=base_url or "",
        buyer_base_url=buyer_base_url,
        namespace=namespace,
        ca_bundle=s.ca_bundle(),
        client=s.identity("client", required=True),  # type: ignore[arg-type]
        other_client=other,
        seller_client=s.identity("seller_client", required=buyer_base_url is not None),
        buyer_identifier=s.string("buyer_identifier") or "",
        other_buyer_identifier=other_id,
        seller_identifier=s.string("seller_identifier") or "",
        active_services=tuple(services),
        timeout=s.number("timeout", 10.0),
    )


def _load_fibrecafe(path: Path, data: Any) -> FibreCafeTarget:
    if not isinstance(data, dict):
        raise TargetError(f"{path}: [fibrecafe] must be a table")
    s = _Section(path, "fibrecafe", data, _FC_KEYS)
    base_url = s.url("base_url") or ""
    token_url = s.url("token_url", required=False) or f"{base_url}/auth/tenant/access-token"
    other_id = s.string("other_client_id", required=False)
    other_secret = s.secret("other_client_secret", required=other_id is not None)
    if other_secret is not None and other_id is None:
        raise s.error("other_client_id", "missing required key (needed with other_client_secret)")
    short_id = s.string("short_ttl_client_id", required=False)
    short_secret = s.secret("short_ttl_client_secret", required=short_id is not None)
    if short_secret is not None and short_id is None:
        raise s.error("short_ttl_client_id", "missing required key (needed with short_ttl_client_secret)")
    supplier = s.string("supplier") or ""
    if not re.fullmatch(r"\w{1,20}", supplier, flags=re.ASCII):  # ECMA-262 \w, as in the contract
        raise s.error("supplier", "must match ^\\w{1,20}$ (the contract's supplier pattern)")
    return FibreCafeTarget(
        base_url=base_url,
        token_url=token_url,
        ca_bundle=s.ca_bundle(),
        client_id=s.string("client_id") or "",
        client_secret=s.secret("client_secret"),  # type: ignore[arg-type]
        other_client_id=other_id,
        other_client_secret=other_secret,
        supplier=supplier,
        scope=s.string("scope", required=False),
        timeout=s.number("timeout", 10.0),
        short_ttl_client_id=short_id,
        short_ttl_client_secret=short_secret,
    )


PLACEHOLDER = "<<FILL:"  # what `fibrecert init` writes where a value is required


def _refuse_placeholders(path: Path, data: dict[str, Any]) -> None:
    """A file still holding a template placeholder is refused, naming the first one in file order."""
    def first(value: Any) -> str | None:
        if isinstance(value, str):
            return value if PLACEHOLDER in value else None
        if isinstance(value, list):
            return next((hit for hit in map(first, value) if hit is not None), None)
        return None

    for name, section in data.items():
        items = section.items() if isinstance(section, dict) else [(None, section)]
        for key, value in items:
            hit = first(value)
            if hit is not None:
                where = f"[{name}] {key}" if key is not None else name
                hit = " ".join(hit.split())  # one line, whatever the value holds
                raise TargetError(f"{path}: {where}: still the template placeholder {hit}: fill it in")


def load_target(path: str | os.PathLike[str]) -> Target:
    """Read and check a target file; raise TargetError (one line) on any problem."""
    p = Path(path)
    if not p.is_file():
        raise TargetError(f"{p}: target file not found")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TargetError(f"{p}: not valid TOML: {exc}") from None
    _refuse_placeholders(p, data)
    unknown = sorted(set(data) - {"ala", "fibrecafe"})
    if unknown:
        raise TargetError(f"{p}: [{unknown[0]}]: unknown section (expected [ala] and/or [fibrecafe])")
    if not data:
        raise TargetError(f"{p}: names no API: add an [ala] or a [fibrecafe] section")
    ala = _load_ala(p, data["ala"]) if "ala" in data else None
    fc = _load_fibrecafe(p, data["fibrecafe"]) if "fibrecafe" in data else None
    apis = tuple(a for a, v in (("ala", ala), ("fibrecafe", fc)) if v is not None)
    return Target(path=p.resolve(), ala=ala, fibrecafe=fc, apis=apis)
