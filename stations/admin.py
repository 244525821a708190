"""The operator's daily tool for stations: status, connectors, configuration, logs, commands."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.exceptions import DomainError
from dashboard.adminutils import ReadOnlyAdminMixin, ReadOnlyInline, short_json
from stations.models import (
    ChargingProfile,
    Command,
    CompositeSchedule,
    ConfigurationKey,
    Connector,
    DiagnosticsFile,
    FirmwareFile,
    OcppMessage,
    RefusedConnection,
    RegistrationStatus,
    Station,
)

STATUS_COLOURS = {
    "available": "#1a7f37",
    "reserved": "#d97706",
    "occupied": "#c62828",
}


def status_badge(status: str, label: str) -> str:
    colour = STATUS_COLOURS.get(status, "#222")
    return format_html(
        '<span class="csms-status csms-status-{}" style="color:#fff;background:{};padding:1px 6px;'
        'border-radius:8px">{}</span>',
        status, colour, label,
    )


def accept_station(*, station: Station, request: HttpRequest) -> None:
    """Accept a pending charger through the stations service (never a raw save here)."""
    from stations.services import station_registration_set

    station_registration_set(station_id=station.pk, status=RegistrationStatus.ACCEPTED)


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0
    fields = ("connector_id", "status", "error_code", "info", "status_at", "availability",
              "connector_type", "max_power_kw")
    readonly_fields = ("status", "error_code", "info", "status_at", "availability")


class ConfigurationKeyInline(ReadOnlyInline):
    model = ConfigurationKey
    fields = ("key", "value", "readonly", "updated_at")
    readonly_fields = fields
    show_change_link = False
    verbose_name = _("configuration key")
    verbose_name_plural = _("configuration (last GetConfiguration)")


class PendingFilter(admin.SimpleListFilter):
    title = _("unknown chargers")
    parameter_name = "pending"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Pending acceptance"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Station]) -> QuerySet[Station]:
        if self.value() == "yes":
            return queryset.filter(registration_status=RegistrationStatus.PENDING)
        return queryset


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ("charge_point_id", "name", "live_status", "connected", "registration_status",
                    "vendor", "model", "firmware_version", "last_heartbeat", "price_per_kwh", "dismissed")
    list_display_links = ("charge_point_id", "name")
    list_filter = (PendingFilter, "registration_status", "connected", "dismissed", "vendor", "ocpp_version")
    search_fields = ("charge_point_id", "name", "address", "vendor", "model", "serial_number", "notes")
    inlines = (ConnectorInline, ConfigurationKeyInline)
    actions = ("accept_selected",)
    readonly_fields = (
        "live_status", "registration_status", "vendor", "model", "serial_number", "firmware_version",
        "iccid", "imsi", "meter_type", "meter_serial_number", "ocpp_version", "charger_status",
        "charger_error_code", "connected", "connected_at", "disconnected_at", "remote_address",
        "last_boot_at", "last_heartbeat", "local_list_version", "firmware_status",
        "diagnostics_status", "faulted_since", "created_at",
    )
    fieldsets = (
        (None, {"fields": ("charge_point_id", "name", "live_status", "registration_status", "dismissed")}),
        (_("Location and description"), {"fields": ("address", ("latitude", "longitude"), "time_zone",
                                                    "description", "notes")}),
        (_("Price and limits"), {"fields": ("price_per_kwh", "currency", "tariff",
                                            "max_energy_per_session_wh", "power_limit_w")}),
        (_("Connection"), {"fields": ("connected", "connected_at", "disconnected_at", "remote_address",
                                      "last_boot_at", "last_heartbeat", "heartbeat_interval",
                                      "charger_status", "charger_error_code", "faulted_since")}),
        (_("Charger"), {"classes": ("collapse",), "fields": (
            "vendor", "model", "serial_number", "firmware_version", "ocpp_version", "iccid", "imsi",
            "meter_type", "meter_serial_number", "local_list_version", "firmware_status",
            "diagnostics_status", "created_at")}),
        (_("End of charge"), {"classes": ("collapse",), "fields": (
            "eoc_power_threshold_w", "eoc_minutes", "eoc_notify_delay_minutes",
            "eoc_stop_transaction", "eoc_unlock_connector")}),
    )
    change_form_template = "admin/stations/station/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Station]:
        return super().get_queryset(request).prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
        )

    @admin.display(description=_("status"))
    def live_status(self, obj: Station) -> str:
        status = obj.compute_status(list(obj.connectors.all()))
        from stations.models import StationStatus

        return status_badge(status, str(StationStatus(status).label))

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/accept/", self.admin_site.admin_view(require_POST(self.accept_view)),
                 name="stations_station_accept"),
        ] + super().get_urls()

    def accept_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        station = get_object_or_404(Station, pk=pk)
        try:
            accept_station(station=station, request=request)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, _("%(id)s accepted: its next BootNotification is answered Accepted.")
                              % {"id": station.charge_point_id}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:stations_station_change", args=[pk]))

    @admin.action(description=_("Accept the selected pending chargers"))
    def accept_selected(self, request: HttpRequest, queryset: QuerySet[Station]) -> None:
        accepted = 0
        for station in queryset.filter(registration_status=RegistrationStatus.PENDING):
            accept_station(station=station, request=request)
            accepted += 1
        self.message_user(request, _("%(n)d charger(s) accepted.") % {"n": accepted}, messages.SUCCESS)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = dict(extra_context or {})
        station = self.get_object(request, object_id)
        if station is not None:
            extra_context.update(station_admin_context(station))
        return super().change_view(request, object_id, form_url, extra_context)


def station_admin_context(station: Station) -> dict[str, Any]:
    """What the station's admin page shows below the form: logs, refusals, commands."""
    from stations.models import StationStatus

    status = station.compute_status(list(station.connectors.all()))
    return {
        "station": station,
        "station_status_label": StationStatus(status).label,
        "is_pending": station.registration_status == RegistrationStatus.PENDING,
        "last_messages": list(OcppMessage.objects.filter(station=station).order_by("-created_at", "-id")[:20]),
        "refused_attempts": list(
            RefusedConnection.objects.filter(charge_point_id=station.charge_point_id)[:10]
        ),
        "recent_commands": list(Command.objects.filter(station=station).select_related("requested_by")[:10]),
    }


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ("__str__", "station", "connector_id", "status", "error_code", "status_at",
                    "availability", "connector_type", "max_power_kw")
    list_filter = ("status", "error_code", "availability", "connector_type")
    search_fields = ("station__charge_point_id", "station__name")
    list_select_related = ("station",)
    readonly_fields = ("status", "error_code", "info", "vendor_id", "vendor_error_code", "status_at",
                       "availability")
    autocomplete_fields = ("station",)


