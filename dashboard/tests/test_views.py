from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from accounts.tests.factories import UserFactory
from dashboard.tests.conftest import make_user
from stations.models import Connector, ConnectorStatus, Station
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import MeterValueFactory, TransactionFactory

pytestmark = pytest.mark.django_db

PAGES = ["dashboard:overview", "dashboard:users", "dashboard:report", "dashboard:transactions",
         "dashboard:station-add"]


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboard:login"))


@pytest.mark.parametrize("name", PAGES)
def test_a_driver_is_refused_with_a_clear_message(client: Client, driver: User, name: str) -> None:
    client.force_login(driver)
    response = client.get(reverse(name))
    assert response.status_code == 403
    assert "for operators (admins) only" in response.content.decode()
    assert "driver@example.com" in response.content.decode()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPER_ADMIN])
@pytest.mark.parametrize("name", PAGES)
def test_operators_see_every_page(client: Client, role: str, name: str) -> None:
    client.force_login(make_user("someone@example.com", role))
    assert client.get(reverse(name)).status_code == 200


def test_the_login_page_logs_an_operator_in(client: Client) -> None:
    operator = UserFactory(role=Role.ADMIN, password="pass-word-123")
    response = client.post(reverse("dashboard:login"), {"username": operator.email, "password": "pass-word-123"})
    assert response.status_code == 302
    assert client.get(reverse("dashboard:overview")).status_code == 200


def test_overview_lists_stations_with_status_markers_and_connector_tiles(operator_client: Client) -> None:
    station = StationFactory(online=True, name="Genoa harbour", latitude=Decimal("44.4"), longitude=Decimal("8.9"))
    ConnectorFactory(station=station, connector_id=1, status=ConnectorStatus.AVAILABLE)
    busy = ConnectorFactory(station=station, connector_id=2, status=ConnectorStatus.CHARGING)
    TransactionFactory(connector=busy, power_w=7400.0, soc=55.0, energy_wh=3250)
    response = operator_client.get(reverse("dashboard:overview"))
    html = response.content.decode()
    assert response.context["markers"] == [{
        "charge_point_id": station.charge_point_id, "name": "Genoa harbour", "lat": 44.4, "lng": 8.9,
        "status": "available", "url": reverse("dashboard:station", args=[station.pk]),
    }]
    assert f'data-connector="{station.charge_point_id}/2"' in html
    assert "7.4" in html and "3.250" in html and "55" in html
    assert reverse("dashboard:station-edit", args=[station.pk]) in html


def test_station_page_shows_the_curve_of_the_current_session(operator_client: Client) -> None:
    tx = TransactionFactory(meter_start=1000)
    t0 = tx.started_at
    MeterValueFactory(transaction=tx, timestamp=t0, value=1000.0)
    MeterValueFactory(transaction=tx, timestamp=t0 + dt.timedelta(minutes=1), value=1500.0)
    MeterValueFactory(transaction=tx, timestamp=t0 + dt.timedelta(minutes=1), measurand="Power.Active.Import",
                      unit="W", value=30000.0)
    response = operator_client.get(reverse("dashboard:station", args=[tx.station.pk]))
    assert response.status_code == 200
    curve = response.context["curve"]
    assert [p["energy_wh"] for p in curve] == [0.0, 500.0]
    assert [p["power_w"] for p in curve] == [None, 30000.0]


def test_an_operator_adds_a_station_with_connectors(operator_client: Client) -> None:
    response = operator_client.post(reverse("dashboard:station-add"), {
        "charge_point_id": "NEW-1", "name": "New", "price_per_kwh": "0.40", "currency": "EUR",
        "latitude": "44.1", "longitude": "8.2", "description": "d", "notes": "n", "heartbeat_interval": "60",
        "address": "",
        "connectors-TOTAL_FORMS": "1", "connectors-INITIAL_FORMS": "0", "connectors-MIN_NUM_FORMS": "0",
        "connectors-MAX_NUM_FORMS": "1000", "connectors-0-connector_id": "1",
        "connectors-0-connector_type": "Type2", "connectors-0-max_power_kw": "11.0",
    })
    station = Station.objects.get(charge_point_id="NEW-1")
    assert response.status_code == 302
    assert station.price_per_kwh == Decimal("0.40") and station.notes == "n"
    assert list(station.connectors.values_list("connector_id", "max_power_kw")) == [(1, Decimal("11.0"))]


