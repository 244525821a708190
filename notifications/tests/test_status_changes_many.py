"""A batch's status changes (``StatusChange.run_many``, what the group committer runs after the
commit) do exactly what one ``connector_status_changed`` each does, in two statements."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import AdminFactory
from notifications.models import Notification
from notifications.services import StatusChange
from stations.models import Station
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)


def scene(prefix: str) -> list[StatusChange]:
    """Each case a station of its own; the changes as the status service would register them."""
    changes = []

    def change(cp: str, number: int, status: str) -> None:
        changes.append(StatusChange(station_id=Station.objects.get(charge_point_id=cp).pk, connector_id=number,
                                    status=status))

    # A fault that is over: the station's mark is cleared.
    ConnectorFactory(station=StationFactory(charge_point_id=f"{prefix}-RECOVERED", faulted_since=T0), status="Available")
    change(f"{prefix}-RECOVERED", 1, "Available")
    # Another connector is faulted and the station not marked yet: marked, nobody told.
    station = StationFactory(charge_point_id=f"{prefix}-OTHER")
    ConnectorFactory(station=station, connector_id=1, status="Faulted")
    ConnectorFactory(station=station, connector_id=2, status="Available")
    change(f"{prefix}-OTHER", 2, "Available")
    # A fault: marked and the operators told.
    ConnectorFactory(station__charge_point_id=f"{prefix}-FAULT", status="Faulted", error_code="GroundFailure")
    change(f"{prefix}-FAULT", 1, "Faulted")
    # Sessions: ends of charge set, not set and cleared.
    for name, status, fields in (
        ("FULL", "SuspendedEV", {"energy_wh": 5000}),
        ("NOT-READY", "SuspendedEV", {"energy_wh": 0}),
        ("FINISHING", "Finishing", {"energy_wh": 100}),
        ("AGAIN", "Charging", {"energy_wh": 100, "end_of_charge_at": T0}),
        ("STOPPED", "SuspendedEV", {"energy_wh": 100, "stopped": True}),
    ):
        TransactionFactory(connector__station__charge_point_id=f"{prefix}-{name}", **fields)
        change(f"{prefix}-{name}", 1, status)
    # The whole charger, not faulted.
    StationFactory(charge_point_id=f"{prefix}-CHARGER", charger_status="Available")
    change(f"{prefix}-CHARGER", 0, "Available")
    return changes


def outcome(prefix: str) -> list[Any]:
    stations = Station.objects.filter(charge_point_id__startswith=f"{prefix}-").order_by("charge_point_id")
    sessions = Transaction.objects.filter(station__charge_point_id__startswith=f"{prefix}-")
    return [
        sorted((s.charge_point_id.split("-", 1)[1], s.faulted_since) for s in stations),
        sorted((t.station.charge_point_id.split("-", 1)[1], t.end_of_charge_at) for t in sessions),
    ]


def test_the_batch_matches_one_call_each() -> None:
    admin = AdminFactory()
    one_by_one, many = scene("ONE"), scene("MANY")
    now = T0 + timedelta(hours=1)
    with time_machine.travel(now, tick=False):
        for change in one_by_one:
            change()
        with CaptureQueriesContext(connection) as queries:
            StatusChange.run_many(many)
    assert outcome("MANY") == outcome("ONE")
    assert outcome("MANY") == [
        [("AGAIN", None), ("CHARGER", None), ("FAULT", now), ("FINISHING", None), ("FULL", None),
         ("NOT-READY", None), ("OTHER", now), ("RECOVERED", None), ("STOPPED", None)],
        [("AGAIN", None), ("FINISHING", now), ("FULL", now), ("NOT-READY", None), ("STOPPED", None)],
    ]
    # The operators heard of each run's fault, once.
    bodies = sorted(Notification.objects.filter(user=admin).values_list("body", flat=True))
    assert len(bodies) == 2
    assert "MANY-FAULT" in bodies[0] and "ONE-FAULT" in bodies[1] and all("GroundFailure" in b for b in bodies)
    assert queries  # the batch ran in the captured block


def test_changes_without_a_fault_are_two_statements() -> None:
    changes = [c for c in scene("MANY") if c.status != "Faulted"]
    with CaptureQueriesContext(connection) as queries:
        StatusChange.run_many(changes)
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2
    assert '"stations_station" s SET faulted_since' in statements[0]
    assert '"transactions_transaction" t SET end_of_charge_at' in statements[1]


def test_a_lone_change_runs_as_one_call() -> None:
    tx = TransactionFactory(energy_wh=5000)
    StatusChange.run_many([StatusChange(station_id=tx.station_id, connector_id=1, status="SuspendedEV")])
    tx.refresh_from_db()
    assert tx.end_of_charge_at is not None
