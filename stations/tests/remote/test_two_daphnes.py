"""End to end: a real ``ocpp`` v16 charger on one daphne, every command sent through another.

Both daphne processes run on the test database and one Redis channel layer; the REST calls carry
an admin's JWT. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import requests
import websockets
from channels.db import database_sync_to_async
from ocpp.v16 import call
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import AdminFactory
from core.testing import ROOT, free_port, server_env, wait_for_port
from stations.models import ChargingProfile, Command, CompositeSchedule, ConfigurationKey, Connector, Station
from stations.tests.factories import ConnectorFactory, StationFactory
from stations.tests.remote.charger import REQUESTS, TestCharger

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture(scope="module")
def daphne_pair(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two daphne processes for the whole module (starting them is the slow part)."""
    procs = []
    hosts = []
    for _ in range(2):
        port = free_port()
        log = tmp_path_factory.mktemp("daphne") / "daphne.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "csms.asgi:application"],
            cwd=ROOT, env=server_env(), stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        wait_for_port(port, proc, timeout=90.0)  # a loaded CI machine starts Django slowly
        hosts.append(f"127.0.0.1:{port}")
    yield hosts[0], hosts[1]
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Live:
    """The charger's daphne (``ocpp_host``), the caller's daphne (``api_host``) and an admin token."""

    def __init__(self, start_daphne: Callable[..., str], hosts: tuple[str, str]) -> None:
        self.start_daphne = start_daphne
        self.ocpp_host, self.api_host = hosts
        self.token = ""
        self.tasks: list[asyncio.Task[Any]] = []
        self.sockets: list[Any] = []
        self.charger_ids: list[str] = []

    async def setup(self) -> None:
        admin = await database_sync_to_async(AdminFactory)()
        self.token = str(RefreshToken.for_user(admin).access_token)

    async def charger(self, behaviour: dict[str, Any] | None = None, **station: Any) -> TestCharger:
        row = await database_sync_to_async(StationFactory)(**station)
        await database_sync_to_async(ConnectorFactory)(station=row, connector_id=1)
        ws = await websockets.connect(f"ws://{self.ocpp_host}/ocpp/{row.charge_point_id}", subprotocols=["ocpp1.6"])
        self.sockets.append(ws)
        self.charger_ids.append(row.charge_point_id)
        charger = TestCharger(row.charge_point_id, ws, behaviour)
        self.tasks.append(asyncio.create_task(charger.start()))
        boot = await charger.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))
        assert boot.status == "Accepted"
        return charger

    async def post(self, charge_point_id: str, action: str, payload: Any, *, host: str | None = None,
                   query: str = "") -> requests.Response:
        url = f"http://{host or self.api_host}/api/v1/stations/{charge_point_id}/commands/{action}/{query}"
        return await asyncio.to_thread(
            requests.post, url, json=payload, headers={"Authorization": f"Bearer {self.token}"}, timeout=60,
        )

    async def get(self, path: str) -> requests.Response:
        return await asyncio.to_thread(
            requests.get, f"http://{self.api_host}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=30,
        )

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        # The module's daphnes outlive the test: let them finish the disconnects' writes before
        # pytest empties the database, or its TRUNCATE and their UPDATEs can deadlock.
        ids = list(self.charger_ids)
        await _wait_for(lambda: not Station.objects.filter(charge_point_id__in=ids, connected=True).exists(), timeout=15.0)
        await asyncio.sleep(0.5)


@pytest.fixture
async def live(start_daphne: Callable[..., str], daphne_pair: tuple[str, str]) -> AsyncIterator[Live]:
    live = Live(start_daphne, daphne_pair)
    await live.setup()
    yield live
    await live.close()


async def _wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await database_sync_to_async(predicate)()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_every_command_goes_through_the_other_process_and_keeps_its_effects(live: Live) -> None:
    charger = await live.charger()
    cp_id = charger.id
    for action, payload in REQUESTS.items():
        response = await live.post(cp_id, action, payload)
        assert response.status_code == 200, (action, response.text)
    assert [a for a, _ in charger.received] == list(REQUESTS)
    assert (await live.post(cp_id, "GetConfiguration", {})).json()["configurationKey"][0]["key"] == "HeartbeatInterval"
    # REQUESTS runs in alphabetical order: clear the profile that SetChargingProfile stored after it.
    assert (await live.post(cp_id, "ClearChargingProfile", {"id": 3})).json() == {"status": "Accepted"}

    def effects() -> dict[str, Any]:
        station = Station.objects.get(charge_point_id=cp_id)
        return {
            "keys": dict(ConfigurationKey.objects.filter(station=station).values_list("key", "value")),
            "availability": Connector.objects.get(station=station, connector_id=1).availability,
            "list_version": station.local_list_version,
            "profile": list(ChargingProfile.objects.filter(station=station).values_list("profile_id", "status", "cleared_at")),
            "schedule": CompositeSchedule.objects.filter(station=station).values_list("status", flat=True).first(),
            "ledger": sorted(set(Command.objects.filter(station=station).values_list("state", "source"))),
        }

    found = await database_sync_to_async(effects)()
    assert found["keys"]["HeartbeatInterval"] == "60"  # read again by the last GetConfiguration
    assert found["availability"] == "Inoperative"
    assert found["list_version"] == 5  # SendLocalList came after GetLocalListVersion (4)
    [(profile_id, status, cleared_at)] = found["profile"]
    assert (profile_id, status) == (3, "Accepted") and cleared_at is not None  # ClearChargingProfile id 3
    assert found["schedule"] == "Accepted"
    assert found["ledger"] == [("answered", "api")]


