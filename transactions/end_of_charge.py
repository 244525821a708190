"""End of charge, as in Open e-Mobility's charging-station settings, and the in-session notices.

The end of charge of an active session is detected
- from the connector's status SuspendedEV or Finishing (``notifications.services.connector_status_changed``),
- from the power staying under ``Station.eoc_power_threshold_w`` for ``Station.eoc_minutes``
  (``end_of_charge_detect_power``, here),
- from StopTransaction (``transaction_stopped`` sets it to the stop time; the driver then gets
  "charging finished", not "end of charge").
``Transaction.end_of_charge_at`` records it. ``Station.eoc_notify_delay_minutes`` later the
driver is told, and the station may stop the session and unlock the connector
(``eoc_stop_transaction`` / ``eoc_unlock_connector``) through ``stations.protocol.remote.call``.
A car that charges again (status Charging, or power back over the threshold) clears it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from notifications import messages
from notifications.models import NotificationKind
from notifications.services import notification_send, transaction_params
from stations.models import Command
from transactions.models import MeterValue, Transaction

logger = logging.getLogger(__name__)

POWER = "Power.Active.Import"
SOURCE = "end_of_charge"


def _active() -> Any:
    return Transaction.objects.filter(stopped_at__isnull=True, inferred_stopped_at__isnull=True)


def _power_samples(tx: Transaction, limit: int = 600) -> list[tuple[datetime, float]]:
    """The session's latest total power samples, oldest first (phases summed when no total was sent)."""
    totals: dict[datetime, float] = {}
    per_phase: dict[datetime, float] = {}
    rows = (
        MeterValue.objects.filter(transaction=tx, measurand=POWER)
        .order_by("-timestamp").values_list("timestamp", "phase", "value")[:limit]
    )
    for timestamp, phase, value in rows:
        if phase in ("", None):
            totals[timestamp] = value
        elif phase in ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N"):
            per_phase[timestamp] = per_phase.get(timestamp, 0.0) + value
    merged = {**per_phase, **totals}
    return sorted(merged.items())


def _low_since(samples: list[tuple[datetime, float]], threshold: int) -> datetime | None:
    """When the power last dropped under the threshold and stayed there (None: it is not under)."""
    dropped = None
    for timestamp, value in reversed(samples):
        if value >= threshold:
            break
        dropped = timestamp
    return dropped


def end_of_charge_detect_power(*, now: datetime) -> list[int]:
    """Sessions whose power has stayed under the station's threshold for ``eoc_minutes``.

    The power dropped under the threshold at the first low sample after the last high one (or
    the first sample at all); every later sample is low; ``eoc_minutes`` have passed since. Sparse
    samples are fine: the time counts, not the number of samples. Sets ``end_of_charge_at`` to
    ``now`` (conditional update: a second run changes nothing); clears it when the newest sample
    is back over the threshold. Returns the ids detected now.
    """
    detected = []
    candidates = _active().filter(station__eoc_power_threshold_w__gt=0).select_related("station")
    for tx in candidates:
        station = tx.station
        samples = _power_samples(tx)
        if not samples:
            continue
        dropped = _low_since(samples, station.eoc_power_threshold_w)
        if tx.end_of_charge_at is not None:
            newest_at, newest = samples[-1]
            if newest >= station.eoc_power_threshold_w and newest_at > tx.end_of_charge_at:
                Transaction.objects.filter(pk=tx.pk, end_of_charge_at=tx.end_of_charge_at).update(
                    end_of_charge_at=None
                )
            continue
        if dropped is not None and now - dropped >= timedelta(minutes=station.eoc_minutes):
            if Transaction.objects.filter(pk=tx.pk, end_of_charge_at__isnull=True).update(end_of_charge_at=now):
                detected.append(tx.pk)
    return detected


def end_of_charge_act_due(*, now: datetime) -> list[int]:
    """Act on every active session whose end of charge is older than its station's delay."""
    acted = []
    due = _active().filter(end_of_charge_at__isnull=False).select_related("station")
    for tx in due:
        if tx.end_of_charge_at + timedelta(minutes=tx.station.eoc_notify_delay_minutes) <= now:  # type: ignore[operator]
            if end_of_charge_act(transaction_id=tx.pk, now=now):
                acted.append(tx.pk)
    return acted


def end_of_charge_act(*, transaction_id: int, now: datetime) -> bool:
    """Tell the driver once per detected end of charge; then stop and unlock if the station says so.

    The notification row (keyed on the session and its ``end_of_charge_at``) is the claim: a run
    that does not create it does nothing more. For a session without a user, the command ledger
    is checked instead. Commands leave after the claim commits, without waiting for the answer
    (their rows in the ledger show the outcome). Returns True when this call acted.
    """
    with transaction.atomic():
        tx = (
            Transaction.objects.select_for_update(of=("self",)).select_related("station", "connector", "user")
            .filter(pk=transaction_id, stopped_at__isnull=True, end_of_charge_at__isnull=False).first()
        )
        if tx is None:
            return False
        key = f"{tx.pk}:{tx.end_of_charge_at.isoformat()}"  # type: ignore[union-attr]
        if tx.user is not None:
            claimed = notification_send(
                user=tx.user, kind=NotificationKind.END_OF_CHARGE, dedup_key=key,
                params=transaction_params(tx), now=now,
            )
            if claimed is None:
                return False
        elif _already_commanded(tx, "RemoteStopTransaction") or _already_commanded(tx, "UnlockConnector"):
            return False
    station = tx.station
    if station.eoc_stop_transaction:
        _command(tx, "RemoteStopTransaction", {"transactionId": tx.pk})
    if station.eoc_unlock_connector:
        _command(tx, "UnlockConnector", {"connectorId": tx.connector.connector_id})
    return True


