"""The adapter alone, fed frames through ``route_message`` with a fake connection (no socket)."""

from __future__ import annotations

import asyncio
import json

import pytest

from stations.protocol.v16 import CentralSystemV16
from stations.tests.factories import StationFactory
from channels.db import database_sync_to_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


class FakeConnection:
    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.sent: list[list] = []

    async def send(self, message: str) -> None:
        self.events.append("sent")
        self.sent.append(json.loads(message))


async def test_ready_hook_runs_only_after_the_accepted_boot_answer_was_sent() -> None:
    await database_sync_to_async(StationFactory)(charge_point_id="CP-1")
    events: list[str] = []
    connection = FakeConnection(events)
    ready = asyncio.Event()

    async def on_ready() -> None:
        events.append("ready")
        ready.set()

    cp = CentralSystemV16("CP-1", connection, on_boot_accepted=on_ready)
    await cp.route_message(json.dumps([2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    await asyncio.wait_for(ready.wait(), 5)
    assert events == ["sent", "ready"]
    assert connection.sent[0][2]["status"] == "Accepted"


async def test_no_ready_hook_for_a_pending_station() -> None:
    await database_sync_to_async(StationFactory)(charge_point_id="CP-P", registration_status="Pending")
    events: list[str] = []
    called = []

    async def on_ready() -> None:
        called.append(True)

    cp = CentralSystemV16("CP-P", FakeConnection(events), on_boot_accepted=on_ready)
    await cp.route_message(json.dumps([2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    await asyncio.sleep(0.05)
    assert called == []


async def test_answers_to_our_calls_go_to_the_waiting_call() -> None:
    cp = CentralSystemV16("CP-1", FakeConnection([]))
    await cp.route_message(json.dumps([3, "c1", {"status": "Accepted"}]))
    await cp.route_message(json.dumps([4, "c2", "NotSupported", "no", {}]))
    first = cp._response_queue.get_nowait()
    second = cp._response_queue.get_nowait()
    assert (first.unique_id, first.payload) == ("c1", {"status": "Accepted"})
    assert (second.unique_id, second.error_code) == ("c2", "NotSupported")


async def test_a_call_to_the_charger_gets_its_answer() -> None:
    from ocpp.v16 import call

    connection = FakeConnection([])
    cp = CentralSystemV16("CP-1", connection, response_timeout=5)
    pending = asyncio.create_task(cp.call(call.GetConfiguration(key=["HeartbeatInterval"])))
    while not connection.sent:
        await asyncio.sleep(0.01)
    unique_id = connection.sent[0][1]
    assert connection.sent[0][2] == "GetConfiguration"
    await cp.route_message(json.dumps([3, unique_id, {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}]))
    result = await asyncio.wait_for(pending, 5)
    assert result.configuration_key[0]["value"] == "60"
