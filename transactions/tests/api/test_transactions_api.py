from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.api_fixtures import bearer
from accounts.tests.factories import IdTagFactory, UserFactory
from stations.models import ConnectorStatus
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import MeterValueFactory, TransactionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def tag(driver):  # type: ignore[no-untyped-def]
    return driver.id_tags.first()


def test_list_shows_own_transactions_in_the_contract_shape(driver_client, tag):
    station = StationFactory(charge_point_id="ACME-GENOA-001")
    mine = TransactionFactory(connector=ConnectorFactory(station=station), tag=tag, meter_start=1000,
                              energy_wh=3250, cost=Decimal("0.98"))
    TransactionFactory()  # someone else's
    r = driver_client.get("/api/v1/transactions/")
    assert r.status_code == 200 and r.json()["count"] == 1
    row = r.json()["results"][0]
    assert row == {**row, "id": mine.pk, "charge_point_id": "ACME-GENOA-001", "connector_id": 1,
                   "id_tag": tag.id_tag, "user": tag.user_id, "stopped_at": None, "meter_start": 1000,
                   "meter_stop": None, "energy_kwh": "3.250", "cost": "0.98", "currency": "EUR", "active": True,
                   "stop_reason": None}
    assert row["started_at"].endswith("Z")


def test_admin_sees_all_and_filters_by_station_active_and_user(admin_client, tag):
    a = ConnectorFactory(station=StationFactory(charge_point_id="A"))
    b = ConnectorFactory(station=StationFactory(charge_point_id="B"))
    running = TransactionFactory(connector=a, tag=tag)
    done = TransactionFactory(connector=a, stopped=True)
    other = TransactionFactory(connector=b, stopped=True)

    def ids(**params: str) -> set[int]:
        r = admin_client.get("/api/v1/transactions/", params)
        assert r.status_code == 200
        return {t["id"] for t in r.json()["results"]}

    assert ids() == {running.pk, done.pk, other.pk}
    assert ids(station="A") == {running.pk, done.pk}
    assert ids(active="true") == {running.pk}
    assert ids(active="false", station="A") == {done.pk}
    assert ids(user=str(tag.user_id)) == {running.pk}


@pytest.mark.parametrize("params, field", [({"active": "maybe"}, "active"), ({"user": "me"}, "user")])
def test_bad_filters_are_a_400_naming_them(admin_client, params, field):
    r = admin_client.get("/api/v1/transactions/", params)
    assert r.status_code == 400 and field in r.json()


