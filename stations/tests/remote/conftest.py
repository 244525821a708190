"""Fixtures for remote control.

``linked_consumer`` runs ``RemoteCommandsMixin`` in this process the way the OCPP consumer does:
it listens on its own channel of the real channel layer, holds an ``ocpp`` v16 ChargePoint whose
frames go straight to a ``TestCharger`` (no socket), and keeps the station's presence record.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from ocpp.v16 import ChargePoint

from stations.models import Station
from stations.protocol.commands import RemoteCommandsMixin
from stations.tests.factories import StationFactory
from stations.tests.remote.charger import TestCharger


class _Pipe:
    """``send(str)`` hands the frame to the other side's ``route_message``."""

    def __init__(self) -> None:
        self.peer: ChargePoint | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    async def send(self, message: str) -> None:
        if self.closed:
            return
        assert self.peer is not None
        task = asyncio.create_task(self.peer.route_message(message))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class HarnessConsumer(RemoteCommandsMixin):
    """What the OCPP consumer gives the mixin, and nothing more."""

    def __init__(self, charge_point_id: str, behaviour: dict[str, Any] | None = None) -> None:
        self.charge_point_id = charge_point_id
        self.channel_layer = get_channel_layer()
        self.ready = asyncio.Event()
        to_charger, to_csms = _Pipe(), _Pipe()
        self.charge_point = ChargePoint(charge_point_id, to_charger, response_timeout=30)
        self.charger = TestCharger(charge_point_id, to_csms, behaviour)
        to_charger.peer, to_csms.peer = self.charger, self.charge_point
        self.pipes = (to_charger, to_csms)
        self.channel_name = ""
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.channel_name = await self.channel_layer.new_channel()
        self._listener = asyncio.create_task(self._listen())
        await database_sync_to_async(Station.objects.filter(charge_point_id=self.charge_point_id).update)(
            connected=True, channel_name=self.channel_name, server_id="harness",
        )

    async def _listen(self) -> None:
        # One event at a time, as Channels dispatches them.
        while True:
            message = await self.channel_layer.receive(self.channel_name)
            assert message["type"] == "ocpp.command"
            await self.ocpp_command(message)

    async def stop(self) -> None:
        for pipe in self.pipes:
            pipe.closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.commands_on_disconnect()
        await database_sync_to_async(Station.objects.filter(charge_point_id=self.charge_point_id).update)(
            connected=False, channel_name="",
        )


@pytest.fixture
async def linked_consumer(transactional_db: Any) -> AsyncIterator[Callable[..., Any]]:
    # A fresh layer for each test's event loop: channels-redis keeps per-channel locks and cleanup
    # tasks that belong to the loop that made them.
    channel_layers.backends.clear()
    consumers: list[HarnessConsumer] = []

    async def make(behaviour: dict[str, Any] | None = None, *, ready: bool = True, **station: Any) -> HarnessConsumer:
        station_row = await database_sync_to_async(StationFactory)(**station)
        consumer = HarnessConsumer(station_row.charge_point_id, behaviour)
        await consumer.start()
        if ready:
            consumer.ready.set()
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        await asyncio.wait_for(consumer.stop(), 30)
    layer = get_channel_layer()
    if hasattr(layer, "wait_received"):
        # A cleanup cancelled with its Redis read can linger; it must not hold the test.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(layer.wait_received(), 5)
    channel_layers.backends.clear()
