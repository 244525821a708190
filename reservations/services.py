"""Reservation services. Interface used by transactions services (filled by the API work):

- ``reservation_use(reservation_id=, transaction=)``: called inside ``transaction_start``'s atomic
  block when a StartTransaction carries a reservationId: marks it used (safe on repeat).
"""

from __future__ import annotations

from django.utils import timezone

from reservations.models import Reservation, ReservationStatus
from transactions.models import Transaction


def reservation_use(*, reservation_id: int, transaction: Transaction) -> None:
    Reservation.objects.filter(pk=reservation_id, status=ReservationStatus.ACTIVE).update(
        status=ReservationStatus.USED, ended_at=timezone.now()
    )
