"""Periodic jobs on stations, commands and the logs, through their task functions."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from accounts.tests.factories import AdminFactory
from core import tasks as core_tasks
from notifications.models import Notification, NotificationKind
from notifications.tests.fixtures import celery_eager  # noqa: F401
from stations import jobs
from stations import tasks as station_tasks
from stations.models import Command, CommandState, RefusedConnection, Station
from stations.tests.factories import OcppMessageFactory, StationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def test_a_silent_station_goes_offline_its_socket_is_closed_and_operators_hear_once():
    admin = AdminFactory()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    silent_since = timezone.now() - timedelta(seconds=181)
    station = StationFactory(online=True, heartbeat_interval=60, channel_name=channel)
    Station.objects.filter(pk=station.pk).update(last_heartbeat=silent_since)

    assert station_tasks.station_mark_offline_stale() == [station.pk]

    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "ocpp.close"
    station.refresh_from_db()
    assert station.status == "offline"
    notification = Notification.objects.get(user=admin)
    assert notification.kind == NotificationKind.STATION_OFFLINE
    station_tasks.station_mark_offline_stale()
    assert Notification.objects.filter(user=admin).count() == 1


def test_a_station_heard_within_three_intervals_stays_online():
    AdminFactory()
    station = StationFactory(online=True, heartbeat_interval=60)
    Station.objects.filter(pk=station.pk).update(last_heartbeat=timezone.now() - timedelta(seconds=170))
    assert station_tasks.station_mark_offline_stale() == []
    station.refresh_from_db()
    assert station.connected is True
    assert Notification.objects.count() == 0


def test_a_charger_stuck_in_faulted_is_flagged_to_operators_once_per_fault():
    admin = AdminFactory()
    now = timezone.now()
    long_ago = StationFactory(online=True, charger_status="Faulted", faulted_since=now - timedelta(minutes=31))
    StationFactory(online=True, charger_status="Faulted", faulted_since=now - timedelta(minutes=5))
    assert jobs.station_flag_faulted(now=now) == [long_ago.pk]
    assert jobs.station_flag_faulted(now=now) == []
    notification = Notification.objects.get(user=admin)
    assert notification.kind == NotificationKind.STATION_FAULTED
    assert "31 minutes" in notification.body


def test_commands_left_pending_or_sent_past_their_timeout_end_as_timeout():
    now = timezone.now()
    station = StationFactory()
    due = [
        Command.objects.create(station=station, action="Reset", state=state, timeout_at=now - timedelta(seconds=1))
        for state in (CommandState.PENDING, CommandState.SENT)
    ]
    legacy = Command.objects.create(station=station, action="Reset", state=CommandState.SENT,
                                    created_at=now - timedelta(minutes=5))
    waiting = Command.objects.create(station=station, action="Reset", state=CommandState.SENT,
                                     timeout_at=now + timedelta(seconds=20))
    answered = Command.objects.create(station=station, action="Reset", state=CommandState.ANSWERED,
                                      timeout_at=now - timedelta(seconds=1))

    assert core_tasks.command_expire_timed_out() == 3
    assert core_tasks.command_expire_timed_out() == 0

    states = dict(Command.objects.values_list("pk", "state"))
    assert [states[c.pk] for c in [*due, legacy]] == [CommandState.TIMEOUT] * 3
    assert states[waiting.pk] == CommandState.SENT
    assert states[answered.pk] == CommandState.ANSWERED


def test_logs_and_refused_attempts_past_retention_are_purged(settings):
    settings.CSMS_MESSAGE_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    old_message = OcppMessageFactory(created_at=now - timedelta(days=31))
    recent_message = OcppMessageFactory(created_at=now - timedelta(days=29))
    old_refused = RefusedConnection.objects.create(charge_point_id="X", reason="r", created_at=now - timedelta(days=31))
    recent_refused = RefusedConnection.objects.create(charge_point_id="X", reason="r", created_at=now - timedelta(days=1))

    result = core_tasks.message_log_purge()

    assert result == {"messages": 1, "refused": 1}
    assert not type(old_message).objects.filter(pk=old_message.pk).exists()
    assert type(recent_message).objects.filter(pk=recent_message.pk).exists()
    assert not RefusedConnection.objects.filter(pk=old_refused.pk).exists()
    assert RefusedConnection.objects.filter(pk=recent_refused.pk).exists()
    assert core_tasks.message_log_purge() == {"messages": 0, "refused": 0}
