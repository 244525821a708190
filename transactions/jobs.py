"""Periodic checks of sessions for operators: silent sessions and sessions whose charger is gone.

``Transaction.flagged`` names why a session needs an operator (``no_meter_values``,
``inferred_stopped``); ``Transaction.inferred_stopped_at`` marks a session presumed over because
its charger has been gone for ``CSMS_TRANSACTION_INFER_STOP_MINUTES``. Nothing is invented: the
energy and cost stay those of the last meter value, and ``stopped_at`` stays empty until the
charger's own StopTransaction arrives (``transaction_stop`` then fills it as for any stop and
``inferred_stopped_at`` stays as the record of the inference). A session that turns out alive
(a meter value newer than the inference) gets its mark and flag cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from notifications import messages
from notifications.models import NotificationKind
from notifications.services import notification_send_to_operators, transaction_params
from transactions.models import Transaction

NO_METER_VALUES = "no_meter_values"
INFERRED_STOPPED = "inferred_stopped"


@dataclass
class FlagResult:
    silent: list[int] = field(default_factory=list)
    inferred_stopped: list[int] = field(default_factory=list)
    revived: list[int] = field(default_factory=list)


def transaction_flag_stale(*, now: datetime) -> FlagResult:
    """Flag silent sessions and infer stopped ones. Safe to run twice (conditional updates,
    deduplicated notifications)."""
    result = FlagResult()
    active = Transaction.objects.filter(stopped_at__isnull=True)

    # Alive after all: a meter value newer than the inference.
    revived = active.filter(inferred_stopped_at__isnull=False, last_meter_at__gt=F("inferred_stopped_at"))
    result.revived = list(revived.values_list("pk", flat=True))
    revived.update(inferred_stopped_at=None, flagged="")
    active.filter(flagged=NO_METER_VALUES, last_meter_at__gt=now - timedelta(
        minutes=settings.CSMS_TRANSACTION_SILENT_MINUTES)).update(flagged="")

    gone_limit = now - timedelta(minutes=settings.CSMS_TRANSACTION_INFER_STOP_MINUTES)
    gone = active.filter(inferred_stopped_at__isnull=True).filter(
        Q(station__last_heartbeat__lt=gone_limit) | Q(station__last_heartbeat__isnull=True),
        started_at__lt=gone_limit,
    ).select_related("station", "connector")
    for tx in gone:
        station = tx.station
        if station.connected and not station.is_offline(now):
            continue
        last_seen = max(t for t in (station.last_heartbeat, tx.last_meter_at, tx.started_at) if t is not None)
        with transaction.atomic():
            if not Transaction.objects.filter(pk=tx.pk, stopped_at__isnull=True, inferred_stopped_at__isnull=True).update(
                inferred_stopped_at=last_seen, flagged=INFERRED_STOPPED
            ):
                continue
            notification_send_to_operators(
                kind=NotificationKind.TRANSACTION_FLAGGED, dedup_key=f"{tx.pk}:{INFERRED_STOPPED}",
                body=messages.INFERRED_STOPPED,
                params={**transaction_params(tx), "last_seen": last_seen.isoformat(timespec="seconds")},
                now=now,
            )
        result.inferred_stopped.append(tx.pk)

    silent_limit = now - timedelta(minutes=settings.CSMS_TRANSACTION_SILENT_MINUTES)
    silent = (
        active.filter(inferred_stopped_at__isnull=True, flagged="")
        .annotate(last_sign=Coalesce("last_meter_at", "started_at"))
        .filter(last_sign__lt=silent_limit)
        .select_related("station", "connector")
    )
    for tx in silent:
        minutes = int((now - tx.last_sign).total_seconds() // 60)  # type: ignore[attr-defined]
        with transaction.atomic():
            if not Transaction.objects.filter(pk=tx.pk, flagged="").update(flagged=NO_METER_VALUES):
                continue
            notification_send_to_operators(
                kind=NotificationKind.TRANSACTION_FLAGGED,
                dedup_key=f"{tx.pk}:{NO_METER_VALUES}:{tx.last_sign.isoformat()}",  # type: ignore[attr-defined]
                body=messages.SILENT_TRANSACTION,
                params={**transaction_params(tx), "minutes": minutes, "reason": NO_METER_VALUES},
                now=now,
            )
        result.silent.append(tx.pk)
    return result
