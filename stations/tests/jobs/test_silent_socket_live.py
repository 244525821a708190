"""A charger whose socket is open but silent is disconnected by the offline job (live daphne)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import websockets
from channels.db import database_sync_to_async
from django.utils import timezone
from ocpp.v16 import call

from stations.models import Station
from stations.tasks import station_mark_offline_stale
from stations.tests.factories import ConnectorFactory, StationFactory
from stations.tests.remote.charger import TestCharger

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]


async def test_an_open_but_silent_socket_is_closed_and_the_station_is_offline(start_daphne: Callable[..., str]) -> None:
    host = await asyncio.to_thread(start_daphne)
    station = await database_sync_to_async(StationFactory)(heartbeat_interval=60)
    await database_sync_to_async(ConnectorFactory)(station=station, connector_id=1)
    ws = await websockets.connect(f"ws://{host}/ocpp/{station.charge_point_id}", subprotocols=["ocpp1.6"])
    charger = TestCharger(station.charge_point_id, ws)
    runner = asyncio.create_task(charger.start())
    try:
        assert (await charger.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))).status == "Accepted"
        # The charger then says nothing for three heartbeat intervals (the clock is moved back).
        silent_since = timezone.now() - timedelta(seconds=200)
        await database_sync_to_async(
            lambda: Station.objects.filter(pk=station.pk).update(last_heartbeat=silent_since)
        )()

        stale = await database_sync_to_async(station_mark_offline_stale)()

        assert stale == [station.pk]
        await asyncio.wait_for(ws.wait_closed(), timeout=10)
        assert ws.close_code == 4408
        # The consumer's disconnect clears the presence record (written by its committer).
        deadline = time.monotonic() + 10
        while True:
            row = await database_sync_to_async(Station.objects.get)(pk=station.pk)
            if (not row.connected and not row.channel_name) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert row.connected is False
        assert row.channel_name == ""
        assert await database_sync_to_async(lambda: row.status)() == "offline"
    finally:
        await ws.close()
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
