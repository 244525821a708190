"""Every cell of the role matrix (accounts/permissions.py): each endpoint × each role.

The world: an offline station ``S`` (so allowed charging calls end in 409 without a charger),
the caller's own active transaction and reservation, and another driver's. Allowed roles get the
endpoint's own answer; the others 401 (anonymous) or 403; someone else's objects 404 for drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import IdTag
from accounts.tests.factories import AdminFactory, IdTagFactory, UserFactory
from reservations.models import Reservation
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import MeterValueFactory, TransactionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROLES = ["anonymous", "demo", "driver", "admin", "super_admin"]


@dataclass
class World:
    own_tx: int
    other_tx: int
    own_reservation: int
    other_reservation: int
    other_driver: int
    other_admin: int
    id_tag: int


def build_world(me: Any) -> World:
    station = StationFactory(charge_point_id="S", online=True, last_heartbeat=timezone.now() - timedelta(hours=1))
    c1 = ConnectorFactory(station=station, connector_id=1)
    c2 = ConnectorFactory(station=station, connector_id=2)
    other = UserFactory()
    other_tag = IdTagFactory(user=other)
    other_tx = TransactionFactory(connector=c2, tag=other_tag)
    expires = timezone.now() + timedelta(minutes=10)
    other_res = Reservation.objects.create(user=other, id_tag=other_tag.id_tag, station=station, expires_at=expires)
    owner = me or UserFactory()
    own_tag = IdTag.objects.filter(user=owner).first() or IdTagFactory(user=owner)
    own_tx = TransactionFactory(connector=c1, tag=own_tag)
    MeterValueFactory(transaction=own_tx)
    own_res = Reservation.objects.create(user=owner, id_tag=own_tag.id_tag, station=station, expires_at=expires)
    return World(own_tx=own_tx.pk, other_tx=other_tx.pk, own_reservation=own_res.pk,
                  other_reservation=other_res.pk, other_driver=other.pk, other_admin=AdminFactory().pk,
                  id_tag=IdTagFactory(user=None).pk)


A, D, DR, AD, SA = range(5)
# (name, method, path, body, expected statuses for anonymous, demo, driver, admin, super admin)
MATRIX: list[tuple[str, str, str, dict[str, Any] | None, tuple[int, int, int, int, int]]] = [
    ("stations list", "get", "/api/v1/stations/", None, (200, 200, 200, 200, 200)),
    ("station detail", "get", "/api/v1/stations/S/", None, (200, 200, 200, 200, 200)),
    ("qr svg", "get", "/api/v1/stations/S/connectors/1/qr.svg", None, (200, 200, 200, 200, 200)),
    ("qr png", "get", "/api/v1/stations/S/connectors/1/qr.png", None, (200, 200, 200, 200, 200)),
    ("station create", "post", "/api/v1/stations/", {"charge_point_id": "NEW"}, (401, 403, 403, 201, 201)),
    ("station update", "patch", "/api/v1/stations/S/", {"name": "x"}, (401, 403, 403, 200, 200)),
    ("station dismiss", "delete", "/api/v1/stations/S/", None, (401, 403, 403, 204, 204)),
    ("start", "post", "/api/v1/stations/S/start/", {"connector_id": 1}, (401, 403, 409, 409, 409)),
    ("reserve", "post", "/api/v1/stations/S/reserve/", {"connector_id": 1}, (401, 403, 409, 409, 409)),
    ("me", "get", "/api/v1/me/", None, (401, 200, 200, 200, 200)),
    ("me update", "patch", "/api/v1/me/", {"first_name": "x"}, (401, 403, 200, 200, 200)),
    ("users list", "get", "/api/v1/users/", None, (401, 403, 403, 200, 200)),
    ("user detail", "get", "/api/v1/users/{other_driver}/", None, (401, 403, 403, 200, 200)),
    ("user role driver→demo", "patch", "/api/v1/users/{other_driver}/", {"role": "demo"}, (401, 403, 403, 200, 200)),
    ("user block", "patch", "/api/v1/users/{other_driver}/", {"is_active": False}, (401, 403, 403, 200, 200)),
    ("make an admin", "patch", "/api/v1/users/{other_driver}/", {"role": "admin"}, (401, 403, 403, 403, 200)),
    ("block an admin", "patch", "/api/v1/users/{other_admin}/", {"is_active": False}, (401, 403, 403, 403, 200)),
    ("credit", "post", "/api/v1/users/{other_driver}/credit/", {"amount": "5.00"}, (401, 403, 403, 200, 200)),
    ("id tags list", "get", "/api/v1/id-tags/", None, (401, 403, 403, 200, 200)),
    ("id tag create", "post", "/api/v1/id-tags/", {"id_tag": "NEWTAG"}, (401, 403, 403, 201, 201)),
    ("id tag detail", "get", "/api/v1/id-tags/{id_tag}/", None, (401, 403, 403, 200, 200)),
    ("id tag update", "patch", "/api/v1/id-tags/{id_tag}/", {"status": "Blocked"}, (401, 403, 403, 200, 200)),
    ("id tag block", "post", "/api/v1/id-tags/{id_tag}/block/", None, (401, 403, 403, 200, 200)),
    ("transactions", "get", "/api/v1/transactions/", None, (401, 403, 200, 200, 200)),
    ("own transaction", "get", "/api/v1/transactions/{own_tx}/", None, (401, 403, 200, 200, 200)),
    ("other's transaction", "get", "/api/v1/transactions/{other_tx}/", None, (401, 403, 404, 200, 200)),
    ("own meter values", "get", "/api/v1/transactions/{own_tx}/meter-values/", None, (401, 403, 200, 200, 200)),
    ("other's meter values", "get", "/api/v1/transactions/{other_tx}/meter-values/", None,
     (401, 403, 404, 200, 200)),
    ("stop own", "post", "/api/v1/transactions/{own_tx}/stop/", None, (401, 403, 409, 409, 409)),
    ("stop other's", "post", "/api/v1/transactions/{other_tx}/stop/", None, (401, 403, 404, 409, 409)),
    ("current session", "get", "/api/v1/transactions/current/", None, (401, 403, 200, 200, 200)),
    ("last usage", "get", "/api/v1/transactions/last/", None, (401, 403, 200, 200, 200)),
    ("transactions csv", "get", "/api/v1/transactions/export/", None, (401, 403, 403, 200, 200)),
    ("report", "get", "/api/v1/reports/monthly/", None, (401, 403, 403, 200, 200)),
    ("report csv", "get", "/api/v1/reports/monthly/csv/", None, (401, 403, 403, 200, 200)),
    ("reservations", "get", "/api/v1/reservations/", None, (401, 403, 200, 200, 200)),
    ("own reservation", "get", "/api/v1/reservations/{own_reservation}/", None, (401, 403, 200, 200, 200)),
    ("other's reservation", "get", "/api/v1/reservations/{other_reservation}/", None, (401, 403, 404, 200, 200)),
    ("cancel own", "post", "/api/v1/reservations/{own_reservation}/cancel/", None, (401, 403, 200, 200, 200)),
    ("cancel other's", "post", "/api/v1/reservations/{other_reservation}/cancel/", None, (401, 403, 404, 200, 200)),
    ("register", "post", "/api/v1/auth/register/", {"email": "new@example.com", "password": "Sunny-Harbour-77"},
     (201, 201, 201, 201, 201)),
    ("password reset", "post", "/api/v1/auth/password-reset/", {"email": "x@example.com"}, (200, 200, 200, 200, 200)),
]

CELLS = [
    pytest.param(name, method, path, body, role, expected[i], id=f"{name}-{role}")
    for name, method, path, body, expected in MATRIX
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize("name, method, path, body, role, expected", CELLS)
def test_role_matrix(make_client, name, method, path, body, role, expected):
    client, me = make_client(role)
    world = build_world(me)
    url = path.format(**world.__dict__)
    response = getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)
    assert response.status_code == expected, (name, role, response.content[:300])