def _already_commanded(tx: Transaction, action: str) -> bool:
    return Command.objects.filter(
        station=tx.station, action=action, source=SOURCE, created_at__gte=tx.started_at
    ).filter(Q(request__transactionId=tx.pk) | Q(request__connectorId=tx.connector.connector_id)).exists()


def _command(tx: Transaction, action: str, payload: dict[str, Any]) -> None:
    from core.exceptions import DomainError
    from stations.protocol import remote

    try:
        remote.call(tx.station.charge_point_id, action, payload, wait=False, source=SOURCE)
    except DomainError as exc:  # offline, refused: the ledger or the log says so; nothing to retry
        logger.warning("end of charge: %s for session %s failed: %s", action, tx.pk, exc)


# --- Other in-session notices ------------------------------------------------------------------


def threshold_notify(*, now: datetime) -> list[tuple[int, str]]:
    """The state of charge (``CSMS_NOTIFY_SOC_THRESHOLDS``) or the share of the requested energy
    (``CSMS_NOTIFY_ENERGY_SHARE_THRESHOLDS``; the requested energy is the station's maximum
    energy per session) reached: the driver hears of the highest threshold crossed, once.
    Returns (transaction id, dedup key) of what was sent."""
    sent = []
    for tx in _active().filter(user__isnull=False).select_related("station", "connector", "user"):
        checks = []
        if tx.soc is not None:
            checks.append(("soc", tx.soc, settings.CSMS_NOTIFY_SOC_THRESHOLDS, messages.SOC_WHAT))
        requested = tx.station.max_energy_per_session_wh
        if requested:
            share = 100.0 * tx.energy_wh / requested
            checks.append(("energy", share, settings.CSMS_NOTIFY_ENERGY_SHARE_THRESHOLDS, messages.ENERGY_WHAT))
        for name, value, thresholds, what in checks:
            crossed = [t for t in sorted(thresholds) if value >= t]
            if not crossed:
                continue
            highest = crossed[-1]
            key = f"{tx.pk}:{name}:{highest}"
            already = tx.user.notifications.filter(  # type: ignore[union-attr]
                kind=NotificationKind.THRESHOLD_REACHED,
                dedup_key__in=[f"{tx.pk}:{name}:{t}" for t in thresholds if t >= highest],
            ).exists()
            if already:
                continue
            with transaction.atomic():
                params = {**transaction_params(tx), "threshold": highest}
                # ``what`` is a lazy text: notification_send renders it in the recipient's language.
                if notification_send(
                    user=tx.user, kind=NotificationKind.THRESHOLD_REACHED, dedup_key=key,  # type: ignore[arg-type]
                    params={**params, "what": what}, now=now,
                ):
                    sent.append((tx.pk, key))
    return sent


def idle_fee_notify(*, now: datetime) -> list[int]:
    """The car stopped drawing power and the tariff's idle fee now runs: tell the driver once per
    idle period (billing sets ``Transaction.idle_since``; the grace period is the tariff's)."""
    sent = []
    candidates = _active().filter(user__isnull=False, idle_since__isnull=False).select_related(
        "station", "connector", "user", "tariff"
    )
    for tx in candidates:
        fee, grace = _idle_terms(tx)
        if fee <= 0 or tx.idle_since + timedelta(minutes=grace) > now:  # type: ignore[operator]
            continue
        with transaction.atomic():
            if notification_send(
                user=tx.user, kind=NotificationKind.IDLE_FEE_STARTED,  # type: ignore[arg-type]
                dedup_key=f"{tx.pk}:{tx.idle_since.isoformat()}",  # type: ignore[union-attr]
                params={**transaction_params(tx), "fee": f"{fee:.2f}"}, now=now,
            ):
                sent.append(tx.pk)
    return sent


def _idle_terms(tx: Transaction) -> tuple[Decimal, int]:
    """The idle fee per minute and grace minutes: the session's tariff snapshot, else its tariff."""
    snapshot = tx.tariff_snapshot or {}
    fee = snapshot.get("idle_fee_per_minute")
    grace = snapshot.get("idle_grace_minutes")
    if fee is None and tx.tariff is not None:
        fee, grace = tx.tariff.idle_fee_per_minute, tx.tariff.idle_grace_minutes
    try:
        return Decimal(str(fee or 0)), int(grace or 0)
    except (ArithmeticError, ValueError):
        return Decimal(0), 0
