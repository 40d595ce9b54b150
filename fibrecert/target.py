"""The target file (TOML): what to certify and with which credentials (docs/target-file.md).

The file is checked whole before any request is sent: every problem found (template placeholders,
unknown keys, unset environment variables, missing files, bad URLs, ports and values) is listed at once
in one `TargetError`, a line each naming the section and the key. Secret values are held in `Secret` so
that they never print.
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
    """A configuration error in the target file, exit code 2. Either one problem with the whole file
    (not found, not TOML), or every problem found in it at once (`problems`: one line each, naming the
    section and the key), so that one edit fixes them all."""

    def __init__(self, message: str, *, path: Path | None = None, problems: list[str] | None = None):
        super().__init__(message)
        self.path = path
        self.problems: list[str] = list(problems) if problems else [message]

    @classmethod
    def listing(cls, path: Path, problems: list[str], placeholders: int = 0) -> "TargetError":
        """One problem: one line, `FILE: [section] key: what is wrong`. More: a first line saying how
        many, then one indented line per problem, in file order (placeholders first)."""
        if len(problems) == 1:
            return cls(f"{path}: {problems[0]}", path=path, problems=problems)
        if placeholders == len(problems):
            head = f"{path}: {len(problems)} template placeholders still to fill in (nothing was sent):"
        else:
            head = f"{path}: {len(problems)} problems; fix them all, then run again (nothing was sent):"
        return cls(head + "".join(f"\n  {p}" for p in problems), path=path, problems=problems)


class _Unusable(Exception):
    """A key whose problem is already recorded (a placeholder, a missing dependency): read no further."""


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


def _shown_url(value: str) -> str:
    """A URL as an error message may show it: any user:password part hidden, one line."""
    return " ".join(re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", value).split())


class _Section:
    """Typed access to one section. Every problem is recorded (naming the section and the key) and the
    loading goes on, so that all of them are listed at once; `take` turns one key's problem into a
    record and a default."""

    def __init__(self, path: Path, name: str, data: dict[str, Any], allowed: set[str], problems: list[str]):
        self.path, self.name, self.data = path, name, data
        self.problems = problems
        self.placeholders = {key for key, value in data.items() if _placeholder(value) is not None}
        for key in data:
            base = key[:-4] if key.endswith("_env") else key
            if key not in allowed and not (key.endswith("_env") and base in _SECRET_KEYS & allowed):
                self.problems.append(f"[{self.name}] {key}: unknown key")

    def error(self, key: str, message: str) -> TargetError:
        return TargetError(f"[{self.name}] {key}: {message}")

    def take(self, read: Any, *args: Any, default: Any = None, **kwargs: Any) -> Any:
        """`read(*args)`; on a problem, record it and return `default`."""
        try:
            return read(*args, **kwargs)
        except _Unusable:
            return default
        except TargetError as exc:
            self.problems.append(str(exc))
            return default

    def _value(self, key: str) -> Any:
        if key in self.placeholders:
            raise _Unusable(key)  # listed with the placeholders
        return self.data[key]

    def string(self, key: str, *, required: bool = True, default: str | None = None) -> str | None:
        if key not in self.data:
            if required:
                raise self.error(key, "missing required key")
            return default
        value = self._value(key)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {type(value).__name__}")
        if required and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def url(self, key: str, *, required: bool = True, base: bool = True) -> str | None:
        """An https:// URL with a host, a port from 1 to 65535 if any, no user:password part, and (for
        a base URL) no query or fragment: refused here, before any request, naming the key."""
        value = self.string(key, required=required)
        if value is None:
            return None
        shown = _shown_url(value)
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise self.error(key, f"holds a space or a control character: {shown!r}")
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError as exc:
            raise self.error(key, f"not a valid URL ({exc}): {shown!r}") from None
        if parts.scheme != "https" or not host:
            raise self.error(key, f"must be an https:// URL, got {shown!r}")
        if "@" in parts.netloc:
            raise self.error(key, f"must not carry a user name or password (user:password@): {shown!r}; "
                                  "credentials belong in their own keys")
        port_text = parts.netloc.rpartition("]")[2].partition(":")[2]
        if port_text:
            try:
                port = parts.port
            except ValueError:
                port = None
            if port is None or not 1 <= port <= 65535 or not port_text.isdigit():
                raise self.error(key, f"port {port_text!r} is not a port number from 1 to 65535: {shown!r}")
        if base and (parts.query or parts.fragment or value.endswith(("?", "#"))):
            raise self.error(key, f"must not carry a query (?...) or a fragment (#...): {shown!r}")
        if not base and (parts.fragment or value.endswith("#")):
            raise self.error(key, f"must not carry a fragment (#...): {shown!r}")
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
        value = self._value(key) if key in self.data else default
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
        cert_path = self.take(self.file, cert_key)
        key_path = self.take(self.file, key_key)
        if cert_path is None or key_path is None:
            raise _Unusable(stem)  # the file's problem is recorded
        cert = key = None
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (ValueError, OSError) as exc:
            self.problems.append(str(self.error(cert_key, f"not a readable PEM certificate ({type(exc).__name__})")))
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            self.problems.append(str(self.error(
                key_key, f"not a readable unencrypted PEM private key ({type(exc).__name__})")))
        if cert is None or key is None:
            raise _Unusable(stem)
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        if (cert.public_key().public_bytes(serialization.Encoding.DER, pub)
                != key.public_key().public_bytes(serialization.Encoding.DER, pub)):
            raise self.error(key_key, f"does not match the certificate in {cert_key}")
        return ClientIdentity(cert_path, key_path)


def _load_ala(path: Path, data: Any, problems: list[str]) -> AlaTarget | None:
    if not isinstance(data, dict):
        problems.append("[ala]: must be a table")
        return None
    s = _Section(path, "ala", data, _ALA_KEYS, problems)
    before = len(problems)
    base_url = s.take(s.url, "base_url")
    buyer_base_url = s.take(s.url, "buyer_base_url", required=False)
    namespace = s.take(s.string, "namespace", required=False, default="") or ""
    other = s.take(s.identity, "other_client", required=False)
    other_given = "other_client_cert" in data or "other_client_key" in data
    other_id = s.take(s.string, "other_buyer_identifier", required=other_given)
    services: Any = []
    if "active_services" in data and "active_services" not in s.placeholders:
        services = data["active_services"]
        if not isinstance(services, list) or not all(isinstance(x, str) and x.strip() for x in services):
            problems.append("[ala] active_services: must be a list of non-empty strings")
        elif len(set(services)) != len(services):
            problems.append("[ala] active_services: lists a service twice (each is ceased once)")
    ca_bundle = s.take(s.ca_bundle)
    client = s.take(s.identity, "client", required=True)
    seller_client = s.take(s.identity, "seller_client", required="buyer_base_url" in data)
    buyer_identifier = s.take(s.string, "buyer_identifier") or ""
    seller_identifier = s.take(s.string, "seller_identifier") or ""
    timeout = s.take(s.number, "timeout", 10.0, default=10.0)
    if len(problems) > before or s.placeholders:
        return None
    return AlaTarget(
        base_url=base_url or "",
        buyer_base_url=buyer_base_url,
        namespace=namespace,
        ca_bundle=ca_bundle,
        client=client,
        other_client=other,
        seller_client=seller_client,
        buyer_identifier=buyer_identifier,
        other_buyer_identifier=other_id,
        seller_identifier=seller_identifier,
        active_services=tuple(services),
        timeout=timeout,
    )


def _load_fibrecafe(path: Path, data: Any, problems: list[str]) -> FibreCafeTarget | None:
    if not isinstance(data, dict):
        problems.append("[fibrecafe]: must be a table")
        return None
    s = _Section(path, "fibrecafe", data, _FC_KEYS, problems)
    before = len(problems)
    base_url = s.take(s.url, "base_url") or ""
    token_url = s.take(s.url, "token_url", required=False, base=False) or f"{base_url}/auth/tenant/access-token"
    other_id = s.take(s.string, "other_client_id", required=False)
    other_given = "other_client_id" in data
    other_secret = s.take(s.secret, "other_client_secret", required=other_given)
    if not other_given and ("other_client_secret" in data or "other_client_secret_env" in data):
        problems.append("[fibrecafe] other_client_id: missing required key (needed with other_client_secret)")
    short_id = s.take(s.string, "short_ttl_client_id", required=False)
    short_given = "short_ttl_client_id" in data
    short_secret = s.take(s.secret, "short_ttl_client_secret", required=short_given)
    if not short_given and ("short_ttl_client_secret" in data or "short_ttl_client_secret_env" in data):
        problems.append("[fibrecafe] short_ttl_client_id: missing required key (needed with short_ttl_client_secret)")
    supplier = s.take(s.string, "supplier")
    if supplier is not None and not re.fullmatch(r"\w{1,20}", supplier, flags=re.ASCII):  # ECMA-262 \w
        problems.append("[fibrecafe] supplier: must match ^\\w{1,20}$ (the contract's supplier pattern)")
    ca_bundle = s.take(s.ca_bundle)
    client_id = s.take(s.string, "client_id") or ""
    client_secret = s.take(s.secret, "client_secret")
    scope = s.take(s.string, "scope", required=False)
    timeout = s.take(s.number, "timeout", 10.0, default=10.0)
    if len(problems) > before or s.placeholders:
        return None
    return FibreCafeTarget(
        base_url=base_url,
        token_url=token_url,
        ca_bundle=ca_bundle,
        client_id=client_id,
        client_secret=client_secret,
        other_client_id=other_id,
        other_client_secret=other_secret,
        supplier=supplier or "",
        scope=scope,
        timeout=timeout,
        short_ttl_client_id=short_id,
        short_ttl_client_secret=short_secret,
    )


PLACEHOLDER = "<<FILL:"  # what `fibrecert init` writes where a value is required


def _placeholder(value: Any) -> str | None:
    """The first template placeholder a value holds (in a string, or in a list's strings), on one line."""
    stack = [value]  # depth-first, in order, without recursion (a list may nest deep)
    while stack:
        item = stack.pop()
        if isinstance(item, str) and PLACEHOLDER in item:
            return " ".join(item.split())
        if isinstance(item, list):
            stack.extend(reversed(item))
    return None


def _placeholders(data: dict[str, Any]) -> list[str]:
    """Every template placeholder still in the file, in file order, one problem line each."""
    found = []
    for name, section in data.items():
        items = section.items() if isinstance(section, dict) else [(None, section)]
        for key, value in items:
            hit = _placeholder(value)
            if hit is not None:
                where = f"[{name}] {key}" if key is not None else name
                found.append(f"{where}: still the template placeholder {hit}: fill it in")
    return found


def load_target(path: str | os.PathLike[str]) -> Target:
    """Read and check a target file whole; raise TargetError listing every problem found (one line each)."""
    p = Path(path)
    if not p.is_file():
        raise TargetError(f"{p}: target file not found")
    try:
        return _load(p)
    except RecursionError:  # a document nested thousands deep: one line, never a traceback
        raise TargetError(f"{p}: not a usable target file: nested too deeply") from None
    except (ValueError, TypeError) as exc:  # e.g. urlsplit on "https://[::1/x": one line, never a traceback
        raise TargetError(f"{p}: not a usable target file: {exc}") from None


def _load(p: Path) -> Target:
    from fibrecert.safefiles import InputError, read_regular

    try:  # a regular file of bounded size (never a FIFO or a device)
        text = read_regular(p, "target file").decode("utf-8")
    except InputError as exc:
        raise TargetError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise TargetError(f"{p}: not valid TOML: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{p}: not valid TOML: {exc}") from None
    problems = _placeholders(data)
    placeholders = len(problems)
    unknown = sorted(set(data) - {"ala", "fibrecafe"})
    problems += [f"[{name}]: unknown section (expected [ala] and/or [fibrecafe])" for name in unknown]
    if not data:
        problems.append("names no API: add an [ala] or a [fibrecafe] section")
    ala = _load_ala(p, data["ala"], problems) if "ala" in data else None
    fc = _load_fibrecafe(p, data["fibrecafe"], problems) if "fibrecafe" in data else None
    if problems:
        raise TargetError.listing(p, problems, placeholders)
    apis = tuple(a for a, v in (("ala", ala), ("fibrecafe", fc)) if v is not None)
    return Target(path=p.resolve(), ala=ala, fibrecafe=fc, apis=apis)
