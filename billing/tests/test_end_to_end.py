"""End to end: a real charger (the ``ocpp`` library over ``websockets``) on a live daphne, a real
Celery worker on Redis, PostgreSQL (and for guests a fake Stripe API on a local port).

- A driver's session reaches their balance: the CSMS stops it remotely; the charger's
  StopTransaction settles it and debits the balance once.
- A guest pays by card: the hold is authorised (signed webhook), the charger is started remotely,
  and the actual cost is captured at the stop.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from accounts.tests.factories import IdTagFactory, UserFactory
from billing.models import LedgerEntry, LedgerKind, Payment, PaymentStatus
from billing.payments import guest_payment_from_token
from billing.selectors import ledger_balance
from billing.tests.stripe_fakes import WEBHOOK_SECRET, FakeStripeServer, event, sign
from core.testing import celery_worker, redis_url_with_db
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]
db = database_sync_to_async
BROKER_DB = 7  # a Redis database of billing's own: no other test run's worker takes these tasks


def broker_url() -> str:
    return redis_url_with_db(settings.REDIS_URL, BROKER_DB)


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripeServer]:
    server = FakeStripeServer()
    yield server
    server.close()


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path, worker_env: dict[str, str]) -> Iterator[None]:
    redis.Redis.from_url(broker_url()).flushdb()
    try:
        with celery_worker(tmp_path / "worker.log", worker_env):
            yield
    finally:
        redis.Redis.from_url(broker_url()).flushdb()


class Charger(ChargePoint):  # type: ignore[misc]
    remote_stops: list[int]
    remote_starts: list[dict[str, Any]]

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **kwargs: Any) -> call_result.RemoteStartTransaction:
        self.remote_starts.append({"id_tag": id_tag, "connector_id": connector_id})
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **kwargs: Any) -> call_result.RemoteStopTransaction:
        self.remote_stops.append(transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted")


@asynccontextmanager
async def charger(address: str, cp_id: str) -> AsyncIterator[Charger]:
    async with websockets.connect(f"ws://{address}/ocpp/{cp_id}", subprotocols=["ocpp1.6"]) as ws:
        cp = Charger(cp_id, ws)
        cp.remote_stops = []
        cp.remote_starts = []
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()


async def eventually(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def eventually_db(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await db(check)()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


def iso(dt: Any) -> str:
    return dt.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


async def test_a_session_reaching_the_balance_is_stopped_remotely_and_debited_once(start_daphne, worker) -> None:  # type: ignore[no-untyped-def]
    def setup() -> Any:
        station = StationFactory(charge_point_id="BILL-E2E", price_per_kwh=Decimal("0.50"))
        ConnectorFactory(station=station, connector_id=1)
        driver = UserFactory(balance=Decimal("0"))
        from billing.services import ledger_credit

        ledger_credit(user_id=driver.pk, amount=Decimal("1.00"), kind=LedgerKind.INITIAL)
        IdTagFactory(id_tag="TAG-BILL", user=driver)
        return driver

    driver = await db(setup)()
    address = start_daphne(CELERY_BROKER_URL=broker_url(), CELERY_TASK_ALWAYS_EAGER="0")
    t0 = timezone.now() - timedelta(minutes=30)
    async with charger(address, "BILL-E2E") as cp:
        await cp.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-BILL", meter_start=0, timestamp=iso(t0)))
        tx_id = started.transaction_id
        for minute, wh in ((10, 1000), (20, 2500)):  # 0.50, then 1.25 ≥ the balance of 1.00
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[{
                "timestamp": iso(t0 + timedelta(minutes=minute)),
                "sampledValue": [{"value": str(wh), "unit": "Wh", "measurand": "Energy.Active.Import.Register"}],
            }]))
        assert await eventually(lambda: cp.remote_stops) == [tx_id]
        stop = call.StopTransaction(meter_stop=2600, timestamp=iso(t0 + timedelta(minutes=21)), transaction_id=tx_id,
                                    id_tag="TAG-BILL", reason="Remote")
        await cp.call(stop)
        await cp.call(stop)  # resent after a lost answer
        await asyncio.sleep(0.5)
        assert cp.remote_stops == [tx_id]  # one remote stop, whatever followed

    tx = await db(Transaction.objects.get)(pk=tx_id)
    assert (tx.energy_wh, tx.cost) == (2600, Decimal("1.30"))
    debits = await db(lambda: list(LedgerEntry.objects.filter(transaction_id=tx_id).values_list("kind", "amount")))()
    assert debits == [(LedgerKind.SESSION, Decimal("-1.30"))]
    await db(driver.refresh_from_db)()
    assert driver.balance == Decimal("-0.30") == await db(ledger_balance)(user_id=driver.pk)


@pytest.fixture(autouse=True)
async def close_thread_connections() -> AsyncIterator[None]:
    """The ORM ran in sync_to_async's thread; close its connection so the test database can be dropped."""
    yield
    await db(connections.close_all)()


