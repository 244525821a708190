from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.api_fixtures import bearer
from accounts.tests.factories import UserFactory
from reservations.models import Reservation
from stations.models import Connector, Station
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def online_station(cp: str = "CP-A", connectors: int = 2, **fields: object) -> Station:
    station = StationFactory(charge_point_id=cp, online=True, **fields)
    for n in range(1, connectors + 1):
        ConnectorFactory(station=station, connector_id=n)
    return station


def test_list_shows_the_contract_shape(api):
    online_station("ACME-GENOA-001", latitude=Decimal("44.409730"), longitude=Decimal("8.937683"),
                   price_per_kwh=Decimal("0.30"), description="Two Type 2 sockets")
    r = api.get("/api/v1/stations/")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 1
    station = body["results"][0]
    assert station["charge_point_id"] == "ACME-GENOA-001"
    assert station["latitude"] == "44.409730" and station["longitude"] == "8.937683"
    assert station["price_per_kwh"] == "0.30" and station["currency"] == "EUR"
    assert station["status"] == "available" and station["connected"] is True
    assert station["heartbeat_interval"] == 60 and station["last_heartbeat"].endswith("Z")
    assert [c["connector_id"] for c in station["connectors"]] == [1, 2]
    assert station["connectors"][0]["max_power_kw"] == "22.0"
    assert station["connectors"][0]["status"] == "Available"
    assert station["last_charge"] is None and station["last_reservation"] is None
    assert "password" not in station and "password_hash" not in station and "notes" not in station


def test_users_do_not_see_dismissed_unknown_or_pending_stations_but_admins_do(api, admin_client):
    online_station("VISIBLE")
    online_station("GONE", dismissed=True)
    StationFactory(charge_point_id="NEVER-CONNECTED")
    online_station("PENDING", registration_status="Pending")
    seen = [s["charge_point_id"] for s in api.get("/api/v1/stations/").json()["results"]]
    assert seen == ["VISIBLE"]
    assert api.get("/api/v1/stations/GONE/").status_code == 404
    admin_seen = {s["charge_point_id"]: s["status"] for s in admin_client.get("/api/v1/stations/").json()["results"]}
    assert admin_seen == {"VISIBLE": "available", "GONE": "dismissed", "NEVER-CONNECTED": "unknown",
                          "PENDING": "available"}


@pytest.mark.parametrize("statuses, expected", [
    (["Available", "Charging"], "available"),
    (["Reserved", "Charging"], "reserved"),
    (["Charging", "SuspendedEV"], "occupied"),
    (["Faulted", "Faulted"], "faulted"),
])
def test_status_is_computed_from_the_connectors(api, statuses, expected):
    station = StationFactory(charge_point_id="S", online=True)
    for n, status in enumerate(statuses, start=1):
        ConnectorFactory(station=station, connector_id=n, status=status)
    assert api.get("/api/v1/stations/S/").json()["status"] == expected


def test_a_silent_station_is_offline(api):
    online_station("S", last_heartbeat=timezone.now() - timedelta(minutes=4))
    assert api.get("/api/v1/stations/S/").json()["status"] == "offline"


def test_list_queries_do_not_grow_with_stations(api, admin, django_assert_max_num_queries):
    for i in range(12):
        station = online_station(f"S{i:02d}")
        TransactionFactory(connector=station.connectors.get(connector_id=1))
        Reservation.objects.create(user=admin, id_tag="X", station=station, status="cancelled",
                                   expires_at=timezone.now())
    with django_assert_max_num_queries(5):
        r = api.get("/api/v1/stations/")
    assert r.json()["count"] == 12
    assert all(s["last_charge"] and s["last_reservation"] for s in r.json()["results"])


