"""Periodic work on stations, commands and logs (run by the Celery tasks of stations/ and core/).

Every function takes ``now`` and is safe to run twice or concurrently: updates are conditional
on the state they change, and notifications are deduplicated by their key.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q

from notifications import messages
from notifications.models import NotificationKind
from notifications.services import notification_send_to_operators
from stations.models import Command, CommandState, RefusedConnection, RegistrationStatus, Station

logger = logging.getLogger(__name__)


def _stale_stations(*, now: datetime) -> list[Station]:
    """Accepted stations known to have talked once and silent for three of their heartbeat intervals
    (a pending unknown charger going away is no operator's concern until it is accepted)."""
    shortest = Station.objects.aggregate(m=Min("heartbeat_interval"))["m"] or 1
    candidates = Station.objects.filter(
        dismissed=False, registration_status=RegistrationStatus.ACCEPTED, last_heartbeat__isnull=False,
        last_heartbeat__lt=now - timedelta(seconds=3 * max(shortest, 1)),
    )
    return [
        s for s in candidates
        if now - s.last_heartbeat > timedelta(seconds=3 * max(s.heartbeat_interval, 1))  # type: ignore[operator]
    ]


def station_offline_sweep(*, now: datetime) -> list[int]:
    """Close open-but-silent sockets and tell operators about each station gone offline.

    A socket counts as silent when the station has sent nothing for three heartbeat intervals
    while its presence record says connected: the consumer holding it gets an ``ocpp.close``
    channel-layer message (it closes the socket; its disconnect clears the presence). The
    station's status is offline by ``Station.compute_status`` already; the operators are
    notified once per silence (keyed on the last message time). Returns the stale station ids.
    """
    stale = _stale_stations(now=now)
    layer = get_channel_layer()
    for station in stale:
        if station.connected and station.channel_name and layer is not None:
            try:
                async_to_sync(layer.send)(
                    station.channel_name, {"type": "ocpp.close", "reason": "silent", "code": 4408}
                )
            except Exception:  # a dead process or a full channel: the status is offline anyway
                logger.exception("could not ask %s's consumer to close", station.charge_point_id)
        with transaction.atomic():
            notification_send_to_operators(
                kind=NotificationKind.STATION_OFFLINE,
                dedup_key=f"{station.pk}:{station.last_heartbeat.isoformat()}",  # type: ignore[union-attr]
                params={
                    "station": str(station), "charge_point_id": station.charge_point_id,
                    "last_seen": station.last_heartbeat.isoformat(timespec="seconds"),  # type: ignore[union-attr]
                },
                now=now,
            )
    return [s.pk for s in stale]


def station_flag_faulted(*, now: datetime) -> list[int]:
    """Chargers faulted for longer than ``CSMS_FAULTED_FLAG_MINUTES`` are flagged to operators once
    per fault (``Station.faulted_since`` marks the fault; it is set and cleared from the status
    notifications). Returns the ids of the stations flagged by this run."""
    limit = timedelta(minutes=settings.CSMS_FAULTED_FLAG_MINUTES)
    flagged = []
    for station in Station.objects.filter(dismissed=False, faulted_since__lt=now - limit):
        minutes = int((now - station.faulted_since).total_seconds() // 60)  # type: ignore[operator]
        with transaction.atomic():
            sent = notification_send_to_operators(
                kind=NotificationKind.STATION_FAULTED,
                dedup_key=f"stuck:{station.pk}:{station.faulted_since.isoformat()}",  # type: ignore[union-attr]
                title=messages.STUCK_FAULTED_TITLE,
                body=messages.STUCK_FAULTED,
                params={"station": str(station), "charge_point_id": station.charge_point_id, "minutes": minutes},
                now=now,
            )
        if sent:
            flagged.append(station.pk)
    return flagged


def command_expire_timed_out(*, now: datetime) -> int:
    """Commands left ``pending`` or ``sent`` past their ``timeout_at`` end as ``timeout``.

    Rows without ``timeout_at`` time out one minute after ``CSMS_CALL_TIMEOUT``. The update is
    conditional on the state, so an answer that lands at the same moment wins or loses cleanly,
    and a second run changes nothing. Returns how many rows changed.
    """
    grace = timedelta(seconds=settings.CSMS_CALL_TIMEOUT + 60)
    due = Q(timeout_at__lt=now) | Q(timeout_at__isnull=True, created_at__lt=now - grace)
    return Command.objects.filter(due, state__in=[CommandState.PENDING, CommandState.SENT]).update(
        state=CommandState.TIMEOUT,
        error={"code": "timeout", "description": "No answer before the command's timeout."},
    )


def refused_connection_purge(*, now: datetime) -> int:
    """Refused-attempt records older than ``CSMS_MESSAGE_LOG_RETENTION_DAYS`` go (the message log
    itself is purged by ``stations.services.message_log_purge``). Returns how many."""
    cutoff = now - timedelta(days=settings.CSMS_MESSAGE_LOG_RETENTION_DAYS)
    deleted, _ = RefusedConnection.objects.filter(created_at__lt=cutoff).delete()
    return deleted
