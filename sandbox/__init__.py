"""The embedded reference sandbox: a conformant implementation of all five operations.

Three real HTTPS servers on loopback: the ALA seller (mutual TLS: /ceaseOrder, /cancelOrder), an ALA
buyer (mutual TLS: /unsolicitedCeaseRequest) and Fibre Cafe (OAuth2 bearer tokens, /v1/...). State is
persisted in SQLite. `Sandbox.write_target()` writes a target file (cli-and-target.md) for itself.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from fibrecert.pki import SandboxPKI, ensure_sandbox_pki

from .ala import AlaApp
from .defects import CATALOGUE as DEFECTS
from .defects import Defects
from .fibrecafe import FibreCafeApp
from .server import TLSServer, server_tls_context
from .store import Store

SELLER = "CITYFIBRE"
BUYER = "SPDEV1"
OTHER_BUYER = "SPDEV2"
TENANT_A = "tenant-a"
TENANT_B = "tenant-b"
TENANT_SHORT_TTL = "tenant-short-ttl"  # a client whose tokens expire within seconds (the expiry requirement)
SUPPLIER = "DUMMY_SUPPLIER"

__all__ = ["Sandbox", "DEFECTS", "default_cache_dir"]


def default_cache_dir() -> Path:
    base = os.environ.get("FIBRECERT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fibrecert")
    return Path(base)


@dataclass
class Sandbox:
    state_dir: Path
    pki_dir: Path | None = None
    host: str = "127.0.0.1"
    ports: tuple[int, int, int] = (0, 0, 0)  # ALA seller, ALA buyer, Fibre Cafe; 0 = any free port
    services: int = 300
    token_ttl: float = 3600.0
    short_token_ttl: float = 2.0  # seconds a token of TENANT_SHORT_TTL lives (time to use it once, even on a busy machine)
    namespace: str = ""
    defects: tuple[str, ...] = ()
    record_tokens: bool = False  # tests only: remember issued access tokens in memory
    latency_ms: float = 0.0  # every answer (and TLS handshake) held this long, as if across the internet
    servers: list[TLSServer] = field(default_factory=list, init=False)

    def start(self) -> "Sandbox":
        self.state_dir = Path(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.pki: SandboxPKI = ensure_sandbox_pki(self.pki_dir or default_cache_dir() / "pki",
                                                  {"buyer": BUYER, "other": OTHER_BUYER, "seller": SELLER})
        self.store = Store(self.state_dir / "sandbox.sqlite3")
        for suffix in ("", "-wal", "-shm"):  # it holds the tenants' client secrets: 0600 (docs/security.md)
            try:
                os.chmod(f"{self.store.path}{suffix}", 0o600)
            except OSError:
                pass
        defects = self._defects = Defects(self.defects)
        # Fresh test data for every start: a batch of active services per buyer, new tenant secrets.
        batch = secrets.token_hex(3).upper()
        self.store.add_services(BUYER, [f"CF-SVC-{batch}-{i:05d}" for i in range(1, self.services + 1)])
        self.store.add_services(OTHER_BUYER, [f"CF-SVC-{batch}-B{i:04d}" for i in range(1, 11)])
        self._secrets = {TENANT_A: secrets.token_urlsafe(24), TENANT_B: secrets.token_urlsafe(24),
                         TENANT_SHORT_TTL: secrets.token_urlsafe(24)}
        for tenant, secret in self._secrets.items():
            self.store.add_tenant(tenant, secret)
        mtls = server_tls_context(self.pki.server.cert, self.pki.server.key,
                                  client_ca=None if defects.on("ala-trusts-the-message") else self.pki.ca)
        plain = server_tls_context(self.pki.server.cert, self.pki.server.key, client_ca=None)
        apps = [
            (AlaApp(self.store, role="seller", own_identifier=SELLER, namespace=self.namespace,
                    defects=defects), mtls),
            (AlaApp(self.store, role="buyer", own_identifier=BUYER, namespace=self.namespace,
                    defects=defects), mtls),
            (FibreCafeApp(self.store, token_ttl=self.token_ttl, defects=defects,
                          record_tokens=self.record_tokens, client_ttls={TENANT_SHORT_TTL: self.short_token_ttl}),
             plain),
        ]
        if not (0 <= self.latency_ms <= 60_000):
            raise ValueError(f"latency_ms must be between 0 and 60000, not {self.latency_ms}")
        self.servers = []
        try:
            for (app, tls), port in zip(apps, self.ports):
                self.servers.append(TLSServer(self.host, port, app, tls, latency=self.latency_ms / 1000).start())
        except BaseException:
            self.stop()
            raise
        return self

    def set_defects(self, names: tuple[str, ...] | list[str]) -> None:
        """Switch the running sandbox to exactly these defects (self-tests of every defect in turn);
        the ALA servers' TLS contexts follow `ala-trusts-the-message` for new connections."""
        self._defects.set(tuple(names))
        self.defects = tuple(names)
        trusting = self._defects.on("ala-trusts-the-message")
        for server in self.servers[:2]:
            server.tls = server_tls_context(self.pki.server.cert, self.pki.server.key,
                                            client_ca=None if trusting else self.pki.ca)

    @property
    def ala_url(self) -> str:
        return self.servers[0].url

    @property
    def ala_buyer_url(self) -> str:
        return self.servers[1].url

    @property
    def fibrecafe_url(self) -> str:
        return f"{self.servers[2].url}/v1"

    @property
    def issued_tokens(self) -> list[str]:
        app = self.servers[2].app
        return list(app.issued_tokens or [])

    def tenant_secret(self, tenant: str) -> str:
        return self._secrets[tenant]

    def write_target(self, path: Path | None = None, *, services: int | None = None,
                     timeout: float = 5.0) -> Path:
        """Write a target file for this sandbox (mode 0600: it holds the tenants' client secrets)."""
        path = Path(path or self.state_dir / "target.toml")
        available = self.store.active_services(BUYER)[: services or self.services]
        c = self.pki.clients

        def q(value: object) -> str:
            import json

            return json.dumps(str(value))

        lines = [
            "# Written by fibrecert's embedded reference sandbox. Holds client secrets: keep it private.",
            "[ala]",
            f"base_url = {q(self.ala_url)}",
            f"buyer_base_url = {q(self.ala_buyer_url)}",
            f"namespace = {q(self.namespace)}",
            f"ca_bundle = {q(self.pki.ca)}",
            f"client_cert = {q(c[BUYER].cert)}",
            f"client_key = {q(c[BUYER].key)}",
            f"other_client_cert = {q(c[OTHER_BUYER].cert)}",
            f"other_client_key = {q(c[OTHER_BUYER].key)}",
            f"seller_client_cert = {q(c[SELLER].cert)}",
            f"seller_client_key = {q(c[SELLER].key)}",
            f"buyer_identifier = {q(BUYER)}",
            f"other_buyer_identifier = {q(OTHER_BUYER)}",
            f"seller_identifier = {q(SELLER)}",
            "active_services = [" + ", ".join(q(s) for s in available) + "]",
            f"timeout = {timeout:g}  # seconds per request: ample on loopback",
            "",
            "[fibrecafe]",
            f"base_url = {q(self.fibrecafe_url)}",
            f"token_url = {q(self.fibrecafe_url + '/auth/tenant/access-token')}",
            f"ca_bundle = {q(self.pki.ca)}",
            f"client_id = {q(TENANT_A)}",
            f"client_secret = {q(self._secrets[TENANT_A])}",
            f"other_client_id = {q(TENANT_B)}",
            f"other_client_secret = {q(self._secrets[TENANT_B])}",
            f"short_ttl_client_id = {q(TENANT_SHORT_TTL)}  # its tokens expire after {self.short_token_ttl:g} s",
            f"short_ttl_client_secret = {q(self._secrets[TENANT_SHORT_TTL])}",
            f"supplier = {q(SUPPLIER)}",
            f"timeout = {timeout:g}",
            "",
        ]
        from fibrecert.safefiles import write_private

        # created or replaced atomically with mode 0600, whether or not the file existed (an existing
        # file keeps neither its old mode nor its old content)
        write_private(path, "\n".join(lines))
        return path

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []
        if hasattr(self, "store"):
            self.store.close()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
