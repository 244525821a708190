"""Operators' notifications from real chargers, pushed to a real WebSocket, all on a live daphne."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async
from ocpp.v16 import call
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import AdminFactory
from notifications.models import NotificationKind
from stations.tests.factories import ConnectorFactory, StationFactory
from stations.tests.remote.charger import TestCharger

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]


async def next_notification(ws: Any) -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
        if event["type"] == "notification":
            return event["notification"]


async def test_a_faulted_charger_and_an_unknown_one_reach_the_operators_open_page(
    start_daphne: Callable[..., str],
) -> None:
    host = await asyncio.to_thread(start_daphne, CSMS_UNKNOWN_CHARGE_POINTS="reject")
    admin = await database_sync_to_async(AdminFactory)()
    token = str(RefreshToken.for_user(admin).access_token)
    station = await database_sync_to_async(StationFactory)(charge_point_id="GENOA-7")
    await database_sync_to_async(ConnectorFactory)(station=station, connector_id=1)

    page = await websockets.connect(f"ws://{host}/ws/notifications/?token={token}")
    assert json.loads(await page.recv()) == {"type": "hello", "unread": 0}

    socket = await websockets.connect(f"ws://{host}/ocpp/GENOA-7", subprotocols=["ocpp1.6"])
    charger = TestCharger("GENOA-7", socket)
    runner = asyncio.create_task(charger.start())
    try:
        await charger.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))
        await charger.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        faulted = await next_notification(page)
        assert faulted["kind"] == NotificationKind.STATION_FAULTED
        assert "GroundFailure" in faulted["body"]

        with pytest.raises(websockets.exceptions.InvalidStatus):
            await websockets.connect(f"ws://{host}/ocpp/ROGUE-99", subprotocols=["ocpp1.6"])
        unknown = await next_notification(page)
        assert unknown["kind"] == NotificationKind.UNKNOWN_CHARGER
        assert "ROGUE-99" in unknown["body"]
    finally:
        await page.close()
        await socket.close()
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
