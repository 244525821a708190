"""A minimal central system (the ``ocpp`` library on ``websockets``) that records what a
simulated charger sends and lets a test send it commands, with no database."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from stations.simulator import SimulatedChargePoint, SimulatorConfig, run_simulator, utc_now


class RecordingCentralSystem(ChargePoint):
    """Answers like an accepting CSMS and keeps every call it received, in order."""

    def __init__(self, cp_id: str, connection: Any, *, interval: int, ids: itertools.count[int]) -> None:
        super().__init__(cp_id, connection, response_timeout=10)
        self.interval = interval
        self.ids = ids
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Condition()

    async def _record(self, action: str, payload: dict[str, Any]) -> None:
        async with self.changed:
            self.received.append((action, payload))
            self.changed.notify_all()

    async def wait_for(self, action: str, predicate: Callable[[dict[str, Any]], bool] = lambda p: True,
                       *, after: int = 0, timeout: float = 15.0) -> dict[str, Any]:
        """The first ``action`` received (from index ``after`` on) whose payload satisfies ``predicate``."""

        def found() -> dict[str, Any] | None:
            for name, payload in self.received[after:]:
                if name == action and predicate(payload):
                    return payload
            return None

        async with asyncio.timeout(timeout):
            async with self.changed:
                await self.changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result

    def actions(self) -> list[str]:
        return [name for name, _ in self.received]

    @on(Action.boot_notification)
    async def on_boot(self, **kw: Any) -> call_result.BootNotification:
        await self._record("BootNotification", kw)
        return call_result.BootNotification(current_time=utc_now(), interval=self.interval, status="Accepted")

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kw: Any) -> call_result.Heartbeat:
        await self._record("Heartbeat", kw)
        return call_result.Heartbeat(current_time=utc_now())

    @on(Action.status_notification)
    async def on_status(self, **kw: Any) -> call_result.StatusNotification:
        await self._record("StatusNotification", kw)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, **kw: Any) -> call_result.Authorize:
        await self._record("Authorize", kw)
        status = "Blocked" if kw["id_tag"].startswith("BLOCKED") else "Accepted"
        return call_result.Authorize(id_tag_info={"status": status})

    @on(Action.start_transaction)
    async def on_start(self, **kw: Any) -> call_result.StartTransaction:
        await self._record("StartTransaction", kw)
        if kw["id_tag"].startswith("FAIL"):
            raise RuntimeError("the CSMS broke")  # the library answers CALLERROR InternalError
        return call_result.StartTransaction(transaction_id=next(self.ids), id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    async def on_meter_values(self, **kw: Any) -> call_result.MeterValues:
        await self._record("MeterValues", kw)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop(self, **kw: Any) -> call_result.StopTransaction:
        await self._record("StopTransaction", kw)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics(self, **kw: Any) -> call_result.DiagnosticsStatusNotification:
        await self._record("DiagnosticsStatusNotification", kw)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware(self, **kw: Any) -> call_result.FirmwareStatusNotification:
        await self._record("FirmwareStatusNotification", kw)
        return call_result.FirmwareStatusNotification()


@dataclass
class FakeCsms:
    url: str
    interval: int
    connections: list[RecordingCentralSystem] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def current(self) -> RecordingCentralSystem:
        return self.connections[-1]

    async def wait_connections(self, count: int, timeout: float = 15.0) -> RecordingCentralSystem:
        async with asyncio.timeout(timeout):
            while len(self.connections) < count:
                self.connected.clear()
                await self.connected.wait()
        return self.connections[count - 1]


@pytest.fixture
async def fake_csms() -> AsyncIterator[FakeCsms]:
    ids = itertools.count(100)
    csms = FakeCsms(url="", interval=60)

    async def handler(connection: Any) -> None:
        cp_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        cs = RecordingCentralSystem(cp_id, connection, interval=csms.interval, ids=ids)
        csms.connections.append(cs)
        csms.connected.set()
        with contextlib.suppress(websockets.ConnectionClosed):
            await cs.start()

    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        csms.url = f"ws://127.0.0.1:{port}/ocpp/"
        yield csms


@dataclass
class RunningSimulator:
    cp: SimulatedChargePoint
    task: asyncio.Task[SimulatedChargePoint]
    stop: asyncio.Event


@pytest.fixture
async def simulate(fake_csms: FakeCsms) -> AsyncIterator[Callable[..., Any]]:
    """Start a simulator against the fake CSMS: ``await simulate(sessions=1, ...)``."""
    running: list[RunningSimulator] = []

    async def start(**options: Any) -> RunningSimulator:
        options.setdefault("charge_point_id", "SIM-1")
        options.setdefault("seed", 7)
        config = SimulatorConfig(url=fake_csms.url, **options)
        holder: list[SimulatedChargePoint] = []
        stop = asyncio.Event()
        task = asyncio.ensure_future(run_simulator(config, stop, on_ready=holder.append))
        await asyncio.sleep(0)
        sim = RunningSimulator(cp=holder[0], task=task, stop=stop)
        running.append(sim)
        return sim

    yield start
    for sim in running:
        sim.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sim.task, timeout=15)
