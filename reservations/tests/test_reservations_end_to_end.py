"""Reserve, cancel, expire and use a reservation against a real charger (``ocpp`` v16 over
websockets) on a live daphne, PostgreSQL and Redis. Nothing is mocked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_expire_due
from stations.models import Connector
from transactions.tests.api.live import eventually, live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


async def test_reserve_shows_reserved_then_cancel_frees_it(start_daphne, settings) -> None:
    async with live_server(start_daphne, CSMS_RESERVATION_MINUTES="20") as live:
        charger = await live.connect("E2E-RES")
        before = timezone.now()
        r = await live.request("POST", "/api/v1/stations/E2E-RES/reserve/", {"connector_id": 1})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["charge_point_id"] == "E2E-RES" and body["connector_id"] == 1 and body["status"] == "active"
        assert body["id_tag"] == live.id_tag and body["user"] == live.user_id
        action, sent = charger.received[-1]
        assert action == "ReserveNow" and sent["reservation_id"] == body["id"] and sent["connector_id"] == 1
        assert sent["id_tag"] == live.id_tag and sent["expiry_date"] == body["expires_at"].split(".")[0].rstrip("Z") + "Z"
        row = await database_sync_to_async(Reservation.objects.get)(pk=body["id"])
        assert timedelta(minutes=19) < row.expires_at - before < timedelta(minutes=21)
        station = (await live.request("GET", "/api/v1/stations/E2E-RES/")).json()
        assert station["status"] == "reserved" and station["last_reservation"]["id"] == body["id"]

        second = await live.request("POST", "/api/v1/stations/E2E-RES/reserve/", {})
        assert second.status_code == 409 and second.json()["code"] == "reservation_exists"

        cancel = await live.request("POST", f"/api/v1/reservations/{body['id']}/cancel/")
        assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
        assert charger.received[-1] == ("CancelReservation", {"reservation_id": body["id"]})
        station = (await live.request("GET", "/api/v1/stations/E2E-RES/")).json()
        assert station["status"] == "available"


async def test_charger_refuses_the_reservation(start_daphne) -> None:
    async with live_server(start_daphne) as live:
        charger = await live.connect("E2E-RES-NO", {"ReserveNow": "Occupied"})
        r = await live.request("POST", "/api/v1/stations/E2E-RES-NO/reserve/", {"connector_id": 1})
        assert r.status_code == 409 and r.json()["status"] == "Occupied"
        rows = await database_sync_to_async(lambda: list(Reservation.objects.values_list("status", "charger_status")))()
        assert rows == [(ReservationStatus.CANCELLED, "Occupied")]
        retry = await live.request("POST", "/api/v1/stations/E2E-RES-NO/reserve/", {})
        assert retry.status_code == 409  # the refused one does not count as active; the charger refuses again
        assert charger.received[-1][1]["connector_id"] == 0  # no connector asked: any (OCPP connectorId 0)


async def test_the_expiry_job_cancels_on_the_charger_and_frees_the_connector(start_daphne) -> None:
    async with live_server(start_daphne) as live:
        charger = await live.connect("E2E-EXP")
        r = await live.request("POST", "/api/v1/stations/E2E-EXP/reserve/", {"connector_id": 1})
        assert r.status_code == 201
        reservation_id = r.json()["id"]
        assert await eventually(lambda: Connector.objects.get(station__charge_point_id="E2E-EXP").status == "Reserved")
        # Its time has come (the job's clock is the wall clock: the charger is judged online by it).
        await database_sync_to_async(
            Reservation.objects.filter(pk=reservation_id).update)(expires_at=timezone.now() - timedelta(seconds=1))
        assert await database_sync_to_async(reservation_expire_due)(now=timezone.now()) == 1
        assert await eventually(lambda: ("CancelReservation", {"reservation_id": reservation_id}) in charger.received)
        row = await database_sync_to_async(Reservation.objects.get)(pk=reservation_id)
        assert row.status == ReservationStatus.EXPIRED
        assert await eventually(lambda: Connector.objects.get(station__charge_point_id="E2E-EXP").status == "Available")


async def test_a_start_transaction_with_the_reservation_id_uses_it(start_daphne) -> None:
    from ocpp.v16 import call

    from transactions.tests.api.live import now_z

    async with live_server(start_daphne) as live:
        charger = await live.connect("E2E-USE")
        r = await live.request("POST", "/api/v1/stations/E2E-USE/reserve/", {"connector_id": 1})
        reservation_id = r.json()["id"]
        started = await charger.call(call.StartTransaction(connector_id=1, id_tag=live.id_tag, meter_start=0,
                                                           timestamp=now_z(), reservation_id=reservation_id))
        assert started.id_tag_info["status"] == "Accepted"
        row = await database_sync_to_async(Reservation.objects.get)(pk=reservation_id)
        assert row.status == ReservationStatus.USED
        listed = (await live.request("GET", "/api/v1/reservations/")).json()["results"]
        assert [(x["id"], x["status"]) for x in listed] == [(reservation_id, "used")]
