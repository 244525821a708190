"""End to end: a real charger (the ``ocpp`` library over ``websockets``) on a live daphne, a real
Celery worker on Redis, PostgreSQL. A driver's session reaches their balance: the CSMS stops it
remotely; the charger's StopTransaction settles it and debits the balance once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
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
from billing.models import LedgerEntry, LedgerKind
from billing.selectors import ledger_balance
from conftest import ROOT, server_env
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]
db = database_sync_to_async
BROKER_DB = 7  # a Redis database of billing's own: no other test run's worker takes these tasks


def broker_url() -> str:
    return settings.REDIS_URL.rsplit("/", 1)[0] + f"/{BROKER_DB}"


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path) -> Iterator[None]:
    redis.Redis.from_url(broker_url()).flushdb()
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "csms", "worker", "--pool=solo", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
        cwd=ROOT, env=server_env(CELERY_BROKER_URL=broker_url(), CELERY_TASK_ALWAYS_EAGER="0"),
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output = log.read_text(errors="replace")
        if "Traceback" in output:
            print(f"--- worker.log ---\n{output[-5000:]}")
        redis.Redis.from_url(broker_url()).flushdb()


class Charger(ChargePoint):  # type: ignore[misc]
    remote_stops: list[int]

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **kwargs: Any) -> call_result.RemoteStopTransaction:
        self.remote_stops.append(transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted")


@asynccontextmanager
async def charger(address: str, cp_id: str) -> AsyncIterator[Charger]:
    async with websockets.connect(f"ws://{address}/ocpp/{cp_id}", subprotocols=["ocpp1.6"]) as ws:
        cp = Charger(cp_id, ws)
        cp.remote_stops = []
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
