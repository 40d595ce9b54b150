"""The reference sandbox's state, persisted in SQLite (one file, WAL, one lock for writers)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ala_services (
    service_id TEXT PRIMARY KEY, buyer TEXT NOT NULL, state TEXT NOT NULL  -- active | ceased
);
CREATE TABLE IF NOT EXISTS ala_orders (
    seller_ref TEXT PRIMARY KEY, buyer TEXT NOT NULL, buyer_order_ref TEXT NOT NULL,
    service_id TEXT NOT NULL, state TEXT NOT NULL,  -- in_flight | cancel_pending
    correlation_id TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ala_messages (
    party TEXT NOT NULL, message_id TEXT NOT NULL, operation TEXT NOT NULL,
    status INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (party, message_id)
);
CREATE TABLE IF NOT EXISTS ala_unsolicited_ceases (
    message_id TEXT NOT NULL, seller TEXT NOT NULL, buyer TEXT NOT NULL, service_id TEXT NOT NULL,
    new_order_type TEXT, received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fc_tenants (
    client_id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fc_tokens (
    token_sha256 TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fc_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, status TEXT NOT NULL,
    body TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fc_cancellations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, order_id INTEGER NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL
);
"""


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class Store:
    """Thread-safe access to the sandbox database. Every public method is one transaction."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    # ------------------------------------------------------------------------------ ALA
    def add_services(self, buyer: str, service_ids: list[str]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO ala_services VALUES (?, ?, 'active')",
                           [(s, buyer) for s in service_ids])

    def active_services(self, buyer: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT service_id FROM ala_services WHERE buyer=? AND state='active' "
                                    "ORDER BY service_id", (buyer,)).fetchall()
        return [r[0] for r in rows]

    def seen_message(self, db: sqlite3.Connection, party: str, message_id: str) -> sqlite3.Row | None:
        return db.execute("SELECT * FROM ala_messages WHERE party=? AND message_id=?",
                          (party, message_id)).fetchone()

    def remember_message(self, db: sqlite3.Connection, party: str, message_id: str, operation: str,
                         status: int, body: bytes) -> None:
        db.execute("INSERT OR REPLACE INTO ala_messages VALUES (?, ?, ?, ?, ?)",
                   (party, message_id, operation, status, body))

    def ala_order_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM ala_orders").fetchone()[0])

    # ------------------------------------------------------------------------------ Fibre Cafe
    def add_tenant(self, client_id: str, secret: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO fc_tenants VALUES (?, ?)", (client_id, sha256(secret)))

    def tenant_secret_matches(self, client_id: str, secret: str) -> bool:
        import hmac

        with self._lock:
            row = self._db.execute("SELECT secret_sha256 FROM fc_tenants WHERE client_id=?",
                                   (client_id,)).fetchone()
        # compare against a dummy when unknown, so timing does not reveal which tenants exist
        expected = row[0] if row else sha256("\x00unknown-tenant")
        return hmac.compare_digest(expected, sha256(secret)) and row is not None

    def issue_token(self, client_id: str, token: str, ttl: float) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM fc_tokens WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT INTO fc_tokens VALUES (?, ?, ?)", (sha256(token), client_id, time.time() + ttl))

    def token_tenant(self, token: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT client_id, expires_at FROM fc_tokens WHERE token_sha256=?",
                                   (sha256(token),)).fetchone()
        if row is None or row["expires_at"] < time.time():
            return None
        return str(row["client_id"])

    def first_fc_order(self, tenant: str) -> int | None:
        """The id of the tenant's first order (the fc-order-id-reused defect answers with it)."""
        with self._lock:
            row = self._db.execute("SELECT MIN(id) FROM fc_orders WHERE tenant=?", (tenant,)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def create_fc_order(self, tenant: str, body: dict[str, Any], status: str) -> int:
        with self.transaction() as db:
            cur = db.execute("INSERT INTO fc_orders (tenant, status, body, created_at) VALUES (?, ?, ?, ?)",
                             (tenant, status, json.dumps(body), time.time()))
            return int(cur.lastrowid or 0)
