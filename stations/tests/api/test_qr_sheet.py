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
