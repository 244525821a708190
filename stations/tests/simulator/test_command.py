"""``manage.py simulate_charger``: the door to the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import threading
from typing import Any

import pytest
import websockets
from django.core.management import call_command

from stations.tests.simulator.conftest import RecordingCentralSystem


@pytest.fixture
def threaded_csms():
    """The recording central system on its own event loop (the command runs asyncio.run itself)."""
    loop = asyncio.new_event_loop()
    systems: list[RecordingCentralSystem] = []
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def handler(connection: Any) -> None:
        cs = RecordingCentralSystem(connection.request.path.rsplit("/", 1)[-1], connection, interval=60,
                                    ids=itertools.count(1))
        systems.append(cs)
        with contextlib.suppress(websockets.ConnectionClosed):
            await cs.start()

    async def serve() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
            state["url"] = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/ocpp/"
            state["stop"] = asyncio.Event()
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    ready.wait(10)
    yield state["url"], systems
    loop.call_soon_threadsafe(state["stop"].set)
    thread.join(10)


def test_the_command_runs_a_session_and_says_so(threaded_csms):
    url, systems = threaded_csms
    out = io.StringIO()
    call_command("simulate_charger", "CMD-1", url=url, sessions=1, session_seconds=2, meter_interval=1,
                 id_tag="TAG-9", no_reconnect=True, stdout=out)
    actions = systems[0].actions()
    assert actions[0] == "BootNotification"
    assert {"Authorize", "StartTransaction", "MeterValues", "StopTransaction"} <= set(actions)
    assert "1 session(s) charged" in out.getvalue()


def test_an_invalid_charge_point_id_is_refused():
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("simulate_charger", "no spaces allowed", stderr=err)
    assert exit_info.value.code == 2
    assert "invalid charge point id" in err.getvalue()


def test_a_server_that_is_not_there_exits_with_an_error_without_reconnect():
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("simulate_charger", "CMD-2", url="ws://127.0.0.1:9/ocpp/", no_reconnect=True, stderr=err)
    assert exit_info.value.code == 1
    assert "CMD-2" in err.getvalue()
