"""Reservation services: reserve (ReserveNow), cancel (CancelReservation), expire, use.

``reservation_use(reservation_id=, transaction=)`` is called by transactions services inside
``transaction_start``'s atomic block when a StartTransaction carries a reservationId (keep its
signature).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.permissions import is_admin
from accounts.selectors import user_charging_id_tag
from accounts.services import user_ensure_id_tag
from core.events import DASHBOARD_GROUP, publish_on_commit, station_group
from core.exceptions import ChargerOffline, ChargerRejected, Conflict, ConnectorOccupied, DomainError, NotFound
from reservations.models import Reservation, ReservationStatus
from stations.models import Connector, ConnectorStatus, Station
from transactions.models import Transaction

logger = logging.getLogger(__name__)


def _ocpp_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _publish_station(station: Station) -> None:
    from stations.services import station_event

    event = station_event(station)
    publish_on_commit(DASHBOARD_GROUP, event)
    publish_on_commit(station_group(station.charge_point_id), event)


def _connector_usable(connector: Connector, *, now: datetime) -> bool:
    if not connector.is_free:
        return False
    if Reservation.objects.filter(connector=connector, status=ReservationStatus.ACTIVE, expires_at__gt=now).exists():
        return False
    return not Transaction.objects.filter(connector=connector, stopped_at__isnull=True).exists()


def _free_connector(connector_id: int | None) -> None:
    """A reservation ended: a connector shown Reserved for it is Available again, unless another
    active reservation holds it. The charger's next StatusNotification has the last word."""
    if connector_id is None:
        return
    if Reservation.objects.filter(connector_id=connector_id, status=ReservationStatus.ACTIVE).exists():
        return
    Connector.objects.filter(pk=connector_id, status=ConnectorStatus.RESERVED).update(status=ConnectorStatus.AVAILABLE)


def _end(reservation: Reservation, *, status: str, now: datetime, charger_status: str | None = None) -> Reservation:
    with transaction.atomic():
        locked = Reservation.objects.select_for_update().get(pk=reservation.pk)
        if locked.status == ReservationStatus.ACTIVE:
            locked.status = status
            locked.ended_at = now
            fields = ["status", "ended_at"]
            if charger_status is not None:
                locked.charger_status = charger_status[:16]
                fields.append("charger_status")
            locked.save(update_fields=fields)
            _free_connector(locked.connector_id)
            _publish_station(locked.station)
    return locked


def reservation_create(
    *, user: User, charge_point_id: str, connector_id: int = 0, now: datetime | None = None,
) -> Reservation:
    """Reserve a connector (``connector_id`` 0: any) for ``CSMS_RESERVATION_MINUTES`` with ReserveNow.

    The row is created first: its pk is the reservationId the charger gets. When the charger does
    not accept (or cannot be asked) the row ends ``cancelled`` with the charger's answer and the
    error is raised. One active reservation per user (a partial unique index backs the check).
    Raises NotFound, InsufficientBalance (402), Conflict (one already active; no id tag),
    ChargerOffline, ConnectorOccupied, ChargerRejected (409 with ``status``), ChargerTimeout, ChargerCallError.
    """
    from stations.protocol import remote
    from transactions.charging import balance_check, connector_for, station_for_user

    now = now or timezone.now()
    station = station_for_user(user=user, charge_point_id=charge_point_id)
    connector = connector_for(station=station, connector_id=connector_id) if connector_id else None
    balance_check(user=user)
    user_ensure_id_tag(user=user)
    tag = user_charging_id_tag(user=user)
    if tag is None:
        raise Conflict(_("You have no usable id tag."), code="no_id_tag")
    # An active reservation past its expiry that the job has not reached yet does not count.
    for stale in Reservation.objects.filter(user=user, status=ReservationStatus.ACTIVE, expires_at__lte=now):
        _end(stale, status=ReservationStatus.EXPIRED, now=now)
    if Reservation.objects.filter(user=user, status=ReservationStatus.ACTIVE).exists():
        raise Conflict(_("You already have an active reservation."), code="reservation_exists")
    if station.is_offline(now):
        raise ChargerOffline()
    if connector is not None:
        if not _connector_usable(connector, now=now):
            raise ConnectorOccupied(connector_status=connector.status)
    elif not any(_connector_usable(c, now=now) for c in station.connectors.filter(connector_id__gt=0)):
        raise ConnectorOccupied(_("No connector is free."))
    expires_at = now + timedelta(minutes=settings.CSMS_RESERVATION_MINUTES)
    try:
        with transaction.atomic():
            reservation = Reservation.objects.create(
                user=user, id_tag=tag.id_tag, station=station, connector=connector, expires_at=expires_at,
                status=ReservationStatus.ACTIVE, created_at=now,
            )
    except IntegrityError:  # a concurrent request of the same user won
        raise Conflict(_("You already have an active reservation."), code="reservation_exists") from None
    payload = {
        "connectorId": connector.connector_id if connector else 0,
        "expiryDate": _ocpp_time(expires_at),
        "idTag": tag.id_tag,
        "reservationId": reservation.pk,
    }
    try:
        command = remote.call(station.charge_point_id, "ReserveNow", payload, requested_by=user, source="api")
    except DomainError:
        _end(reservation, status=ReservationStatus.CANCELLED, now=now)
        raise
    status = str((command.response or {}).get("status", ""))
    if status != "Accepted":
        _end(reservation, status=ReservationStatus.CANCELLED, now=now, charger_status=status)
        raise ChargerRejected(_("The charger answered %(status)s.") % {"status": status or "nothing"},
                              status=status, command=command.pk)
    with transaction.atomic():
        Reservation.objects.filter(pk=reservation.pk).update(charger_status=status)
        reservation.charger_status = status
        if connector is not None:
            # Shown at once; the charger's StatusNotification (Reserved) confirms it.
            Connector.objects.filter(pk=connector.pk, status=ConnectorStatus.AVAILABLE).update(
                status=ConnectorStatus.RESERVED)
        _publish_station(station)
    return reservation


