from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest

from stations.models import Station
from stations.services import (
    station_disconnect,
    station_last_seen_bulk,
    station_mark_offline_stale,
    station_presence_cleanup,
)
from stations.tests.factories import StationFactory

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def present(cp_id: str, channel: str, server: str = "h:1:a", seen: datetime = T0, interval: int = 60) -> Station:
    return StationFactory(
        charge_point_id=cp_id, connected=True, channel_name=channel, server_id=server, connected_at=seen,
        last_heartbeat=seen, last_boot_at=seen, heartbeat_interval=interval,
    )


def test_disconnect_clears_presence_of_its_own_channel() -> None:
    station = present("CP-1", "chan.a")
    assert station_disconnect(station_id=station.pk, channel_name="chan.a", now=T0)
    station.refresh_from_db()
    assert not station.connected and station.channel_name == "" and station.server_id == ""
    assert station.disconnected_at == T0


def test_disconnect_of_a_replaced_connection_changes_nothing() -> None:
    station = present("CP-1", "chan.new")
    assert not station_disconnect(station_id=station.pk, channel_name="chan.old", now=T0)
    station.refresh_from_db()
    assert station.connected and station.channel_name == "chan.new"


def test_a_batch_of_disconnections_is_one_statement_with_the_events_of_one_call_each(
    django_capture_on_commit_callbacks,
) -> None:
    """``station_disconnect.many`` (the group committer's batch): the same rows and events as one
    call each by the ORM's way."""
    from unittest import mock

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.events import PublishOnCommit
    from stations.tests.factories import ConnectorFactory

    def scene(prefix: str) -> list[dict[str, object]]:
        calls = []
        for case, channel in (("gone", "chan.a"), ("replaced", "chan.new"), ("charging", "chan.c")):
            station = present(f"{prefix}-{case}", channel)
            if case == "charging":
                ConnectorFactory(station=station, status="Charging")
            calls.append({"station_id": station.pk, "channel_name": "chan.old" if case == "replaced" else channel,
                          "now": T0 + timedelta(minutes=1)})
        return calls

    def outcome(prefix: str) -> list[tuple[object, ...]]:
        return list(Station.objects.filter(charge_point_id__startswith=prefix).order_by("charge_point_id")
                    .values_list("connected", "channel_name", "server_id", "disconnected_at"))

    one, many = scene("ONE"), scene("MANY")
    with mock.patch("stations.services.connection.vendor", "sqlite"), django_capture_on_commit_callbacks() as hooks:
        results_one = [station_disconnect(**call) for call in one]
    events_one = [(h.group, h.event) for h in hooks if isinstance(h, PublishOnCommit)]
    with django_capture_on_commit_callbacks() as hooks, CaptureQueriesContext(connection) as queries:
        results_many = station_disconnect.many(many)
    events_many = [(h.group, h.event) for h in hooks if isinstance(h, PublishOnCommit)]
    assert results_many == results_one == [True, False, True]
    assert outcome("MANY") == outcome("ONE")
    assert [(False, "", "", T0 + timedelta(minutes=1))] == outcome("MANY")[:1]
    strip = lambda events: [(g.split(".")[0], {**e, "charge_point_id": e["charge_point_id"].split("-", 1)[1]})  # noqa: E731
                            for g, e in events]
    assert strip(events_many) == strip(events_one)
    assert [(g.split(".")[0], e["status"]) for g, e in events_many] == [("dashboard", "offline"), ("station", "offline")] * 2
    assert len(queries) == 1


def test_cleanup_clears_rows_of_dead_servers_only() -> None:
    present("CP-DEAD", "c1", server="host:111:x")
    present("CP-ALIVE", "c2", server="host:222:y")
    present("CP-OTHER-HOST", "c3", server="other:333:z")
    assert station_presence_cleanup(server_ids_alive={"host:222:y"}, server_id_prefix="host:", now=T0) == 1
    states = dict(Station.objects.values_list("charge_point_id", "connected"))
    assert states == {"CP-DEAD": False, "CP-ALIVE": True, "CP-OTHER-HOST": True}


def test_mark_offline_stale_after_three_heartbeat_intervals() -> None:
    present("CP-OLD", "c1", seen=T0 - timedelta(seconds=181))
    present("CP-FRESH", "c2", seen=T0 - timedelta(seconds=179))
    present("CP-SLOW", "c3", seen=T0 - timedelta(seconds=400), interval=300)
    assert station_mark_offline_stale(now=T0) == 1
    states = dict(Station.objects.values_list("charge_point_id", "connected"))
    assert states == {"CP-OLD": False, "CP-FRESH": True, "CP-SLOW": True}
    # It closes nothing: the channel stays, so the consumer still holding it can be reached.
    assert Station.objects.get(charge_point_id="CP-OLD").channel_name == "c1"


def test_last_seen_bulk_writes_many_rows_and_reconnects_only_the_holder() -> None:
    a = present("CP-A", "ca", seen=T0)
    b = present("CP-B", "cb", seen=T0)
    Station.objects.filter(pk=a.pk).update(connected=False)
    later = T0 + timedelta(minutes=5)
    done = station_last_seen_bulk(seen={a.pk: (later, "ca"), b.pk: (later, "not-b")})
    assert done == {a.pk, b.pk}  # b is no longer held by that channel: nothing to retry
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.connected and a.last_heartbeat == later
    assert b.last_heartbeat == T0


def test_last_seen_never_goes_back() -> None:
    a = present("CP-A", "ca", seen=T0)
    station_last_seen_bulk(seen={a.pk: (T0 - timedelta(minutes=1), "ca")})
    a.refresh_from_db()
    assert a.last_heartbeat == T0


@pytest.mark.django_db(transaction=True)
def test_last_seen_skips_rows_locked_by_a_running_write_instead_of_waiting() -> None:
    import threading

    from django.db import connections, transaction

    a = present("CP-A", "ca", seen=T0)
    b = present("CP-B", "cb", seen=T0)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with transaction.atomic():
            Station.objects.select_for_update(no_key=True).get(pk=a.pk)
            locked.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        later = T0 + timedelta(minutes=1)
        done = station_last_seen_bulk(seen={a.pk: (later, "ca"), b.pk: (later, "cb")})
    finally:
        release.set()
        holder.join()
    assert done == {b.pk}
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.last_heartbeat == T0 and b.last_heartbeat == later