def test_last_charge_and_reservation_hide_user_data_except_from_admins_and_the_owner(api, driver, admin_client):
    station = online_station("S")
    owner = UserFactory()
    tx = TransactionFactory(connector=station.connectors.get(connector_id=1), tag__user=owner, stopped=True)
    Reservation.objects.create(user=owner, id_tag=tx.id_tag, station=station, connector=station.connectors.first(),
                               status="used", expires_at=timezone.now())
    anonymous = api.get("/api/v1/stations/S/").json()
    assert anonymous["last_charge"]["energy_kwh"] == "7.000" and anonymous["last_charge"]["active"] is False
    assert "user" not in anonymous["last_charge"] and "id_tag" not in anonymous["last_charge"]
    assert "user" not in anonymous["last_reservation"]
    assert "id_tag" not in bearer(driver).get("/api/v1/stations/S/").json()["last_charge"]
    assert bearer(owner).get("/api/v1/stations/S/").json()["last_charge"]["id_tag"] == tx.id_tag
    admin_view = admin_client.get("/api/v1/stations/S/").json()
    assert admin_view["last_charge"]["user"] == owner.pk and admin_view["last_reservation"]["user"] == owner.pk


def test_bounding_box_filter(api):
    online_station("GENOA", latitude=Decimal("44.41"), longitude=Decimal("8.93"))
    online_station("MILAN", latitude=Decimal("45.46"), longitude=Decimal("9.19"))
    online_station("NOWHERE")
    r = api.get("/api/v1/stations/", {"bbox": "8.5,44.0,9.0,44.6"})
    assert [s["charge_point_id"] for s in r.json()["results"]] == ["GENOA"]


def test_distance_filter_orders_nearest_first_and_applies_the_radius(api):
    online_station("GENOA", latitude=Decimal("44.41"), longitude=Decimal("8.93"))
    online_station("MILAN", latitude=Decimal("45.46"), longitude=Decimal("9.19"))
    r = api.get("/api/v1/stations/", {"near": "45.0,9.0"}).json()["results"]
    assert [s["charge_point_id"] for s in r] == ["MILAN", "GENOA"]
    assert 50 < r[0]["distance_km"] < 55 and 65 < r[1]["distance_km"] < 70
    near = api.get("/api/v1/stations/", {"near": "44.40,8.94", "radius_km": "5"}).json()["results"]
    assert [s["charge_point_id"] for s in near] == ["GENOA"] and near[0]["distance_km"] < 2


@pytest.mark.parametrize("params, field", [
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "8,50,9,40"}, "bbox"),
    ({"near": "95,0"}, "near"),
    ({"near": "45"}, "near"),
    ({"radius_km": "5"}, "radius_km"),
    ({"near": "45,9", "radius_km": "-1"}, "radius_km"),
])
def test_bad_map_filters_are_a_400_naming_the_parameter(api, params, field):
    r = api.get("/api/v1/stations/", params)
    assert r.status_code == 400 and field in r.json() and field in r.json()["detail"]


def test_unknown_station_is_a_404(api):
    assert api.get("/api/v1/stations/NOPE/").status_code == 404


