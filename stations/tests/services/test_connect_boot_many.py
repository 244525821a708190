"""A batch's handshakes and BootNotifications (``station_connect.many``, ``station_boot.many``,
what the group committer runs in a boot storm) store, answer and publish exactly what one call
each by the ORM's way does, the common case in one statement."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.events import PublishOnCommit
from stations.models import RefusedConnection, RegistrationStatus, Station
from stations.services import station_boot, station_connect
from stations.tests.factories import ConnectorFactory, StationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)


def orm_way():
    """One call each as on SQLite: the ORM path, not the hand-written statements."""
    return mock.patch("stations.services.connection.vendor", "sqlite")


def events(callbacks: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The live events, each charge point id without its scene's prefix."""
    return [(h.group.replace(h.event["charge_point_id"], "*"),
             {**h.event, "charge_point_id": h.event["charge_point_id"].split("-", 1)[1]})
            for h in callbacks if isinstance(h, PublishOnCommit)]


def connect_scene(prefix: str) -> list[dict[str, Any]]:
    """A known station; one held by an older connection; one with a password; an unknown id;
    an invalid id; and a charger that connects twice within the batch."""
    StationFactory(charge_point_id=f"{prefix}-known")
    replaced = StationFactory(charge_point_id=f"{prefix}-replaced", last_boot_at=T0, power_limit_w=11000)
    Station.objects.filter(pk=replaced.pk).update(connected=True, channel_name="chan.older", server_id="h:9:z")
    ConnectorFactory(station=replaced, connector_id=1, status="Charging")
    StationFactory(charge_point_id=f"{prefix}-password", password="secret")
    StationFactory(charge_point_id=f"{prefix}-twice")
    cases = [("known", None, "chan.1"), ("replaced", None, "chan.2"), ("twice", None, "chan.3"),
             ("password", "secret", "chan.4"), ("unknown", None, "chan.5"), ("bad id!", None, "chan.6"),
             ("twice", None, "chan.7")]
    return [{"charge_point_id": f"{prefix}-{case}", "password": password, "remote_address": "10.0.0.7",
             "channel_name": channel, "server_id": "h:1:a", "now": T0 + timedelta(seconds=n)}
            for n, (case, password, channel) in enumerate(cases)]


def connect_outcome(prefix: str) -> list[tuple[Any, ...]]:
    return [(cp.split("-", 1)[1], *rest) for cp, *rest in Station.objects.filter(charge_point_id__startswith=prefix)
            .order_by("charge_point_id").values_list("charge_point_id", "connected", "channel_name", "server_id",
                                                     "connected_at", "remote_address", "registration_status")]


def test_a_batch_of_handshakes_matches_one_call_each(settings, django_capture_on_commit_callbacks) -> None:
    settings.CSMS_UNKNOWN_CHARGE_POINTS = "accept"
    one, many = connect_scene("ONE"), connect_scene("MANY")
    with orm_way(), django_capture_on_commit_callbacks() as hooks_one, transaction.atomic():
        results_one = [station_connect(**call) for call in one]
    with django_capture_on_commit_callbacks() as hooks_many, transaction.atomic():
        results_many = station_connect.many(many)
    ids = {**dict(Station.objects.values_list("pk", "charge_point_id")), None: None}
    strip = lambda results: [replace(r, station_id=ids[r.station_id] and ids[r.station_id].split("-", 1)[1])  # noqa: E731
                             for r in results]
    assert strip(results_many) == strip(results_one)
    assert [(r.refused, r.replaced_channel, r.ready, r.created, r.power_limit_w) for r in results_many] == [
        ("", "", False, False, None),
        ("", "chan.older", True, False, 11000),
        ("", "", False, False, None),
        ("", "", False, False, None),
        ("", "", False, True, None),
        ("invalid charge point id", "", False, False, None),
        ("", "chan.3", False, False, None),  # the same charger's second handshake replaces its first
    ]
    assert connect_outcome("MANY") == connect_outcome("ONE")
    assert ("twice", True, "chan.7", "h:1:a", T0 + timedelta(seconds=6), "10.0.0.7", RegistrationStatus.ACCEPTED) in (
        connect_outcome("MANY"))
    assert events(hooks_many) == events(hooks_one)
    assert RefusedConnection.objects.filter(charge_point_id="MANY-bad id!").count() == 1


