"""End-to-end helpers: a real daphne (test database, Redis channel layer), a driver's JWT and an
``ocpp`` v16 ChargePoint over ``websockets`` that answers the driver-facing remote calls.

``answers`` per action: ``"Accepted"``/``"Rejected"``/… (the status), ``"error"`` (a CALLERROR),
``"silent"`` (never answers). After an accepted RemoteStartTransaction the charger starts a session
(StatusNotification Charging, StartTransaction, MeterValues); after an accepted
RemoteStopTransaction it stops it; after an accepted ReserveNow on a connector it reports Reserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests
import websockets
from channels.db import database_sync_to_async
from ocpp.exceptions import GenericError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import IdTagFactory, UserFactory
from stations.tests.factories import ConnectorFactory, StationFactory

db = database_sync_to_async


def now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DriverCharger(ChargePoint):
    def __init__(self, cp_id: str, connection: Any, answers: dict[str, str] | None = None) -> None:
        super().__init__(cp_id, connection, response_timeout=10)
        self.answers = dict(answers or {})
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.transaction_id: int | None = None
        self.energy_wh = 1000

    async def _status(self, action: str, kw: dict[str, Any]) -> str:
        self.received.append((action, kw))
        how = self.answers.get(action, "Accepted")
        if how == "silent":
            await asyncio.sleep(3600)
        if how == "error":
            raise GenericError(description="the test charger fails")
        return how

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **kw: Any) -> call_result.RemoteStartTransaction:
        return call_result.RemoteStartTransaction(status=await self._status("RemoteStartTransaction", kw))

    @after("RemoteStartTransaction")
    async def after_remote_start(self, id_tag: str, connector_id: int = 1, **_: Any) -> None:
        if self.answers.get("RemoteStartTransaction", "Accepted") != "Accepted":
            return
        await self.call(call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Charging"))
        started = await self.call(call.StartTransaction(
            connector_id=connector_id, id_tag=id_tag, meter_start=self.energy_wh, timestamp=now_z()))
        self.transaction_id = started.transaction_id
        self.energy_wh += 2500
        await self.call(call.MeterValues(connector_id=connector_id, transaction_id=self.transaction_id, meter_value=[
            {"timestamp": now_z(), "sampledValue": [{"value": str(self.energy_wh), "unit": "Wh"}]}]))

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kw: Any) -> call_result.RemoteStopTransaction:
        return call_result.RemoteStopTransaction(status=await self._status("RemoteStopTransaction", kw))

    @after("RemoteStopTransaction")
    async def after_remote_stop(self, transaction_id: int, **_: Any) -> None:
        if self.answers.get("RemoteStopTransaction", "Accepted") != "Accepted":
            return
        self.energy_wh += 500
        await self.call(call.StopTransaction(meter_stop=self.energy_wh, timestamp=now_z(),
                                             transaction_id=transaction_id, reason="Remote"))
        await self.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

    @on("ReserveNow")
    async def on_reserve_now(self, **kw: Any) -> call_result.ReserveNow:
        return call_result.ReserveNow(status=await self._status("ReserveNow", kw))

    @after("ReserveNow")
    async def after_reserve_now(self, connector_id: int, **_: Any) -> None:
        if self.answers.get("ReserveNow", "Accepted") == "Accepted" and connector_id > 0:
            await self.call(call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Reserved"))

    @on("CancelReservation")
    async def on_cancel_reservation(self, **kw: Any) -> call_result.CancelReservation:
        return call_result.CancelReservation(status=await self._status("CancelReservation", kw))

    def actions(self) -> list[str]:
        return [action for action, _ in self.received]


class Live:
    """One daphne; ``connect()`` brings a charger online on station ``cp_id`` with one connector."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.token = ""
        self.user_id = 0
        self.id_tag = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self._sockets: list[Any] = []

    async def login_driver(self, balance: str = "10.00") -> None:
        def make() -> tuple[int, str, str]:
            user = UserFactory(balance=Decimal(balance))
            tag = IdTagFactory(user=user)
            return user.pk, tag.id_tag, str(RefreshToken.for_user(user).access_token)

        self.user_id, self.id_tag, self.token = await db(make)()

    async def connect(self, cp_id: str, answers: dict[str, str] | None = None) -> DriverCharger:
        def make() -> None:
            station = StationFactory(charge_point_id=cp_id, price_per_kwh=Decimal("0.30"))
            ConnectorFactory(station=station, connector_id=1)

        await db(make)()
        ws = await websockets.connect(f"ws://{self.host}/ocpp/{cp_id}", subprotocols=["ocpp1.6"])
        self._sockets.append(ws)
        charger = DriverCharger(cp_id, ws, answers)
        self._tasks.append(asyncio.create_task(charger.start()))
        boot = await charger.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))
        assert boot.status == "Accepted"
        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        return charger

    async def request(self, method: str, path: str, json: Any = None) -> requests.Response:
        return await asyncio.to_thread(
            requests.request, method, f"http://{self.host}{path}", json=json,
            headers={"Authorization": f"Bearer {self.token}"}, timeout=60,
        )

    async def close(self) -> None:
        for ws in self._sockets:
            await ws.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await db(check)()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def live_server(start_daphne: Callable[..., str], **env: str) -> AsyncIterator[Live]:
    live = Live(start_daphne(**env))
    await live.login_driver()
    try:
        yield live
    finally:
        await live.close()
