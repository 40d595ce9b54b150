"""The target file (TOML): what to certify and with which credentials (docs/target-file.md), read
with the sections' loaders the dialects give (fibrecert/target.py puts them together).

The file is checked whole before any request is sent: every problem found (template placeholders,
unknown keys, unset environment variables, missing files, bad URLs, ports and values) is listed at once
in one `TargetError`, a line each naming the section and the key. Secret values are held in `Secret` so
that they never print.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
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


class Unusable(Exception):
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
class Target:
    """A target file, read: its path and one section per API it names (`sections`, in the dialects'
    order; each a dialect's frozen section type). `target.ala` reads a section by its API's name (None
    when the file has none)."""

    path: Path
    sections: dict[str, Any] = field(default_factory=dict)
    known: tuple[str, ...] = ()   # every API fibrecert knows (the dialects'): their names read as attributes

    @property
    def apis(self) -> tuple[str, ...]:
        return tuple(self.sections)

    def __getattr__(self, name: str) -> Any:
        if name != "known" and name in self.known:
            return self.sections.get(name)
        raise AttributeError(name)

    def with_section(self, api: str, section: Any) -> "Target":
        """A copy with `api`'s section replaced (tests and benchmarks point a target elsewhere)."""
        return replace(self, sections={**self.sections, api: section})

    def public(self) -> dict[str, Any]:
        return {api: section.public() for api, section in self.sections.items()}

    def secrets(self) -> list[str]:
        return [s for section in self.sections.values() for s in getattr(section, "secrets", lambda: [])()]


def shown_url(value: str) -> str:
    """A URL as an error message may show it: any user:password part hidden, one line."""
    return " ".join(re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", value).split())


class Section:
    """Typed access to one section. Every problem is recorded (naming the section and the key) and the
    loading goes on, so that all of them are listed at once; `take` turns one key's problem into a
    record and a default."""

    def __init__(self, path: Path, name: str, data: dict[str, Any], allowed: set[str], problems: list[str],
                 secret_keys: frozenset[str] = frozenset()):
        """`allowed`: the section's keys; `secret_keys`: those of them that may be given as `<key>_env`
        (the name of an environment variable holding the value)."""
        self.path, self.name, self.data = path, name, data
        self.problems = problems
        self.placeholders = {key for key, value in data.items() if _placeholder(value) is not None}
        for key in data:
            base = key[:-4] if key.endswith("_env") else key
            if key not in allowed and not (key.endswith("_env") and base in secret_keys & allowed):
                self.problems.append(f"[{self.name}] {key}: unknown key")

    def error(self, key: str, message: str) -> TargetError:
        return TargetError(f"[{self.name}] {key}: {message}")

    def take(self, read: Any, *args: Any, default: Any = None, **kwargs: Any) -> Any:
        """`read(*args)`; on a problem, record it and return `default`."""
        try:
            return read(*args, **kwargs)
        except Unusable:
            return default
        except TargetError as exc:
            self.problems.append(str(exc))
            return default

    def _value(self, key: str) -> Any:
        if key in self.placeholders:
            raise Unusable(key)  # listed with the placeholders
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
        shown = shown_url(value)
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
            raise Unusable(stem)  # the file's problem is recorded
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
            raise Unusable(stem)
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        if (cert.public_key().public_bytes(serialization.Encoding.DER, pub)
                != key.public_key().public_bytes(serialization.Encoding.DER, pub)):
            raise self.error(key_key, f"does not match the certificate in {cert_key}")
        return ClientIdentity(cert_path, key_path)


PLACEHOLDER = "<<FILL:"  # what `fibrecert init` writes where a value is required


@dataclass(frozen=True)
class TemplateKey:
    """One key of a section as `fibrecert init` writes it (fibrecert/init_template.py)."""

    name: str
    about: tuple[str, ...]          # comment lines above the key
    fill: str | None = None         # required: what goes here (the placeholder's text)
    value: str | None = None        # optional: the TOML text of its default (or of an example)
    example: bool = False           # optional without a default: `value` is an example
    list_of_one: bool = False       # the placeholder goes inside a list

    def placeholder(self) -> str:
        return f'"{PLACEHOLDER} {self.fill}>>"'


@dataclass(frozen=True)
class SectionTemplate:
    """A section of the template: the line that says what the API is, how to name it, its keys."""

    about: str
    short_name: str
    keys: tuple[TemplateKey, ...]


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


def read_target(path: str | os.PathLike[str], loaders: dict[str, Any]) -> Target:
    """Read and check a target file whole with each API's section loader (`loaders`: API -> loader
    `(path, data, problems) -> section | None`); raise TargetError listing every problem found (one line
    each)."""
    p = Path(path)
    if not p.is_file():
        raise TargetError(f"{p}: target file not found")
    try:
        return _load(p, loaders)
    except RecursionError:  # a document nested thousands deep: one line, never a traceback
        raise TargetError(f"{p}: not a usable target file: nested too deeply") from None
    except (ValueError, TypeError) as exc:  # e.g. urlsplit on "https://[::1/x": one line, never a traceback
        raise TargetError(f"{p}: not a usable target file: {exc}") from None


def _load(p: Path, loaders: dict[str, Any]) -> Target:
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
    names = [f"[{api}]" for api in loaders]
    expected = " and/or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    unknown = sorted(set(data) - set(loaders))
    problems += [f"[{name}]: unknown section (expected {expected})" for name in unknown]
    if not data:
        problems.append(f"names no API: add {' or '.join(('an ' if n.startswith('[a') else 'a ') + n for n in names)} section")
    sections = {api: load(p, data[api], problems) for api, load in loaders.items() if api in data}
    if problems:
        raise TargetError.listing(p, problems, placeholders)
    return Target(path=p.resolve(), sections={a: s for a, s in sections.items() if s is not None},
                  known=tuple(loaders))
