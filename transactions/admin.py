"""Charging sessions for operators: filters, meter values, CSV export."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from dashboard.adminutils import ReadOnlyAdminMixin
from dashboard.exports import transactions_csv
from transactions.models import MeterValue, Transaction


class ActiveFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("charging")), ("no", _("finished"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Transaction]) -> QuerySet[Transaction]:
        if self.value() == "yes":
            return queryset.filter(stopped_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(stopped_at__isnull=False)
        return queryset


class FlaggedFilter(admin.SimpleListFilter):
    title = _("flagged for operators")
    parameter_name = "flagged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("flagged")), ("no", _("not flagged"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Transaction]) -> QuerySet[Transaction]:
        if self.value() == "yes":
            return queryset.exclude(flagged="")
        if self.value() == "no":
            return queryset.filter(flagged="")
        return queryset


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Sessions are written by the charger's messages and billing only: read, filter, export."""

    list_display = ("id", "station", "connector_number", "id_tag", "user", "started_at", "stopped_at",
                    "energy_kwh", "cost", "currency", "is_active", "stop_reason", "flagged")
    list_filter = (ActiveFilter, FlaggedFilter, "stop_reason", "meter_anomaly", "station", "started_at")
    search_fields = ("=id", "id_tag", "user__email", "station__charge_point_id", "station__name")
    list_select_related = ("station", "connector", "user")
    date_hierarchy = "started_at"
    actions = ("export_csv",)
    fieldsets = (
        (None, {"fields": ("id", "station", "connector", "id_tag", "user", "reservation", "meter_values_link")}),
        (_("Times"), {"fields": ("started_at", "stopped_at", "stop_reason", "stop_id_tag", "last_meter_at",
                                 "inferred_stopped_at", "end_of_charge_at", "idle_since")}),
        (_("Energy"), {"fields": ("meter_start", "meter_stop", "energy_wh", "power_w", "soc", "meter_anomaly")}),
        (_("Cost"), {"fields": ("cost", "currency", "tariff", "tariff_snapshot", "cost_items")}),
        (_("Operations"), {"fields": ("flagged", "created_at")}),
    )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing needs "change" in the admin's eyes only for the form; no field is editable.
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff

    @admin.display(description=_("connector"), ordering="connector__connector_id")
    def connector_number(self, obj: Transaction) -> int:
        return obj.connector.connector_id

    @admin.display(description=_("energy (kWh)"), ordering="energy_wh")
    def energy_kwh(self, obj: Transaction) -> str:
        return number_format(obj.energy_wh / 1000, 3)

    @admin.display(description=_("charging"), boolean=True)
    def is_active(self, obj: Transaction) -> bool:
        return obj.active

    @admin.display(description=_("meter values"))
    def meter_values_link(self, obj: Transaction) -> str:
        url = reverse("admin:transactions_metervalue_changelist") + f"?transaction__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("%(n)d samples") % {"n": obj.meter_values.count()})

    @admin.action(description=_("Export the selected transactions as CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Transaction]) -> HttpResponse:
        return transactions_csv(queryset.select_related("station", "connector", "user").order_by("-started_at"))


@admin.register(MeterValue)
class MeterValueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("timestamp", "station", "connector_id", "transaction", "measurand", "phase", "location",
                    "context", "value", "unit", "raw_value", "raw_unit", "suspect")
    list_filter = ("measurand", "context", "location", "phase", "suspect")
    search_fields = ("station__charge_point_id", "=transaction__id")
    list_select_related = ("station", "transaction")
    raw_id_fields = ("transaction",)
    list_per_page = 200
    show_full_result_count = False