@admin.register(OcppMessage)
class OcppMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "charge_point_id", "direction", "message_type", "action", "unique_id",
                    "payload_short")
    list_filter = ("direction", "message_type", "action", "created_at")
    search_fields = ("charge_point_id", "unique_id", "action")
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description=_("payload"))
    def payload_short(self, obj: OcppMessage) -> str:
        return short_json(obj.payload)


@admin.register(RefusedConnection)
class RefusedConnectionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "charge_point_id", "remote_address", "reason")
    list_filter = ("reason", "created_at")
    search_fields = ("charge_point_id", "remote_address", "reason")
    date_hierarchy = "created_at"


@admin.register(Command)
class CommandAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "station", "action", "state", "source", "requested_by",
                    "request_short", "response_short", "answered_at")
    list_filter = ("state", "action", "source", "created_at")
    search_fields = ("station__charge_point_id", "action", "unique_id", "requested_by__email")
    list_select_related = ("station", "requested_by")
    date_hierarchy = "created_at"

    @admin.display(description=_("request"))
    def request_short(self, obj: Command) -> str:
        return short_json(obj.request, 60)

    @admin.display(description=_("response"))
    def response_short(self, obj: Command) -> str:
        return short_json(obj.response if obj.response is not None else obj.error, 60)


@admin.register(ConfigurationKey)
class ConfigurationKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("station", "key", "value", "readonly", "updated_at")
    list_filter = ("readonly", "key")
    search_fields = ("station__charge_point_id", "key", "value")
    list_select_related = ("station",)


@admin.register(ChargingProfile)
class ChargingProfileAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("station", "connector_id", "profile_id", "purpose", "stack_level", "status",
                    "is_power_limit", "created_at", "cleared_at")
    list_filter = ("purpose", "status", "is_power_limit")
    search_fields = ("station__charge_point_id",)
    list_select_related = ("station",)


@admin.register(CompositeSchedule)
class CompositeScheduleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("station", "connector_id", "status", "fetched_at")
    list_filter = ("status",)
    search_fields = ("station__charge_point_id",)
    list_select_related = ("station",)


@admin.register(FirmwareFile)
class FirmwareFileAdmin(admin.ModelAdmin):
    list_display = ("name", "file", "sha256", "uploaded_by", "created_at")
    search_fields = ("name", "sha256")
    readonly_fields = ("sha256", "uploaded_by", "created_at")

    def save_model(self, request: HttpRequest, obj: FirmwareFile, form: Any, change: bool) -> None:
        if not change:
            obj.uploaded_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(DiagnosticsFile)
class DiagnosticsFileAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("station", "file", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("station__charge_point_id",)
    list_select_related = ("station",)