async def test_wait_false_answers_202_and_the_record_follows(live: Live) -> None:
    charger = await live.charger({"GetConfiguration": 0.3})
    response = await live.post(charger.id, "GetConfiguration", {"key": ["HeartbeatInterval"]}, query="?wait=false")
    assert response.status_code == 202
    record = response.json()
    assert record["state"] in ("pending", "sent")
    assert record["charge_point_id"] == charger.id
    await _wait_for(lambda: Command.objects.filter(pk=record["id"], state="answered").exists())
    body = (await live.get(f"/api/v1/commands/{record['id']}/")).json()
    assert body["state"] == "answered"
    assert body["response"]["configurationKey"][0]["value"] == "60"
    assert body["answered_at"] is not None


async def test_invalid_payload_is_400_naming_the_field_and_nothing_is_sent(live: Live) -> None:
    charger = await live.charger()
    response = await live.post(charger.id, "ChangeAvailability", {"connectorId": 1, "type": "Broken"})
    assert response.status_code == 400
    assert "type" in response.json()["errors"]
    unknown = await live.post(charger.id, "BootNotification", {})
    assert unknown.status_code == 404
    await asyncio.sleep(0.2)
    assert charger.received == []
    assert not await database_sync_to_async(Command.objects.exists)()


async def test_callerror_answer_is_502_and_failed(live: Live) -> None:
    charger = await live.charger({"Reset": "error"})
    response = await live.post(charger.id, "Reset", {"type": "Hard"})
    assert response.status_code == 502
    command = await database_sync_to_async(Command.objects.get)(pk=response.json()["command"])
    assert command.state == "failed"
    assert command.error["code"] == "GenericError"


async def test_silent_charger_is_504_after_the_call_timeout(live: Live) -> None:
    charger = await live.charger({"Reset": "silent"})
    impatient = live.start_daphne(CSMS_CALL_TIMEOUT="2")
    started = time.monotonic()
    response = await live.post(charger.id, "Reset", {"type": "Soft"}, host=impatient)
    assert response.status_code == 504
    assert time.monotonic() - started < 20
    command = await database_sync_to_async(Command.objects.get)(pk=response.json()["command"])
    assert command.state == "timeout"


async def test_offline_station_is_409_and_recorded(live: Live) -> None:
    station = await database_sync_to_async(StationFactory)()
    response = await live.post(station.charge_point_id, "ClearCache", {})
    assert response.status_code == 409
    assert (await database_sync_to_async(Command.objects.get)()).state == "offline"
    assert (await live.post("NO-SUCH-STATION", "ClearCache", {})).status_code == 404


async def test_dead_process_is_409_in_about_a_second_and_presence_is_cleared(live: Live) -> None:
    charger = await live.charger()
    # The presence now points at a channel nobody reads, as after a crashed process.
    dead = "specific.0123456789abcdef0123456789abcdef!0123456789abcdef"
    await database_sync_to_async(Station.objects.filter(charge_point_id=charger.id).update)(channel_name=dead)
    started = time.monotonic()
    response = await live.post(charger.id, "ClearCache", {})
    assert response.status_code == 409
    assert time.monotonic() - started < 10  # the acknowledgement timeout, not the 30 s call timeout
    station = await database_sync_to_async(Station.objects.get)(charge_point_id=charger.id)
    assert station.connected is False


async def test_idle_consumer_on_redis_still_receives_a_command_after_seven_seconds(live: Live) -> None:
    # channels-redis blocks 5 s in BZPOPMIN; a socket timeout under that would drop the idle reader.
    charger = await live.charger(heartbeat_interval=3600)
    await asyncio.sleep(7)
    response = await live.post(charger.id, "GetLocalListVersion", {})
    assert response.status_code == 200
    assert response.json() == {"listVersion": 4}


async def test_ocpp_call_prints_the_answer_of_a_charger_on_another_process(live: Live) -> None:
    import io

    from django.core.management import call_command

    charger = await live.charger()
    out = io.StringIO()
    await asyncio.to_thread(call_command, "ocpp_call", charger.id, "GetConfiguration",
                            '{"key": ["NumberOfConnectors"]}', stdout=out)
    assert '"value": "2"' in out.getvalue()
    assert [a for a, _ in charger.received] == ["GetConfiguration"]


async def test_a_power_limit_set_through_the_api_reaches_the_charger(live: Live) -> None:
    charger = await live.charger()
    response = await asyncio.to_thread(
        requests.post, f"http://{live.api_host}/api/v1/stations/{charger.id}/power-limit/",
        json={"power_limit_w": 11000}, headers={"Authorization": f"Bearer {live.token}"}, timeout=60)
    assert response.status_code == 200
    assert response.json()["command"]["response"] == {"status": "Accepted"}
    [(action, payload)] = charger.received
    assert action == "SetChargingProfile"
    assert payload["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 11000


async def test_a_station_with_a_power_limit_gets_it_at_boot_and_one_without_gets_nothing(live: Live) -> None:
    limited = await live.charger(power_limit_w=7000)
    plain = await live.charger()
    await _wait_for_received(limited, 1)
    [(action, payload)] = limited.received
    assert action == "SetChargingProfile"
    assert payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 7000
    await asyncio.sleep(0.5)
    assert plain.received == []


async def _wait_for_received(charger: Any, count: int, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(charger.received) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{charger.id} received {charger.received}"
        await asyncio.sleep(0.05)


async def test_a_booted_station_with_a_power_limit_gets_it_when_it_reconnects(live: Live) -> None:
    from django.utils import timezone

    charger = await live.charger(power_limit_w=5000, last_boot_at=timezone.now())
    await _wait_for_received(charger, 1)
    [(action, payload)] = charger.received
    assert action == "SetChargingProfile"
    assert payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 5000