def test_admin_creates_a_station_with_connectors_and_a_write_only_password(admin_client):
    r = admin_client.post("/api/v1/stations/", {
        "charge_point_id": "NEW-1", "name": "New", "latitude": "44.1", "longitude": "8.2", "price_per_kwh": "0.45",
        "password": "s3cret-pass", "connectors": [{"connector_id": 1, "max_power_kw": "11.0"}, {"connector_id": 2}],
    }, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert "password" not in body and body["has_password"] is True
    assert body["price_per_kwh"] == "0.45" and body["status"] == "unknown"
    assert [(c["connector_id"], c["max_power_kw"]) for c in body["connectors"]] == [(1, "11.0"), (2, "22.0")]
    station = Station.objects.get(charge_point_id="NEW-1")
    assert station.check_password("s3cret-pass") and not station.check_password("other")


@pytest.mark.parametrize("payload, field", [
    ({"name": "no id"}, "charge_point_id"),
    ({"charge_point_id": "bad id!"}, "charge_point_id"),
    ({"charge_point_id": "x" * 49}, "charge_point_id"),
    ({"charge_point_id": "A\n"}, "charge_point_id"),
    ({"charge_point_id": "OK", "latitude": "91"}, "latitude"),
    ({"charge_point_id": "OK", "longitude": "east"}, "longitude"),
    ({"charge_point_id": "OK", "price_per_kwh": "-1"}, "price_per_kwh"),
    ({"charge_point_id": "OK", "heartbeat_interval": "often"}, "heartbeat_interval"),
    ({"charge_point_id": "OK", "time_zone": "Nowhere/City"}, "time_zone"),
    ({"charge_point_id": "OK", "connectors": [{"connector_id": 0}]}, "connectors"),
    ({"charge_point_id": "OK", "connectors": [{"connector_id": 1}, {"connector_id": 1}]}, "connectors"),
])
def test_create_bad_input_is_a_400_naming_the_field(admin_client, payload, field):
    r = admin_client.post("/api/v1/stations/", payload, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not Station.objects.exists()


def test_create_with_a_taken_id_is_a_400(admin_client):
    StationFactory(charge_point_id="TAKEN")
    r = admin_client.post("/api/v1/stations/", {"charge_point_id": "TAKEN"}, format="json")
    assert r.status_code == 400 and "charge_point_id" in r.json()


def test_admin_updates_a_station_and_its_password(admin_client):
    station = online_station("S", password="old-pass")
    r = admin_client.patch("/api/v1/stations/S/", {"name": "Renamed", "price_per_kwh": "0.50", "password": "",
                                                   "connectors": [{"connector_id": 1, "max_power_kw": "7.4"}]},
                           format="json")
    assert r.status_code == 200, r.json()
    station.refresh_from_db()
    assert station.name == "Renamed" and station.price_per_kwh == Decimal("0.50") and station.password_hash == ""
    assert Connector.objects.get(station=station, connector_id=1).max_power_kw == Decimal("7.4")
    assert r.json()["has_password"] is False


def test_the_id_of_a_station_does_not_change(admin_client):
    online_station("S")
    admin_client.patch("/api/v1/stations/S/", {"charge_point_id": "OTHER"}, format="json")
    assert Station.objects.filter(charge_point_id="S").exists()


def test_update_bad_input_and_unknown_station(admin_client):
    online_station("S")
    r = admin_client.patch("/api/v1/stations/S/", {"latitude": "-100"}, format="json")
    assert r.status_code == 400 and "latitude" in r.json()
    assert admin_client.patch("/api/v1/stations/NOPE/", {"name": "x"}, format="json").status_code == 404


def test_admin_dismisses_a_station(admin_client, api):
    online_station("S")
    assert admin_client.delete("/api/v1/stations/S/").status_code == 204
    assert Station.objects.get(charge_point_id="S").dismissed is True
    assert api.get("/api/v1/stations/S/").status_code == 404
    assert admin_client.get("/api/v1/stations/S/").json()["status"] == "dismissed"
    assert admin_client.delete("/api/v1/stations/NOPE/").status_code == 404


def test_qr_codes_hold_the_start_link(api, settings):
    settings.CSMS_PUBLIC_URL = "https://csms.example.com"
    online_station("ACME:1")
    station = api.get("/api/v1/stations/ACME:1/").json()
    assert station["connectors"][0]["start_link"] == "https://csms.example.com/charge/ACME%3A1/1/"
    svg = api.get("/api/v1/stations/ACME:1/connectors/1/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    png = api.get("/api/v1/stations/ACME:1/connectors/2/qr.png", HTTP_ACCEPT="image/png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_qr_code_of_the_start_link_decodes_to_it(api, settings):
    settings.CSMS_PUBLIC_URL = "https://csms.example.com"
    import segno

    online_station("S")
    expected = segno.make("https://csms.example.com/charge/S/1/", error="m")
    svg = api.get("/api/v1/stations/S/connectors/1/qr.svg").content
    import io

    out = io.BytesIO()
    expected.save(out, kind="svg", scale=8, border=2, xmldecl=True)
    assert svg == out.getvalue()


@pytest.mark.parametrize("path", [
    "/api/v1/stations/S/connectors/3/qr.svg", "/api/v1/stations/S/connectors/0/qr.png",
    "/api/v1/stations/NOPE/connectors/1/qr.svg",
])
def test_qr_code_of_an_unknown_connector_is_a_404(api, path):
    online_station("S")
    r = api.get(path)
    assert r.status_code == 404 and r.json()["detail"]
