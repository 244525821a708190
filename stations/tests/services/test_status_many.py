"""A batch's StatusNotifications (``connector_status_update.many``, what the group committer runs)
store exactly what one call each by the ORM's way does, in one statement."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.events import PublishOnCommit
from notifications.services import StatusChange
from stations.models import Connector, Station
from stations.services import connector_status_update
from stations.tests.factories import ConnectorFactory, StationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)
CASES = ("repeat", "repeat-2", "change", "new", "older", "charger", "naive")


def scene(prefix: str) -> list[dict[str, Any]]:
    """Seven chargers: two repeats of their stored status, a change, a connector not seen before,
    a status older than the stored one, connector 0 (the whole charger), a time without zone."""
    calls = []
    for case in CASES:
        cp = f"{prefix}-{case}"
        if case in ("new", "charger"):
            StationFactory(charge_point_id=cp)
        else:
            ConnectorFactory(station__charge_point_id=cp, connector_id=1, status="Charging", status_at=T0)
        status = "Available" if case in ("change", "older") else "Charging"
        at = T0 + timedelta(minutes=-1 if case == "older" else 1)
        calls.append({
            "charge_point_id": cp, "connector_id": 0 if case == "charger" else 1, "status": status,
            "error_code": "NoError", "timestamp": at.replace(tzinfo=None) if case == "naive" else at,
            "now": T0 + timedelta(minutes=2), "info": f"info {case}", "vendor_id": "ACME", "vendor_error_code": "",
        })
    return calls


def outcome(calls: list[dict[str, Any]]) -> list[Any]:
    found = []
    for call in calls:
        cp = call["charge_point_id"]
        station = Station.objects.get(charge_point_id=cp)
        connectors = list(Connector.objects.filter(station=station).values_list(
            "connector_id", "status", "error_code", "status_at", "info", "vendor_id"))
        found.append((cp.split("-", 1)[1], station.charger_status, connectors))
    return found


def hooks(callbacks: list[Any]) -> list[Any]:
    return [(Station.objects.get(pk=h.station_id).charge_point_id.split("-", 1)[1], h.connector_id, h.status)
            for h in callbacks if isinstance(h, StatusChange)]


@pytest.mark.filterwarnings("ignore:DateTimeField Connector.status_at received a naive datetime")
def test_the_batch_matches_one_call_each_the_orms_way(settings, django_capture_on_commit_callbacks) -> None:
    settings.TIME_ZONE = "UTC"
    one_by_one, many = scene("ONE"), scene("MANY")
    with mock.patch("stations.services._status_statement_applies", return_value=False):
        with django_capture_on_commit_callbacks() as hooks_one, transaction.atomic():
            results_one = [connector_status_update(**call) for call in one_by_one]
    with django_capture_on_commit_callbacks() as hooks_many, transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            results_many = connector_status_update.many(many)
    events_one = [(h.group, h.event) for h in hooks_one if isinstance(h, PublishOnCommit)]
    events_many = [(h.group, h.event) for h in hooks_many if isinstance(h, PublishOnCommit)]
    assert results_many == results_one == [False, False, True, True, False, True, False]
    assert outcome(many) == outcome(one_by_one)
    assert outcome(many)[0][2] == [(1, "Charging", "NoError", T0 + timedelta(minutes=1), "info repeat", "ACME")]
    assert hooks(hooks_many) == hooks(hooks_one) == [("change", 1, "Available"), ("new", 1, "Charging"),
                                                    ("charger", 0, "Charging")]
    strip = lambda events: [  # noqa: E731
        (g.split(".")[0], {**e, "charge_point_id": e["charge_point_id"].split("-", 1)[1]}) for g, e in events]
    assert strip(events_many) == strip(events_one)
    assert [(g.split(".")[0], e["type"], e["charge_point_id"]) for g, e in events_many] == [
        (group, kind, f"MANY-{case}") for case in ("change", "new", "charger")
        for kind in ("connector", "station") for group in ("dashboard", "station")
    ]
    # The five of connectors 1..n with a zone (repeats, a change, a new connector, an older one):
    # one statement, and one read of the changed stations' events.
    written = [q for q in queries if f'UPDATE "{Connector._meta.db_table}" AS c' in q["sql"]]
    assert len(written) == 1 and "INSERT INTO" in written[0]["sql"]
    orm_locks = [q for q in queries if "FOR NO KEY UPDATE" in q["sql"] and q not in written]
    assert len(orm_locks) == 1  # connector 0 (the naive time, a repeat, is the ORM's UPDATE)


def test_one_connector_twice_in_a_batch_goes_in_order() -> None:
    ConnectorFactory(station__charge_point_id="CP-1", connector_id=1, status="Charging", status_at=T0)
    call = {"charge_point_id": "CP-1", "connector_id": 1, "error_code": "NoError", "now": T0, "info": "",
            "vendor_id": "", "vendor_error_code": ""}
    results = connector_status_update.many([
        {**call, "status": "Finishing", "timestamp": T0 + timedelta(seconds=1)},
        {**call, "status": "Finishing", "timestamp": T0 + timedelta(seconds=2)},
    ])
    assert results == [True, False]
    assert Connector.objects.get().status_at == T0 + timedelta(seconds=2)


def test_a_committer_batch_of_statuses_runs_them_together() -> None:
    from stations.protocol.committer import _execute, _Item

    calls = [c for c in scene("BATCH") if c["charge_point_id"].endswith("repeat") or c["charge_point_id"].endswith("-2")]
    items = [_Item(connector_status_update, call, None) for call in calls]  # type: ignore[arg-type]
    with CaptureQueriesContext(connection) as queries:
        _execute(items, [], [])
    assert [(item.ok, item.result) for item in items] == [(True, False), (True, False)]
    updates = [q for q in queries if f'UPDATE "{Connector._meta.db_table}"' in q["sql"]]
    assert len(updates) == 1
    stored = Connector.objects.filter(station__charge_point_id__in=[c["charge_point_id"] for c in calls])
    assert [c.status_at for c in stored] == [T0 + timedelta(minutes=1)] * 2
