from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import is_admin
from reservations.models import Reservation


def reservation_list(*, user: User, status: str | None = None, charge_point_id: str | None = None) -> QuerySet[Reservation]:
    """The user's reservations (admins: everyone's), newest first."""
    qs = Reservation.objects.select_related("station", "connector")
    if not is_admin(user):
        qs = qs.filter(user=user)
    if status:
        qs = qs.filter(status=status)
    if charge_point_id:
        qs = qs.filter(station__charge_point_id=charge_point_id)
    return qs.order_by("-created_at", "-id")
