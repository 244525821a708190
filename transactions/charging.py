"""Drivers' remote start and stop: the checks, then one call to the charger.

The checks run before anything is sent (402, 404, 409); the charger's own answer decides the
rest: ``Accepted`` → the status; anything else → ChargerRejected (409) carrying it; and
``stations.protocol.remote.call`` raises ChargerOffline (409), ChargerTimeout (504) and
ChargerCallError (502). No database transaction is held open while the charger is asked.
The transaction itself appears when the charger sends StartTransaction (transactions.services).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.permissions import is_admin
from accounts.selectors import user_charging_id_tag
from accounts.services import user_ensure_id_tag
from core.exceptions import ChargerOffline, ChargerRejected, Conflict, ConnectorOccupied, InsufficientBalance, NotFound
from reservations.models import Reservation, ReservationStatus
from stations.models import Connector, ConnectorStatus, Station
from stations.registry import station_visible_q
from transactions.models import Transaction


@dataclass(frozen=True)
class RemoteResult:
    status: str
    command_id: int


def _remote_call(charge_point_id: str, action: str, payload: dict[str, object], *, user: User) -> RemoteResult:
    from stations.protocol import remote

    command = remote.call(charge_point_id, action, payload, requested_by=user, source="api")
    status = str((command.response or {}).get("status", ""))
    if status != "Accepted":
        raise ChargerRejected(
            _("The charger answered %(status)s.") % {"status": status or "nothing"},
            status=status, command=command.pk,
        )
    return RemoteResult(status=status, command_id=command.pk)


def min_balance() -> Decimal:
    return Decimal(settings.CSMS_MIN_BALANCE_TO_CHARGE)


def balance_check(*, user: User) -> None:
    """Drivers need at least CSMS_MIN_BALANCE_TO_CHARGE (default 0.01); admins charge for tests."""
    if not is_admin(user) and user.balance < min_balance():
        raise InsufficientBalance(balance=f"{user.balance:.2f}", currency=user.currency)


def station_for_user(*, user: User, charge_point_id: str) -> Station:
    station = Station.objects.filter(station_visible_q(admin=is_admin(user)), charge_point_id=charge_point_id).first()
    if station is None:
        raise NotFound(_("Unknown station."))
    return station


def connector_for(*, station: Station, connector_id: int) -> Connector:
    connector = Connector.objects.filter(station=station, connector_id=connector_id).first()
    if connector is None or connector_id < 1:
        raise NotFound(_("Unknown connector %(n)s.") % {"n": connector_id})
    return connector


def charging_start(*, user: User, charge_point_id: str, connector_id: int, now: datetime | None = None) -> RemoteResult:
    """RemoteStartTransaction on a connector with the user's id tag.

    A connector the user reserved counts as free for them (and the reservation's id tag is used,
    so the charger matches it); one reserved by someone else does not.
    Raises NotFound, InsufficientBalance, Conflict (no usable id tag), ChargerOffline,
    ConnectorOccupied, ChargerRejected, ChargerTimeout, ChargerCallError.
    """
    now = now or timezone.now()
    station = station_for_user(user=user, charge_point_id=charge_point_id)
    connector = connector_for(station=station, connector_id=connector_id)
    balance_check(user=user)
    own = (
        Reservation.objects.filter(user=user, station=station, status=ReservationStatus.ACTIVE, expires_at__gt=now)
        .filter(connector=connector).first()
        or Reservation.objects.filter(user=user, station=station, status=ReservationStatus.ACTIVE,
                                      expires_at__gt=now, connector__isnull=True).first()
    )
    tag = own.id_tag if own else None
    if tag is None:
        user_ensure_id_tag(user=user)
        id_tag = user_charging_id_tag(user=user)
        if id_tag is None:
            raise Conflict(_("You have no usable id tag."), code="no_id_tag")
        tag = id_tag.id_tag
    if station.is_offline(now):
        raise ChargerOffline()
    reserved_by_other = Reservation.objects.filter(
        connector=connector, status=ReservationStatus.ACTIVE, expires_at__gt=now
    ).exclude(user=user).exists()
    busy = Transaction.objects.filter(connector=connector, stopped_at__isnull=True).exists()
    free_for_user = connector.is_free or (connector.status == ConnectorStatus.RESERVED and own is not None)
    if reserved_by_other or busy or not free_for_user:
        raise ConnectorOccupied(connector_status=connector.status)
    return _remote_call(station.charge_point_id, "RemoteStartTransaction",
                        {"connectorId": connector.connector_id, "idTag": tag}, user=user)


def transaction_for_user(*, user: User, transaction_id: int) -> Transaction:
    """Owner or admin; anyone else gets NotFound (someone else's session is not shown to exist)."""
    qs = Transaction.objects.select_related("station", "connector")
    if not is_admin(user):
        qs = qs.filter(user=user)
    tx = qs.filter(pk=transaction_id).first()
    if tx is None:
        raise NotFound(_("Unknown transaction."))
    return tx


def charging_stop(*, user: User, transaction_id: int) -> RemoteResult:
    """RemoteStopTransaction for the owner's (or, for admins, any) active session.

    The session ends when the charger sends StopTransaction. Raises NotFound, Conflict (already
    stopped), ChargerOffline, ChargerRejected, ChargerTimeout, ChargerCallError.
    """
    tx = transaction_for_user(user=user, transaction_id=transaction_id)
    if tx.stopped_at is not None:
        raise Conflict(_("This session has already ended."), code="transaction_stopped")
    if tx.station.is_offline():
        raise ChargerOffline()
    return _remote_call(tx.station.charge_point_id, "RemoteStopTransaction", {"transactionId": tx.pk}, user=user)