def test_a_batch_of_known_stations_connects_in_one_statement() -> None:
    calls = [{"charge_point_id": f"CP-{n}", "password": None, "remote_address": "10.0.0.7", "channel_name": f"chan.{n}",
              "server_id": "h:1:a", "now": T0} for n in range(20)]
    for call in calls:
        StationFactory(charge_point_id=call["charge_point_id"])
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        results = station_connect.many(calls)
    assert len(queries) == 1
    assert all(not r.refused and r.station_id for r in results)
    assert set(Station.objects.values_list("channel_name", flat=True)) == {f"chan.{n}" for n in range(20)}


def boot_scene(prefix: str) -> list[dict[str, Any]]:
    """An accepted station that sends every detail; one that sends only vendor and model (the
    others keep their stored values); a pending one; and a charger that boots twice."""
    StationFactory(charge_point_id=f"{prefix}-full")
    partial = StationFactory(charge_point_id=f"{prefix}-partial", firmware_version="1.0", last_boot_at=T0)
    ConnectorFactory(station=partial, connector_id=1, status="Faulted")
    StationFactory(charge_point_id=f"{prefix}-pending", registration_status=RegistrationStatus.PENDING)
    StationFactory(charge_point_id=f"{prefix}-twice", heartbeat_interval=300)
    full = {"charge_point_vendor": "ACME", "charge_point_model": "M" * 30, "charge_point_serial_number": "S1",
            "firmware_version": "2.0", "iccid": "I1", "imsi": "M1", "meter_type": "T1",
            "meter_serial_number": "X" * 60}
    some = {"charge_point_vendor": "ACME", "charge_point_model": "Mini"}
    cases = [("full", full), ("partial", some), ("pending", some), ("twice", some), ("twice", full)]
    return [{"charge_point_id": f"{prefix}-{case}", "details": details, "now": T0 + timedelta(seconds=n)}
            for n, (case, details) in enumerate(cases)]


def boot_outcome(prefix: str) -> list[tuple[Any, ...]]:
    return [(cp.split("-", 1)[1], *rest) for cp, *rest in Station.objects.filter(charge_point_id__startswith=prefix)
            .order_by("charge_point_id").values_list(
                "charge_point_id", "vendor", "model", "serial_number", "firmware_version", "iccid", "imsi",
                "meter_type", "meter_serial_number", "ocpp_version", "last_heartbeat", "last_boot_at")]


def test_a_batch_of_boots_matches_one_call_each(django_capture_on_commit_callbacks) -> None:
    one, many = boot_scene("ONE"), boot_scene("MANY")
    with orm_way(), django_capture_on_commit_callbacks() as hooks_one, transaction.atomic():
        results_one = [station_boot(**call) for call in one]
    with django_capture_on_commit_callbacks() as hooks_many, transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            results_many = station_boot.many(many)
    assert results_many == results_one
    assert [(r.status, r.interval) for r in results_many] == [
        ("Accepted", 60), ("Accepted", 60), ("Pending", 60), ("Accepted", 300), ("Accepted", 300)]
    assert boot_outcome("MANY") == boot_outcome("ONE")
    partial = dict((row[0], row) for row in boot_outcome("MANY"))["partial"]
    assert partial[1:5] == ("ACME", "Mini", "", "1.0")  # what was not sent is kept
    assert events(hooks_many) == events(hooks_one)
    assert [e["charge_point_id"] for _g, e in events(hooks_many)][::2] == ["full", "partial", "pending", "twice", "twice"]
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2  # the batch's statement, and the second boot of "twice" on its own


def test_a_boot_of_an_unknown_station_fails_in_a_batch_as_alone() -> None:
    StationFactory(charge_point_id="CP-1")
    calls = [{"charge_point_id": cp, "details": {}, "now": T0} for cp in ("CP-1", "CP-GONE")]
    with pytest.raises(Station.DoesNotExist), transaction.atomic():
        station_boot.many(calls)
    with pytest.raises(Station.DoesNotExist):
        station_boot(**calls[1])