def test_pagination(driver_client, tag):
    connector = ConnectorFactory()
    for i in range(5):
        TransactionFactory(connector=connector, tag=tag, started_at=timezone.now() - timedelta(hours=i), stopped=True)
    first = driver_client.get("/api/v1/transactions/", {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None and first["next"]
    last = driver_client.get("/api/v1/transactions/", {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1 and last["next"] is None
    assert driver_client.get("/api/v1/transactions/", {"page": 9}).status_code == 404


def test_detail_owner_and_admin_not_others(driver_client, admin_client, tag):
    mine = TransactionFactory(tag=tag)
    theirs = TransactionFactory()
    assert driver_client.get(f"/api/v1/transactions/{mine.pk}/").json()["id"] == mine.pk
    assert driver_client.get(f"/api/v1/transactions/{theirs.pk}/").status_code == 404
    assert admin_client.get(f"/api/v1/transactions/{theirs.pk}/").status_code == 200
    assert admin_client.get("/api/v1/transactions/999999/").status_code == 404
    assert admin_client.get("/api/v1/transactions/abc/").status_code == 404


def test_meter_values_oldest_first_with_numbers(driver_client, tag):
    tx = TransactionFactory(tag=tag)
    now = timezone.now()
    MeterValueFactory(transaction=tx, timestamp=now, value=3000.0)
    MeterValueFactory(transaction=tx, timestamp=now - timedelta(minutes=5), value=2000.0)
    MeterValueFactory(transaction=tx, timestamp=now - timedelta(minutes=5), measurand="Power.Active.Import",
                      unit="W", value=11000.0)
    r = driver_client.get(f"/api/v1/transactions/{tx.pk}/meter-values/")
    assert r.status_code == 200
    rows = r.json()["results"]
    assert [row["value"] for row in rows] == [2000.0, 11000.0, 3000.0]
    assert set(rows[0]) == {"timestamp", "measurand", "phase", "location", "context", "value", "unit"}
    assert isinstance(rows[0]["value"], float) and rows[1]["unit"] == "W"
    only = driver_client.get(f"/api/v1/transactions/{tx.pk}/meter-values/", {"measurand": "Power.Active.Import"})
    assert [row["value"] for row in only.json()["results"]] == [11000.0]


def test_meter_values_of_someone_else_or_unknown_are_404(driver_client):
    assert driver_client.get(f"/api/v1/transactions/{TransactionFactory().pk}/meter-values/").status_code == 404
    assert driver_client.get("/api/v1/transactions/999999/meter-values/").status_code == 404


def test_current_session_with_live_energy_and_cost(driver_client, tag):
    assert driver_client.get("/api/v1/transactions/current/").status_code == 204
    TransactionFactory(tag=tag, stopped=True, started_at=timezone.now() - timedelta(days=1))
    assert driver_client.get("/api/v1/transactions/current/").status_code == 204
    tx = TransactionFactory(tag=tag, energy_wh=4200, cost=Decimal("1.26"), power_w=11000.0, soc=55.0,
                            started_at=timezone.now() - timedelta(minutes=20))
    body = driver_client.get("/api/v1/transactions/current/").json()
    assert body["id"] == tx.pk and body["active"] is True
    assert body["energy_kwh"] == "4.200" and body["cost"] == "1.26" and body["currency"] == "EUR"
    assert body["power_w"] == 11000.0 and body["soc"] == 55.0 and 1190 <= body["duration_s"] <= 1300


def test_last_usage_is_the_most_recent_session(driver_client, tag):
    assert driver_client.get("/api/v1/transactions/last/").status_code == 204
    TransactionFactory(tag=tag, stopped=True, started_at=timezone.now() - timedelta(days=3))
    latest = TransactionFactory(tag=tag, stopped=True, started_at=timezone.now() - timedelta(days=1))
    TransactionFactory(stopped=True)  # someone else's, later
    body = driver_client.get("/api/v1/transactions/last/").json()
    assert body["id"] == latest.pk and body["active"] is False and body["duration_s"] == 3600


def test_csv_export_for_admins(admin_client):
    TransactionFactory(connector=ConnectorFactory(station=StationFactory(charge_point_id="A")), stopped=True,
                       cost=Decimal("2.10"))
    TransactionFactory(connector=ConnectorFactory(station=StationFactory(charge_point_id="B")))
    r = admin_client.get("/api/v1/transactions/export/", {"station": "A"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert len(rows) == 1
    assert rows[0]["charge_point_id"] == "A" and rows[0]["energy_kwh"] == "7.000" and rows[0]["cost"] == "2.10"
    assert len(list(csv.DictReader(io.StringIO(admin_client.get("/api/v1/transactions/export/").content.decode())))) == 2


# --- stop and start without a charger: the checks before anything is sent --------------------

def test_stop_an_ended_session_is_a_409(driver_client, tag):
    tx = TransactionFactory(tag=tag, stopped=True)
    r = driver_client.post(f"/api/v1/transactions/{tx.pk}/stop/")
    assert r.status_code == 409 and r.json()["code"] == "transaction_stopped"


def test_stop_on_an_offline_charger_is_a_409(driver_client, tag):
    tx = TransactionFactory(tag=tag)
    r = driver_client.post(f"/api/v1/transactions/{tx.pk}/stop/")
    assert r.status_code == 409 and r.json()["code"] == "charger_offline"


def test_stop_unknown_is_a_404(driver_client):
    assert driver_client.post("/api/v1/transactions/999999/stop/").status_code == 404


@pytest.fixture
def online():  # type: ignore[no-untyped-def]
    station = StationFactory(charge_point_id="S", online=True)
    ConnectorFactory(station=station, connector_id=1)
    ConnectorFactory(station=station, connector_id=2, status=ConnectorStatus.CHARGING)
    return station


@pytest.mark.parametrize("body, field", [({}, "connector_id"), ({"connector_id": "one"}, "connector_id"),
                                         ({"connector_id": 0}, "connector_id")])
def test_start_bad_input_is_a_400(driver_client, online, body, field):
    r = driver_client.post("/api/v1/stations/S/start/", body, format="json")
    assert r.status_code == 400 and field in r.json()


def test_start_with_a_low_balance_is_a_402(online):
    user = UserFactory(balance=Decimal("0.00"))
    IdTagFactory(user=user)
    r = bearer(user).post("/api/v1/stations/S/start/", {"connector_id": 1}, format="json")
    assert r.status_code == 402 and r.json()["code"] == "insufficient_balance"


def test_start_on_a_busy_connector_is_a_409(driver_client, online):
    r = driver_client.post("/api/v1/stations/S/start/", {"connector_id": 2}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "connector_occupied"


def test_start_on_an_offline_charger_is_a_409(driver_client):
    station = StationFactory(charge_point_id="OFF", online=True, last_heartbeat=timezone.now() - timedelta(hours=1))
    ConnectorFactory(station=station)
    r = driver_client.post("/api/v1/stations/OFF/start/", {"connector_id": 1}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "charger_offline"


@pytest.mark.parametrize("path", ["/api/v1/stations/NOPE/start/", "/api/v1/stations/S/start/"])
def test_start_on_an_unknown_station_or_connector_is_a_404(driver_client, online, path):
    body = {"connector_id": 9}
    assert driver_client.post(path, body, format="json").status_code == 404


def test_start_without_a_usable_id_tag_is_a_409(online):
    user = UserFactory()
    IdTagFactory(user=user, status="Blocked")
    r = bearer(user).post("/api/v1/stations/S/start/", {"connector_id": 1}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "no_id_tag"


def test_start_gives_a_user_without_any_id_tag_one(online):
    user = UserFactory()  # no id tag at all, e.g. made with createsuperuser
    r = bearer(user).post("/api/v1/stations/S/start/", {"connector_id": 2}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "connector_occupied"
    assert user.id_tags.count() == 1
