from __future__ import annotations

from django.contrib import admin

from dashboard.adminutils import ReadOnlyAdminMixin
from reservations.models import Reservation


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Reservations change through ReserveNow/CancelReservation (reservations.services): read-only here."""

    list_display = ("id", "station", "connector", "user", "id_tag", "status", "charger_status", "expires_at",
                    "created_at", "ended_at")
    list_filter = ("status", "charger_status", "station")
    search_fields = ("=id", "id_tag", "user__email", "station__charge_point_id")
    list_select_related = ("station", "connector", "user")
    date_hierarchy = "created_at"
