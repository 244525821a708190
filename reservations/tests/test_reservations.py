from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.api_fixtures import bearer
from accounts.tests.factories import IdTagFactory, UserFactory
from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_expire_due, reservation_use
from reservations.tasks import reservation_expire_due as reservation_expire_due_task
from stations.models import Connector, ConnectorStatus
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def reservation(user, connector=None, *, minutes=10, status=ReservationStatus.ACTIVE, station=None):  # type: ignore[no-untyped-def]
    station = station or (connector.station if connector else StationFactory())
    return Reservation.objects.create(
        user=user, id_tag=user.id_tags.first().id_tag if user.id_tags.exists() else "T", station=station,
        connector=connector, expires_at=timezone.now() + timedelta(minutes=minutes), status=status,
    )


def test_list_shows_own_reservations_in_the_contract_shape(driver_client, driver):
    connector = ConnectorFactory(station=StationFactory(charge_point_id="S"), connector_id=2)
    mine = reservation(driver, connector)
    other = UserFactory()
    IdTagFactory(user=other)
    reservation(other)
    r = driver_client.get("/api/v1/reservations/")
    assert r.status_code == 200 and r.json()["count"] == 1
    row = r.json()["results"][0]
    assert row == {**row, "id": mine.pk, "charge_point_id": "S", "connector_id": 2, "id_tag": mine.id_tag,
                   "user": driver.pk, "status": "active"}
    assert row["expires_at"].endswith("Z") and row["created_at"].endswith("Z")


def test_any_connector_is_connector_0(driver_client, driver):
    reservation(driver)
    assert driver_client.get("/api/v1/reservations/").json()["results"][0]["connector_id"] == 0


def test_admin_lists_all_and_filters(admin_client, driver):
    reservation(driver, status=ReservationStatus.CANCELLED)
    other = UserFactory()
    reservation(other, station=StationFactory(charge_point_id="X"))
    assert admin_client.get("/api/v1/reservations/").json()["count"] == 2
    assert admin_client.get("/api/v1/reservations/", {"status": "active"}).json()["count"] == 1
    assert admin_client.get("/api/v1/reservations/", {"station": "X"}).json()["count"] == 1


def test_cancel_frees_the_connector_of_an_offline_charger(driver_client, driver):
    connector = ConnectorFactory(status=ConnectorStatus.RESERVED)
    res = reservation(driver, connector)
    r = driver_client.post(f"/api/v1/reservations/{res.pk}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    connector.refresh_from_db()
    assert connector.status == ConnectorStatus.AVAILABLE
    again = driver_client.post(f"/api/v1/reservations/{res.pk}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "reservation_not_active"


def test_cancel_unknown_or_others_is_a_404(driver_client):
    other = UserFactory()
    res = reservation(other)
    assert driver_client.post(f"/api/v1/reservations/{res.pk}/cancel/").status_code == 404
    assert driver_client.post("/api/v1/reservations/999999/cancel/").status_code == 404
    assert Reservation.objects.get(pk=res.pk).status == ReservationStatus.ACTIVE


def test_expire_due_expires_only_due_reservations_and_frees_their_connectors(driver):
    station = StationFactory()
    c1 = ConnectorFactory(station=station, connector_id=1, status=ConnectorStatus.RESERVED)
    c2 = ConnectorFactory(station=station, connector_id=2, status=ConnectorStatus.RESERVED)
    due = reservation(driver, c1, minutes=15)
    later = reservation(UserFactory(), c2, minutes=30)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert reservation_expire_due(now=timezone.now()) == 1
        assert reservation_expire_due(now=timezone.now()) == 0  # safe to run twice
    due.refresh_from_db(), later.refresh_from_db(), c1.refresh_from_db(), c2.refresh_from_db()
    assert due.status == ReservationStatus.EXPIRED and due.ended_at is not None
    assert later.status == ReservationStatus.ACTIVE
    assert (c1.status, c2.status) == (ConnectorStatus.AVAILABLE, ConnectorStatus.RESERVED)


def test_expire_due_leaves_a_connector_that_is_charging(driver):
    connector = ConnectorFactory(status=ConnectorStatus.CHARGING)
    reservation(driver, connector, minutes=-1)
    assert reservation_expire_due(now=timezone.now()) == 1
    assert Connector.objects.get(pk=connector.pk).status == ConnectorStatus.CHARGING


def test_the_celery_task_expires_due_reservations(driver):
    res = reservation(driver, minutes=-1)
    assert reservation_expire_due_task.apply().get() == 1
    assert Reservation.objects.get(pk=res.pk).status == ReservationStatus.EXPIRED


def test_reservation_use_marks_it_used_once(driver):
    res = reservation(driver)
    tx = TransactionFactory(tag=driver.id_tags.first())
    reservation_use(reservation_id=res.pk, transaction=tx)
    reservation_use(reservation_id=res.pk, transaction=tx)
    res.refresh_from_db()
    assert res.status == ReservationStatus.USED and res.ended_at is not None
    cancelled = reservation(UserFactory(), status=ReservationStatus.CANCELLED)
    reservation_use(reservation_id=cancelled.pk, transaction=tx)
    assert Reservation.objects.get(pk=cancelled.pk).status == ReservationStatus.CANCELLED


# --- reserve: the checks before anything is sent ------------------------------------------------

@pytest.fixture
def online():  # type: ignore[no-untyped-def]
    station = StationFactory(charge_point_id="S", online=True)
    ConnectorFactory(station=station, connector_id=1, status=ConnectorStatus.CHARGING)
    ConnectorFactory(station=station, connector_id=2, status=ConnectorStatus.FAULTED)
    return station


@pytest.mark.parametrize("body", [{"connector_id": "one"}, {"connector_id": -1}])
def test_reserve_bad_input_is_a_400(driver_client, online, body):
    r = driver_client.post("/api/v1/stations/S/reserve/", body, format="json")
    assert r.status_code == 400 and "connector_id" in r.json()


def test_reserve_with_a_low_balance_is_a_402(online):
    user = UserFactory(balance=Decimal("-1.00"))
    IdTagFactory(user=user)
    assert bearer(user).post("/api/v1/stations/S/reserve/", {}, format="json").status_code == 402


def test_reserve_a_busy_connector_or_none_free_is_a_409(driver_client, online):
    for body in ({"connector_id": 1}, {"connector_id": 2}, {}):
        r = driver_client.post("/api/v1/stations/S/reserve/", body, format="json")
        assert r.status_code == 409 and r.json()["code"] == "connector_occupied"
    assert not Reservation.objects.exists()


def test_one_active_reservation_per_user(driver_client, driver, online):
    reservation(driver)
    r = driver_client.post("/api/v1/stations/S/reserve/", {}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "reservation_exists"


def test_reserve_on_an_offline_charger_is_a_409(driver_client):
    station = StationFactory(charge_point_id="OFF", online=True, last_heartbeat=timezone.now() - timedelta(hours=1))
    ConnectorFactory(station=station)
    r = driver_client.post("/api/v1/stations/OFF/reserve/", {"connector_id": 1}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "charger_offline"


@pytest.mark.parametrize("path, body", [("/api/v1/stations/NOPE/reserve/", {}),
                                        ("/api/v1/stations/S/reserve/", {"connector_id": 7})])
def test_reserve_unknown_station_or_connector_is_a_404(driver_client, online, path, body):
    assert driver_client.post(path, body, format="json").status_code == 404
