from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from stations.tests.factories import ConnectorFactory, StationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_admins_print_a_sheet_of_qr_codes(client, admin, settings):
    settings.CSMS_PUBLIC_URL = "https://csms.example.com"
    station = StationFactory(charge_point_id="S", online=True)
    ConnectorFactory(station=station, connector_id=1)
    ConnectorFactory(station=station, connector_id=2)
    ConnectorFactory(station=StationFactory(charge_point_id="GONE", dismissed=True))
    client.force_login(admin)
    one = client.get("/qr/S/")
    assert one.status_code == 200
    assert one.content.count(b"<svg") == 2
    assert b'data-link="https://csms.example.com/charge/S/2/"' in one.content
    every = client.get("/qr/")
    assert every.content.count(b"<svg") == 2  # dismissed stations are left out
    assert client.get("/qr/NOPE/").status_code == 404


def test_drivers_cannot_open_the_sheet(client):
    client.force_login(UserFactory())
    r = client.get("/qr/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_the_qr_link_opens_a_landing_page_without_the_app(client, settings):
    settings.CSMS_PUBLIC_URL = "https://csms.example.com"
    station = StationFactory(charge_point_id="ACME:1", name="Harbour", online=True)
    ConnectorFactory(station=station, connector_id=1)
    r = client.get("/charge/ACME%3A1/1/")
    assert r.status_code == 200
    assert b"Harbour" in r.content and b'href="https://csms.example.com/charge/ACME%3A1/1/"' in r.content
    assert client.get("/charge/ACME%3A1/5/").status_code == 404
    assert client.get("/charge/NOPE/1/").status_code == 404