def reservation_for_user(*, user: User, reservation_id: int) -> Reservation:
    qs = Reservation.objects.select_related("station", "connector")
    if not is_admin(user):
        qs = qs.filter(user=user)
    reservation = qs.filter(pk=reservation_id).first()
    if reservation is None:
        raise NotFound(_("Unknown reservation."))
    return reservation


def reservation_cancel(*, user: User, reservation_id: int, now: datetime | None = None) -> Reservation:
    """Cancel the owner's (admins: any) active reservation: CancelReservation to the charger when
    it is connected, then the row ends ``cancelled`` and the connector is freed. A charger that is
    offline (no message for three heartbeat intervals), silent or refuses does not keep the driver's reservation alive (its own expiry ends it
    on the charger). Raises NotFound, Conflict (not active)."""
    from stations.protocol import remote

    now = now or timezone.now()
    reservation = reservation_for_user(user=user, reservation_id=reservation_id)
    if reservation.status != ReservationStatus.ACTIVE:
        raise Conflict(_("This reservation is not active."), code="reservation_not_active")
    answer: str | None = None
    if not reservation.station.is_offline(now):
        try:
            command = remote.call(reservation.station.charge_point_id, "CancelReservation",
                                  {"reservationId": reservation.pk}, requested_by=user, source="api")
            answer = str((command.response or {}).get("status", ""))
        except DomainError as exc:
            logger.info("CancelReservation %s not confirmed by the charger: %s", reservation.pk, exc)
    return _end(reservation, status=ReservationStatus.CANCELLED, now=now, charger_status=answer)


def reservation_expire_due(*, now: datetime) -> int:
    """Expire active reservations past ``expires_at`` and free their connectors; tell connected
    chargers with CancelReservation (not waiting: the charger expires it itself anyway).
    Safe to run twice and in parallel (rows locked, skipped when another run holds them).
    Returns how many expired."""
    from stations.protocol import remote

    to_cancel: list[tuple[str, int]] = []
    with transaction.atomic():
        due = list(
            Reservation.objects.select_for_update(skip_locked=True)
            .filter(status=ReservationStatus.ACTIVE, expires_at__lte=now)
        )
        stations = {s.pk: s for s in Station.objects.filter(pk__in={r.station_id for r in due})}
        for reservation in due:
            reservation.status = ReservationStatus.EXPIRED
            reservation.ended_at = now
            reservation.save(update_fields=["status", "ended_at"])
        for reservation in due:
            _free_connector(reservation.connector_id)
            station = stations[reservation.station_id]
            if not station.is_offline(now):
                to_cancel.append((station.charge_point_id, reservation.pk))
        for station in stations.values():
            _publish_station(station)
    for charge_point_id, reservation_id in to_cancel:
        try:
            remote.call(charge_point_id, "CancelReservation", {"reservationId": reservation_id}, wait=False,
                        source="task")
        except (ChargerOffline, DomainError) as exc:
            logger.info("CancelReservation %s for an expired reservation not sent: %s", reservation_id, exc)
    return len(due)


def reservation_use(*, reservation_id: int, transaction: Transaction) -> None:
    """The charger started a session on a reservation: mark it used (safe on repeat; a reservation
    no longer active stays as it is)."""
    Reservation.objects.filter(pk=reservation_id, status=ReservationStatus.ACTIVE).update(
        status=ReservationStatus.USED, ended_at=timezone.now()
    )
