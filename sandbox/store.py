"""The reference sandbox's state, persisted in SQLite (one file, WAL, one lock for writers)."""

from __future__ import annotations

import hashlib
import json
import re
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
CREATE INDEX IF NOT EXISTS fc_tokens_expiry ON fc_tokens (expires_at);
CREATE TABLE IF NOT EXISTS fc_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, status TEXT NOT NULL,
    body TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fc_cancellations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, order_id INTEGER NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL
);
"""


_SELLER_REF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sellerOrderReference>([^<]*)<")


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

    def issue_token(self, client_id: str, token: str, ttl: float, purge: bool = True) -> None:
        with self.transaction() as db:
            if purge:
                db.execute("DELETE FROM fc_tokens WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT INTO fc_tokens VALUES (?, ?, ?)", (sha256(token), client_id, time.time() + ttl))

    def token_tenant(self, token: str, expired_too: bool = False) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT client_id, expires_at FROM fc_tokens WHERE token_sha256=?",
                                   (sha256(token),)).fetchone()
        if row is None or (row["expires_at"] < time.time() and not expired_too):
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

    # ------------------------------------------------------------------------------ consistency
    def consistency_problems(self) -> list[str]:
        """The store's invariants, checked in one read: a list of problems, [] when consistent.

        ALA: every ceased service has exactly one cease order and every order's service exists, belongs
        to the order's buyer and is ceased (no service ceased twice, no order lost or duplicated); every
        remembered ceaseOrder answer names an order that exists, and every order is named by exactly one;
        every remembered cancelOrder answer names an order whose cancellation is pending, and every such
        order is named by exactly one. Fibre Cafe: every cancellation is of an order that exists and
        belongs to the same tenant, at most one per order, and an order is PENDING_CANCELLATION exactly
        when it has one.
        """
        problems: list[str] = []
        with self._lock:
            def rows(sql: str) -> list[sqlite3.Row]:
                return self._db.execute(sql).fetchall()

            for r in rows("SELECT service_id, state FROM ala_services WHERE state NOT IN ('active', 'ceased')"):
                problems.append(f"service {r[0]} is in an unknown state {r[1]!r}")
            for r in rows("SELECT seller_ref, state FROM ala_orders WHERE state NOT IN ('in_flight', 'cancel_pending')"):
                problems.append(f"order {r[0]} is in an unknown state {r[1]!r}")
            for r in rows("SELECT service_id, COUNT(*) FROM ala_orders GROUP BY service_id HAVING COUNT(*) > 1"):
                problems.append(f"service {r[0]} has {r[1]} cease orders: ceased more than once")
            for r in rows("SELECT o.seller_ref, o.service_id, o.buyer, s.buyer, s.state FROM ala_orders o "
                          "LEFT JOIN ala_services s ON s.service_id = o.service_id"):
                if r[3] is None:
                    problems.append(f"order {r[0]} ceases {r[1]}, a service the store does not hold")
                elif r[2] != r[3]:
                    problems.append(f"order {r[0]} of buyer {r[2]} ceases {r[1]}, a service of {r[3]}")
                elif r[4] != "ceased":
                    problems.append(f"order {r[0]} ceases {r[1]}, which is still {r[4]}")
            for r in rows("SELECT service_id FROM ala_services s WHERE state = 'ceased' AND NOT EXISTS "
                          "(SELECT 1 FROM ala_orders o WHERE o.service_id = s.service_id)"):
                problems.append(f"service {r[0]} is ceased but no order ceases it (an order was lost)")
            orders = {r[0]: r[1] for r in rows("SELECT seller_ref, state FROM ala_orders")}
            named: dict[str, dict[str, int]] = {"ceaseOrder": {}, "cancelOrder": {}}
            for r in rows("SELECT party, message_id, operation, body FROM ala_messages WHERE status = 200"):
                if r[2] not in named:
                    continue
                match = _SELLER_REF.search(bytes(r[3]))
                ref = match.group(1).decode("utf-8", "replace").strip() if match else None
                if ref is None:
                    problems.append(f"the remembered {r[2]} answer to {r[0]}'s message {r[1]} names no order")
                    continue
                named[r[2]][ref] = named[r[2]].get(ref, 0) + 1
                if ref not in orders:
                    problems.append(f"the remembered {r[2]} answer to {r[0]}'s message {r[1]} names order "
                                    f"{ref}, which the store does not hold")
                elif r[2] == "cancelOrder" and orders[ref] != "cancel_pending":
                    problems.append(f"order {ref} was cancelled (answer to {r[0]}'s message {r[1]}) "
                                    f"but is {orders[ref]}")
            for ref, state in orders.items():
                if named["ceaseOrder"].get(ref, 0) != 1:
                    problems.append(f"order {ref} is named by {named['ceaseOrder'].get(ref, 0)} remembered "
                                    "ceaseOrder answers, not 1")
                if state == "cancel_pending" and named["cancelOrder"].get(ref, 0) != 1:
                    problems.append(f"order {ref} is cancel_pending but named by "
                                    f"{named['cancelOrder'].get(ref, 0)} remembered cancelOrder answers, not 1")
            for r in rows("SELECT c.id, c.order_id, c.tenant, o.tenant FROM fc_cancellations c "
                          "LEFT JOIN fc_orders o ON o.id = c.order_id"):
                if r[3] is None:
                    problems.append(f"cancellation {r[0]} is of order {r[1]}, which the store does not hold")
                elif r[2] != r[3]:
                    problems.append(f"cancellation {r[0]} by {r[2]} is of order {r[1]} of {r[3]}")
            for r in rows("SELECT order_id, COUNT(*) FROM fc_cancellations GROUP BY order_id HAVING COUNT(*) > 1"):
                problems.append(f"Fibre Cafe order {r[0]} has {r[1]} cancellations")
            for r in rows("SELECT id, status, EXISTS (SELECT 1 FROM fc_cancellations c WHERE c.order_id = o.id) "
                          "FROM fc_orders o"):
                if r[2] and r[1] != "PENDING_CANCELLATION":
                    problems.append(f"Fibre Cafe order {r[0]} has a cancellation but is {r[1]}")
                elif not r[2] and r[1] == "PENDING_CANCELLATION":
                    problems.append(f"Fibre Cafe order {r[0]} is PENDING_CANCELLATION without a cancellation")
        return problems