def test_an_operator_edits_and_dismisses_a_station(operator_client: Client) -> None:
    station = StationFactory()
    ConnectorFactory(station=station, connector_id=1)
    connector = station.connectors.get()
    response = operator_client.post(reverse("dashboard:station-edit", args=[station.pk]), {
        "charge_point_id": "IGNORED", "name": "Renamed", "price_per_kwh": "0.25", "currency": "EUR",
        "latitude": "", "longitude": "", "description": "", "notes": "", "heartbeat_interval": "60",
        "address": "", "dismissed": "on",
        "connectors-TOTAL_FORMS": "1", "connectors-INITIAL_FORMS": "1", "connectors-MIN_NUM_FORMS": "0",
        "connectors-MAX_NUM_FORMS": "1000", "connectors-0-id": str(connector.pk), "connectors-0-station": str(station.pk),
        "connectors-0-connector_id": "1", "connectors-0-connector_type": "CCS", "connectors-0-max_power_kw": "50.0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    station.refresh_from_db()
    assert station.name == "Renamed" and station.dismissed is True
    assert station.charge_point_id != "IGNORED"
    assert Connector.objects.get(pk=connector.pk).connector_type == "CCS"


def test_a_station_needs_both_coordinates(operator_client: Client) -> None:
    response = operator_client.post(reverse("dashboard:station-add"), {
        "charge_point_id": "HALF", "price_per_kwh": "0.40", "currency": "EUR", "latitude": "44.1",
        "heartbeat_interval": "60", "connectors-TOTAL_FORMS": "0", "connectors-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    assert not Station.objects.filter(charge_point_id="HALF").exists()


def test_an_admin_changes_a_driver_to_demo(operator_client: Client, driver: User) -> None:
    response = operator_client.post(reverse("dashboard:user-role", args=[driver.pk]), {"role": Role.DEMO})
    assert response.status_code == 302
    driver.refresh_from_db()
    assert driver.role == Role.DEMO


def test_only_a_super_admin_makes_admins(client: Client, operator: User, superadmin: User, driver: User) -> None:
    client.force_login(operator)
    client.post(reverse("dashboard:user-role", args=[driver.pk]), {"role": Role.ADMIN})
    driver.refresh_from_db()
    assert driver.role == Role.DRIVER
    client.force_login(superadmin)
    client.post(reverse("dashboard:user-role", args=[driver.pk]), {"role": Role.ADMIN})
    driver.refresh_from_db()
    assert driver.role == Role.ADMIN


def test_a_driver_cannot_change_roles(client: Client, driver: User) -> None:
    other = make_user("other@example.com")
    client.force_login(driver)
    assert client.post(reverse("dashboard:user-role", args=[other.pk]), {"role": Role.ADMIN}).status_code == 403
    other.refresh_from_db()
    assert other.role == Role.DRIVER


def test_users_page_lists_role_and_balance(operator_client: Client, driver: User) -> None:
    response = operator_client.get(reverse("dashboard:users"), {"q": "driver@"})
    assert [u.email for u in response.context["page"]] == ["driver@example.com"]
    assert '<span data-field="balance">10.00</span> EUR' in response.content.decode()


def test_user_balances_are_read_for_the_listed_users(operator_client: Client, driver: User) -> None:
    response = operator_client.get(reverse("dashboard:user-balances"), {"ids": f"{driver.pk},x"})
    assert response.json() == {"balances": {str(driver.pk): {"balance": "10.00", "currency": "EUR"}}}


def test_report_csv_has_a_row_per_month_and_a_total(operator_client: Client) -> None:
    import csv
    import io

    from django.utils import timezone

    started = timezone.now().replace(month=3, day=10, hour=10)
    TransactionFactory(started_at=started, stopped=True, energy_wh=7000, cost=Decimal("2.10"))
    response = operator_client.get(reverse("dashboard:report-csv"), {"year": started.year})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["year", "month", "sessions", "energy_kwh", "revenue", "currency"]
    assert rows[3] == [str(started.year), "3", "1", "7.000", "2.10", "EUR"]
    assert rows[-1][1:5] == ["total", "1", "7.000", "2.10"]
    assert len(rows) == 14


def test_transactions_page_filters_and_downloads_csv(operator_client: Client) -> None:
    import csv
    import io

    active = TransactionFactory()
    TransactionFactory(stopped=True)
    page = operator_client.get(reverse("dashboard:transactions"), {"active": "yes"})
    assert [t.pk for t in page.context["page"]] == [active.pk]
    download = operator_client.get(reverse("dashboard:transactions-csv"), {"active": "no"})
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert [r["active"] for r in rows] == ["no"]


def test_the_station_form_sets_and_removes_the_basic_auth_password(operator_client: Client) -> None:
    station = StationFactory()
    base = {"name": "S", "price_per_kwh": "0.30", "currency": "EUR", "heartbeat_interval": "60",
            "connectors-TOTAL_FORMS": "0", "connectors-INITIAL_FORMS": "0"}
    url = reverse("dashboard:station-edit", args=[station.pk])
    operator_client.post(url, {**base, "password": "s3cret-charger"})
    station.refresh_from_db()
    assert station.check_password("s3cret-charger")
    operator_client.post(url, {**base, "clear_password": "on"})
    station.refresh_from_db()
    assert station.password_hash == ""


def test_the_report_counts_one_station_when_asked(operator_client: Client) -> None:
    from django.utils import timezone

    started = timezone.now().replace(month=5, day=10, hour=10)
    mine = TransactionFactory(started_at=started, stopped=True, energy_wh=4000, cost=Decimal("1.20"))
    TransactionFactory(started_at=started, stopped=True, energy_wh=9000, cost=Decimal("2.70"))
    data = operator_client.get(reverse("dashboard:report-data"),
                               {"year": started.year, "station": mine.station.charge_point_id}).json()
    assert data["total"] == {"sessions": 1, "energy_kwh": 4.0, "revenue": "1.20"}
    assert data["months"][4]["revenue"] == "1.20"
    everything = operator_client.get(reverse("dashboard:report-data"), {"year": started.year}).json()
    assert everything["total"]["revenue"] == "3.90"
