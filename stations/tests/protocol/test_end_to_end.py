"""End to end: the ``ocpp`` library's v16 ChargePoint over ``websockets`` against a live server
on PostgreSQL and Redis: daphne, and uvicorn (the README's recommendation for production)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async
from ocpp.v16 import ChargePoint, call

from accounts.tests.factories import IdTagFactory
from stations.models import OcppMessage, RefusedConnection, Station
from stations.tests.factories import StationFactory
from transactions.models import MeterValue, Transaction

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

db = database_sync_to_async


@asynccontextmanager
async def charger(address: str, cp_id: str, **connect: Any) -> AsyncIterator[ChargePoint]:
    async with websockets.connect(f"ws://{address}/ocpp/{cp_id}", subprotocols=["ocpp1.6"], **connect) as ws:
        cp = ChargePoint(cp_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()


async def raw_call(ws: Any, frame: str) -> list[Any]:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def refused(address: str, path: str, **connect: Any) -> int:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with websockets.connect(f"ws://{address}{path}", **connect):
            pass
    return info.value.response.status_code


async def eventually(check: Any, timeout: float = 5) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await db(check)()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_a_charging_session_from_boot_to_stop_with_resends(start_server) -> None:
    await db(StationFactory)(charge_point_id="E2E-1", heartbeat_interval=90)
    await db(IdTagFactory)(id_tag="TAG-E2E")
    address = start_server()
    async with charger(address, "E2E-1") as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))
        assert (boot.status, boot.interval) == ("Accepted", 90) and boot.current_time.endswith("Z")
        assert (await cp.call(call.Heartbeat())).current_time.endswith("Z")
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        assert (await cp.call(call.Authorize(id_tag="TAG-E2E"))).id_tag_info["status"] == "Accepted"
        start = call.StartTransaction(connector_id=1, id_tag="TAG-E2E", meter_start=5000, timestamp="2026-01-01T10:00:00Z")
        started = await cp.call(start)
        assert (await cp.call(start)).transaction_id == started.transaction_id  # resent after a lost answer
        tx_id = started.transaction_id
        meter = call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[{
            "timestamp": "2026-01-01T10:10:00Z",
            "sampledValue": [{"value": "7.5", "unit": "kWh"},
                             {"value": "11", "unit": "kW", "measurand": "Power.Active.Import"},
                             {"value": "230.1", "unit": "V", "measurand": "Voltage", "phase": "L1-N"}],
        }])
        await cp.call(meter)
        await cp.call(meter)
        # An offline queue delivered late: an old status and old samples keep their own times.
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                              timestamp="2026-01-01T10:00:01Z"))
        stop = call.StopTransaction(meter_stop=9000, timestamp="2026-01-01T10:30:00Z", transaction_id=tx_id,
                                    id_tag="TAG-E2E", reason="EVDisconnected")
        assert (await cp.call(stop)).id_tag_info["status"] == "Accepted"
        assert (await cp.call(stop)).id_tag_info["status"] == "Accepted"  # resent: changes nothing
        unknown = await cp.call(call.StopTransaction(meter_stop=1, timestamp="2026-01-01T10:30:00Z", transaction_id=777777))
        assert unknown.id_tag_info is None
        assert (await cp.call(call.DataTransfer(vendor_id="acme", message_id="x"))).status == "UnknownVendorId"
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))

    tx = await db(Transaction.objects.get)()
    assert (tx.pk, tx.meter_start, tx.meter_stop, tx.energy_wh, tx.stop_reason) == (tx_id, 5000, 9000, 4000, "EVDisconnected")
    assert await db(MeterValue.objects.filter(transaction_id=tx_id).count)() == 3
    station = await eventually(lambda: Station.objects.filter(charge_point_id="E2E-1", connected=False).first())
    assert station.vendor == "ACME" and station.diagnostics_status == "Uploaded" and station.firmware_status == "Installed"
    assert station.last_heartbeat is not None and station.channel_name == ""
    assert await eventually(lambda: OcppMessage.objects.filter(charge_point_id="E2E-1").count() >= 2 * 15)


async def test_bad_input_is_answered_and_an_oversized_frame_closes_with_1009(start_server) -> None:
    await db(StationFactory)(charge_point_id="E2E-2")
    address = start_server(CSMS_OCPP_MAX_MESSAGE_BYTES="2048")
    async with websockets.connect(f"ws://{address}/ocpp/E2E-2", subprotocols=["ocpp1.6"]) as ws:
        assert (await raw_call(ws, "]]not json"))[:3] == [4, "-1", "FormationViolation"]
        assert (await raw_call(ws, '[2, "k1"]'))[:3] == [4, "k1", "ProtocolError"]
        assert (await raw_call(ws, '[2, "k2", "Teleport", {}]'))[:3] == [4, "k2", "NotImplemented"]
        schema = '[2, "k3", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": "lots", "timestamp": "2026-01-01T00:00:00Z"}]'
        assert (await raw_call(ws, schema))[:3] == [4, "k3", "TypeConstraintViolation"]
        assert (await raw_call(ws, '[2, "k4", "Heartbeat", {}]'))[:2] == [3, "k4"]  # still open
        await ws.send(json.dumps([2, "k5", "DataTransfer", {"vendorId": "v", "data": "x" * 4096}]))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_handshake_refusals_are_recorded(start_server) -> None:
    await db(StationFactory)(charge_point_id="E2E-S", password="pw-1")
    address = start_server(CSMS_UNKNOWN_CHARGE_POINTS="reject")
    ocpp16 = {"subprotocols": ["ocpp1.6"]}
    assert await refused(address, "/ocpp/E2E-S", **ocpp16) == 403
    wrong = base64.b64encode(b"E2E-S:nope").decode()
    assert await refused(address, "/ocpp/E2E-S", additional_headers={"Authorization": f"Basic {wrong}"}, **ocpp16) == 403
    assert await refused(address, "/ocpp/bad%20id", **ocpp16) == 403
    assert await refused(address, "/ocpp/E2E-S") == 403  # no subprotocol
    assert await refused(address, "/ocpp/STRANGER", **ocpp16) == 403
    good = base64.b64encode(b"E2E-S:pw-1").decode()
    async with charger(address, "E2E-S", additional_headers={"Authorization": f"Basic {good}"}) as cp:
        assert (await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))).status == "Accepted"
    reasons = await db(lambda: sorted(RefusedConnection.objects.values_list("charge_point_id", "reason")))()
    assert [r for _, r in reasons].count("unknown charge point") == 1
    assert ("E2E-S", "missing Basic-auth password") in reasons and ("E2E-S", "wrong Basic-auth password") in reasons
    assert ("bad id", "invalid charge point id") in reasons


async def test_unknown_charger_pending_then_second_connection_replaces_first(start_server) -> None:
    address = start_server(CSMS_UNKNOWN_CHARGE_POINTS="pending")
    async with websockets.connect(f"ws://{address}/ocpp/E2E-NEW", subprotocols=["ocpp1.6"]) as first:
        boot = '[2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]'
        answer = await raw_call(first, boot)
        assert answer[2]["status"] == "Pending" and answer[2]["interval"] > 0
        async with charger(address, "E2E-NEW") as second:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(first.recv(), 10)
            await db(lambda: Station.objects.filter(charge_point_id="E2E-NEW").update(registration_status="Accepted"))()
            boot2 = await second.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            assert boot2.status == "Accepted"
            station = await db(Station.objects.get)(charge_point_id="E2E-NEW")
            assert station.connected
