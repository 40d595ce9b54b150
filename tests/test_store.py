"""`Store.consistency_problems()`: [] for a store the sandbox's own operations filled, and the one
problem it must name for each way the store can be corrupted."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from werkzeug.test import Client

from fibrecert.pki import SandboxPKI, ensure_sandbox_pki
from fibrecert.sandbox.ala import AlaApp
from fibrecert.sandbox.fibrecafe import FibreCafeApp
from fibrecert.sandbox.store import Store

ENV_HEAD = b"<?xml version='1.0' encoding='utf-8'?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>"
ENV_TAIL = b"</soapenv:Body></soapenv:Envelope>"


def message() -> str:
    return (f"<message><messageId>{uuid.uuid4()}</messageId><correlationId>{uuid.uuid4()}</correlationId>"
            "<sentAt>2025-01-20T18:30:43Z</sentAt></message>")


def cease(service: str) -> bytes:
    return ENV_HEAD + (
        f'<ceaseOrder xmlns:cfh="http://www.cityfibre.com/ala/ext1">{message()}<orderReferences><buyerOrderReference>'
        "BOR-1</buyerOrderReference></orderReferences><buyer><buyerIdentifier>SPDEV1</buyerIdentifier></buyer>"
        "<seller><sellerIdentifier>CITYFIBRE</sellerIdentifier></seller><alaCease><serviceIdentifier>"
        f"{service}</serviceIdentifier><requestedDate>2030-02-01</requestedDate></alaCease></ceaseOrder>"
    ).encode() + ENV_TAIL


def cancel(ref: str) -> bytes:
    return ENV_HEAD + (
        f"<cancelOrder>{message()}<buyer><buyerIdentifier>SPDEV1</buyerIdentifier></buyer><seller><sellerIdentifier>"
        "CITYFIBRE</sellerIdentifier></seller><orderReferences><buyerOrderReference>BOR-2</buyerOrderReference>"
        f"</orderReferences><targetSellerOrderReference>{ref}</targetSellerOrderReference><cancellationReason>"
        "<cancellationReasonCode>300</cancellationReasonCode><cancellationReasonMessage>No longer needed"
        "</cancellationReasonMessage></cancellationReason></cancelOrder>"
    ).encode() + ENV_TAIL


@pytest.fixture(scope="module")
def pki(pki_dir: Path) -> SandboxPKI:
    return ensure_sandbox_pki(pki_dir, {"buyer": "SPDEV1", "other": "SPDEV2", "seller": "CITYFIBRE"})


@pytest.fixture(scope="module")
def consistent(tmp_path_factory: pytest.TempPathFactory, pki: SandboxPKI) -> Path:
    """A store filled by the sandbox's own apps: ceases (some replayed, one refused), cancels (one twice),
    Fibre Cafe orders and cancellations (one twice, one cross-tenant, one of an unknown id)."""
    path = tmp_path_factory.mktemp("store") / "sandbox.sqlite3"
    store = Store(path)
    store.add_services("SPDEV1", [f"SVC-{i}" for i in range(6)])
    store.add_tenant("tenant-a", "secret-a")
    store.add_tenant("tenant-b", "secret-b")
    ala = Client(AlaApp(store, role="seller", own_identifier="CITYFIBRE"))
    cert = {"SSL_CLIENT_CERT": pki.clients["SPDEV1"].cert.read_text()}

    def post(body: bytes, op: str) -> Any:
        return ala.post(f"/{op}", data=body, headers={"Content-Type": "text/xml"}, environ_overrides=cert)

    refs = []
    for i in range(4):
        body = cease(f"SVC-{i}")
        answer = post(body, "ceaseOrder")
        assert answer.status_code == 200
        assert post(body, "ceaseOrder").get_data() == answer.get_data()  # a replay: the same answer
        refs.append(answer.get_data().split(b"<sellerOrderReference>")[1].split(b"<")[0].decode())
    assert post(cease("SVC-0"), "ceaseOrder").status_code == 400  # already ceased
    assert post(cancel(refs[0]), "cancelOrder").status_code == 200
    assert post(cancel(refs[0]), "cancelOrder").status_code == 400
    assert post(cancel(refs[1]), "cancelOrder").status_code == 200
    assert post(cancel("CF-ORD-NEVER"), "cancelOrder").status_code == 400

    fc = Client(FibreCafeApp(store))

    def token(tenant: str) -> str:
        answer = fc.post("/v1/auth/tenant/access-token", data={"grant_type": "client_credentials",
                                                               "client_id": tenant, "client_secret": f"secret-{tenant[-1]}"})
        return str(answer.get_json()["access_token"])

    headers = {t: {"Authorization": f"Bearer {token(t)}", "X-Request-ID": "r", "X-Conversation-ID": "c"}
               for t in ("tenant-a", "tenant-b")}
    order = {"orderType": "CEASE", "supplier": "S", "serviceId": "FC-1", "requestedCompletionDate": "2030-01-31"}
    ids = [fc.post("/v1/service-orders", json=order, headers=headers["tenant-a"]).get_json()["id"] for _ in range(3)]

    def fc_cancel(order_id: int, tenant: str = "tenant-a") -> int:
        return fc.post("/v1/service-order-cancellations", json={"orderId": order_id, "reasonCode": "CUSTOMER_CHANGED_MIND"},
                       headers=headers[tenant]).status_code

    assert fc_cancel(ids[0]) == 201
    assert fc_cancel(ids[0]) == 422
    assert fc_cancel(ids[1], "tenant-b") == 422
    assert fc_cancel(10**9) == 422
    store.close()
    return path


def copy_of(path: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy.sqlite3"
    src, dst = sqlite3.connect(path), sqlite3.connect(out)
    src.backup(dst)
    src.close()
    dst.close()
    return out


def problems_of(path: Path) -> list[str]:
    store = Store(path)
    try:
        return store.consistency_problems()
    finally:
        store.close()


def test_a_store_the_sandbox_filled_is_consistent(consistent: Path, tmp_path: Path) -> None:
    assert problems_of(copy_of(consistent, tmp_path)) == []


def first_order(db: sqlite3.Connection, state: str = "in_flight") -> tuple[str, str]:
    return db.execute("SELECT seller_ref, service_id FROM ala_orders WHERE state=? ORDER BY seller_ref",
                      (state,)).fetchone()


def lose_an_order(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM ala_orders WHERE seller_ref=?", (first_order(db)[0],))


def cease_twice(db: sqlite3.Connection) -> None:
    ref, service = first_order(db)
    db.execute("INSERT INTO ala_orders SELECT 'CF-ORD-DUPLICATE', buyer, buyer_order_ref, service_id, state, "
               "correlation_id, created_at FROM ala_orders WHERE seller_ref=?", (ref,))


def order_of_an_active_service(db: sqlite3.Connection) -> None:
    db.execute("UPDATE ala_services SET state='active' WHERE service_id=?", (first_order(db)[1],))


def order_of_an_unknown_service(db: sqlite3.Connection) -> None:
    db.execute("UPDATE ala_orders SET service_id='SVC-NOWHERE' WHERE seller_ref=?", (first_order(db)[0],))


def ceased_without_an_order(db: sqlite3.Connection) -> None:
    db.execute("UPDATE ala_services SET state='ceased' WHERE service_id='SVC-5'")


def answer_names_a_lost_order(db: sqlite3.Connection) -> None:
    row = db.execute("SELECT party, message_id, body FROM ala_messages WHERE operation='ceaseOrder'").fetchone()
    db.execute("UPDATE ala_messages SET body=? WHERE party=? AND message_id=?",
               (bytes(row[2]).replace(b"<sellerOrderReference>", b"<sellerOrderReference>LOST-"), row[0], row[1]))


def cancel_pending_without_its_answer(db: sqlite3.Connection) -> None:
    db.execute("UPDATE ala_orders SET state='cancel_pending' WHERE seller_ref=?", (first_order(db)[0],))


def cancel_answer_but_still_in_flight(db: sqlite3.Connection) -> None:
    db.execute("UPDATE ala_orders SET state='in_flight' WHERE seller_ref=?", (first_order(db, "cancel_pending")[0],))


def cancellation_of_an_unknown_order(db: sqlite3.Connection) -> None:
    db.execute("UPDATE fc_cancellations SET order_id=999999")


def two_cancellations_of_one_order(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO fc_cancellations (tenant, order_id, status, body, created_at) "
               "SELECT tenant, order_id, status, body, created_at FROM fc_cancellations")


def cancellation_by_another_tenant(db: sqlite3.Connection) -> None:
    db.execute("UPDATE fc_cancellations SET tenant='tenant-b'")


def cancelled_order_not_pending_cancellation(db: sqlite3.Connection) -> None:
    db.execute("UPDATE fc_orders SET status='RECEIVED_BY_GATEWAY'")


def pending_cancellation_without_one(db: sqlite3.Connection) -> None:
    db.execute("UPDATE fc_orders SET status='PENDING_CANCELLATION'")


CORRUPTIONS: dict[str, tuple[Callable[[sqlite3.Connection], None], str]] = {
    "an order lost": (lose_an_order, "is ceased but no order ceases it"),
    "a service ceased twice": (cease_twice, "ceased more than once"),
    "an order of a service still active": (order_of_an_active_service, "which is still active"),
    "an order of a service the store does not hold": (order_of_an_unknown_service, "a service the store does not hold"),
    "a service ceased without an order": (ceased_without_an_order, "SVC-5 is ceased but no order"),
    "an answer naming an order the store lost": (answer_names_a_lost_order, "which the store does not hold"),
    "a cancellation pending without its answer": (cancel_pending_without_its_answer, "is cancel_pending but named by 0"),
    "a cancel answered but the order still in flight": (cancel_answer_but_still_in_flight, "was cancelled"),
    "a cancellation of an order never issued": (cancellation_of_an_unknown_order, "which the store does not hold"),
    "two cancellations of one order": (two_cancellations_of_one_order, "has 2 cancellations"),
    "a cancellation by another tenant": (cancellation_by_another_tenant, "by tenant-b is of order"),
    "a cancelled order not pending cancellation": (cancelled_order_not_pending_cancellation,
                                                   "has a cancellation but is RECEIVED_BY_GATEWAY"),
    "an order pending cancellation without one": (pending_cancellation_without_one,
                                                  "is PENDING_CANCELLATION without a cancellation"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupted_store_is_caught(consistent: Path, tmp_path: Path, name: str) -> None:
    corrupt, expected = CORRUPTIONS[name]
    path = copy_of(consistent, tmp_path)
    db = sqlite3.connect(path)
    corrupt(db)
    db.commit()
    db.close()
    problems = problems_of(path)
    assert any(expected in p for p in problems), problems