def http(address: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://{address}{path}", data=body or None, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def guest_env(fake_stripe: FakeStripeServer) -> dict[str, str]:
    return {"STRIPE_SECRET_KEY": "sk_test_e2e", "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": fake_stripe.url}


@pytest.fixture
def worker_env(guest_env: dict[str, str]) -> dict[str, str]:
    """The worker's extra environment: the test's own broker database, and the fake Stripe."""
    return {"CELERY_BROKER_URL": broker_url(), "CELERY_TASK_ALWAYS_EAGER": "0", **guest_env}


async def test_a_guest_pays_by_card_hold_and_the_stop_captures_the_actual_cost(  # type: ignore[no-untyped-def]
    start_daphne, worker, fake_stripe, guest_env,
) -> None:
    def setup() -> None:
        station = StationFactory(charge_point_id="BILL-GUEST", price_per_kwh=Decimal("0.50"))
        ConnectorFactory(station=station, connector_id=1)

    await db(setup)()
    address = start_daphne(CELERY_BROKER_URL=broker_url(), CELERY_TASK_ALWAYS_EAGER="0", **guest_env)
    t0 = timezone.now() - timedelta(minutes=30)
    async with charger(address, "BILL-GUEST") as cp:
        await cp.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        status, body = await asyncio.to_thread(http, address, "POST", "/api/v1/billing/guest-sessions/",
                                               json.dumps({"charge_point_id": "BILL-GUEST", "connector_id": 1,
                                                           "email": "guest@example.com"}).encode())
        assert status == 201, body
        assert fake_stripe.http.paths() == ["/v1/payment_intents"]
        payment = await db(Payment.objects.get)(pk=body["payment_id"])
        authorised = event("payment_intent.amount_capturable_updated", {
            "id": payment.provider_ref, "object": "payment_intent", "amount": 3000, "amount_capturable": 3000,
            "capture_method": "manual", "currency": "eur", "status": "requires_capture",
            "metadata": {"payment": str(payment.pk)},
        }, event_id="evt_e2e_hold")
        status, result = await asyncio.to_thread(http, address, "POST", "/api/v1/billing/webhooks/stripe/", authorised,
                                                 {"Stripe-Signature": sign(authorised)})
        assert (status, result) == (200, {"status": "authorized"})

        assert await eventually(lambda: cp.remote_starts) == [{"id_tag": payment.id_tag, "connector_id": 1}]
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag=payment.id_tag, meter_start=0, timestamp=iso(t0)))
        assert started.id_tag_info["status"] == "Accepted"
        tx_id = started.transaction_id
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[{
            "timestamp": iso(t0 + timedelta(minutes=10)),
            "sampledValue": [{"value": "5000", "unit": "Wh", "measurand": "Energy.Active.Import.Register"}],
        }]))
        status, progress = await asyncio.to_thread(http, address, "GET", f"/api/v1/billing/guest-sessions/{body['token']}/")
        assert (status, progress["transaction_id"], progress["cost"], progress["active"]) == (200, tx_id, "2.50", True)
        await cp.call(call.StopTransaction(meter_stop=6000, timestamp=iso(t0 + timedelta(minutes=20)), transaction_id=tx_id,
                                           reason="EVDisconnected"))

    capture = f"/v1/payment_intents/{payment.provider_ref}/capture"
    assert await eventually(lambda: capture in fake_stripe.http.paths())
    form = next(f for _m, p, f in fake_stripe.http.requests if p == capture)
    assert form["amount_to_capture"] == ["300"]  # 6 kWh at 0.50: the actual cost, the rest released
    payment = await eventually_db(lambda: Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CAPTURED).first())
    assert payment.captured_amount == Decimal("3.00")
    status, final = await asyncio.to_thread(http, address, "GET", f"/api/v1/billing/guest-sessions/{body['token']}/")
    assert (final["cost"], final["active"], final["status"]) == ("3.00", False, "captured")
    # The link carries a fresh signed token (it embeds its signing time) for the same payment.
    receipt_path, receipt_token = final["receipt_url"].split("?token=")
    assert receipt_path.endswith(f"/billing/receipts/{tx_id}/")
    assert (await db(guest_payment_from_token)(receipt_token)).pk == payment.pk
