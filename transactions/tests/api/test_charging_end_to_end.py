"""Start and stop from the driver's API against a real charger (``ocpp`` v16 over websockets) on a
live daphne, PostgreSQL and Redis. Nothing is mocked."""

from __future__ import annotations

import pytest

from transactions.models import Transaction
from transactions.tests.api.live import eventually, live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


async def test_start_then_live_session_then_stop(start_daphne) -> None:
    async with live_server(start_daphne) as live:
        charger = await live.connect("E2E-START")
        r = await live.request("POST", "/api/v1/stations/E2E-START/start/", {"connector_id": 1})
        assert r.status_code == 200 and r.json() == {"status": "Accepted"}
        assert charger.received[0] == ("RemoteStartTransaction", {"connector_id": 1, "id_tag": live.id_tag})

        def energy_arrived() -> bool:
            return Transaction.objects.filter(user_id=live.user_id, energy_wh=2500).exists()

        assert await eventually(energy_arrived)
        current = (await live.request("GET", "/api/v1/transactions/current/")).json()
        assert current["id"] == charger.transaction_id and current["charge_point_id"] == "E2E-START"
        assert current["energy_kwh"] == "2.500" and current["cost"] == "0.75" and current["active"] is True
        station = (await live.request("GET", "/api/v1/stations/E2E-START/")).json()
        assert station["status"] == "occupied" and station["last_charge"]["id"] == charger.transaction_id

        busy = await live.request("POST", "/api/v1/stations/E2E-START/start/", {"connector_id": 1})
        assert busy.status_code == 409

        stop = await live.request("POST", f"/api/v1/transactions/{charger.transaction_id}/stop/")
        assert stop.status_code == 200 and stop.json() == {"status": "Accepted"}
        assert charger.received[-1] == ("RemoteStopTransaction", {"transaction_id": charger.transaction_id})

        def stopped() -> bool:
            return Transaction.objects.filter(pk=charger.transaction_id, stopped_at__isnull=False).exists()

        assert await eventually(stopped)
        last = (await live.request("GET", "/api/v1/transactions/last/")).json()
        assert last["active"] is False and last["energy_kwh"] == "3.000" and last["stop_reason"] == "Remote"
        again = await live.request("POST", f"/api/v1/transactions/{charger.transaction_id}/stop/")
        assert again.status_code == 409


async def test_charger_rejects_start(start_daphne) -> None:
    async with live_server(start_daphne) as live:
        await live.connect("E2E-REJ", {"RemoteStartTransaction": "Rejected"})
        r = await live.request("POST", "/api/v1/stations/E2E-REJ/start/", {"connector_id": 1})
        assert r.status_code == 409 and r.json()["status"] == "Rejected" and r.json()["detail"]


async def test_charger_rejects_stop(start_daphne) -> None:
    async with live_server(start_daphne) as live:
        charger = await live.connect("E2E-NOSTOP", {"RemoteStopTransaction": "Rejected"})
        assert (await live.request("POST", "/api/v1/stations/E2E-NOSTOP/start/", {"connector_id": 1})).status_code == 200
        assert await eventually(lambda: Transaction.objects.filter(user_id=live.user_id).exists())
        tx_id = await eventually(lambda: charger.transaction_id)
        r = await live.request("POST", f"/api/v1/transactions/{tx_id}/stop/")
        assert r.status_code == 409 and r.json()["status"] == "Rejected"


async def test_callerror_is_a_502_and_silence_a_504(start_daphne) -> None:
    async with live_server(start_daphne, CSMS_CALL_TIMEOUT="2") as live:
        await live.connect("E2E-ERR", {"RemoteStartTransaction": "error"})
        r = await live.request("POST", "/api/v1/stations/E2E-ERR/start/", {"connector_id": 1})
        assert r.status_code == 502 and r.json()["code"] == "charger_call_error"
        await live.connect("E2E-SILENT", {"RemoteStartTransaction": "silent"})
        r = await live.request("POST", "/api/v1/stations/E2E-SILENT/start/", {"connector_id": 1})
        assert r.status_code == 504 and r.json()["code"] == "charger_timeout"


async def test_start_when_the_charger_went_away_is_a_409(start_daphne) -> None:
    async with live_server(start_daphne) as live:
        charger = await live.connect("E2E-GONE")
        await charger._connection.close()
        from stations.models import Station

        assert await eventually(lambda: not Station.objects.get(charge_point_id="E2E-GONE").connected)
        r = await live.request("POST", "/api/v1/stations/E2E-GONE/start/", {"connector_id": 1})
        assert r.status_code == 409 and r.json()["code"] == "charger_offline"
