"""Operators' doors to remote control (staff only): the command buttons of the station page and a
form that sends any CSMS-initiated call with a JSON payload. Both call the one remote-call
function (through the services of ``remote_services`` where there is one) and show the answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.exceptions import DomainError
from stations import remote_services
from stations.models import Command, FirmwareFile, Station
from stations.protocol.remote import CSMS_ACTIONS, call


@dataclass(frozen=True)
class Button:
    label: Any
    send: Callable[[Station, Any, HttpRequest], Command | None]
    danger: bool = False


def _plain(action: str, payload: dict[str, Any]) -> Callable[[Station, Any, HttpRequest], Command]:
    def send(station: Station, user: Any, request: HttpRequest) -> Command:
        return call(station.charge_point_id, action, payload, requested_by=user, source="admin")
    return send


def _unlock(station: Station, user: Any, request: HttpRequest) -> Command:
    connector_id = int(request.POST.get("connector_id") or 1)
    return call(station.charge_point_id, "UnlockConnector", {"connectorId": connector_id},
                requested_by=user, source="admin")


BUTTONS: dict[str, Button] = {
    "get-configuration": Button(_("Read configuration"), _plain("GetConfiguration", {})),
    "trigger-status": Button(_("Ask for statuses"), _plain("TriggerMessage", {"requestedMessage": "StatusNotification"})),
    "composite-schedule": Button(_("Composite schedule"), _plain(
        "GetCompositeSchedule", {"connectorId": 0, "duration": 86400, "chargingRateUnit": "W"})),
    "local-list-version": Button(_("Local list version"), _plain("GetLocalListVersion", {})),
    "push-local-list": Button(_("Push local list"), lambda s, u, r: remote_services.local_list_push(
        charge_point_id=s.charge_point_id, full=True, requested_by=u, source="admin")),
    "power-limit": Button(_("Send power limit"), lambda s, u, r: remote_services.power_limit_send(
        charge_point_id=s.charge_point_id, requested_by=u, source="admin")),
    "diagnostics": Button(_("Get diagnostics"), lambda s, u, r: remote_services.diagnostics_request(
        charge_point_id=s.charge_point_id, requested_by=u, source="admin")),
    "clear-cache": Button(_("Clear cache"), _plain("ClearCache", {})),
    "unlock": Button(_("Unlock connector"), _unlock, danger=True),
    "operative": Button(_("Make available"), _plain("ChangeAvailability", {"connectorId": 0, "type": "Operative"})),
    "inoperative": Button(_("Make unavailable"), _plain("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}), danger=True),
    "soft-reset": Button(_("Soft reset"), _plain("Reset", {"type": "Soft"}), danger=True),
    "hard-reset": Button(_("Hard reset"), _plain("Reset", {"type": "Hard"}), danger=True),
}


def _next_url(request: HttpRequest, station: Station) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("admin:stations_station_change", args=[station.pk])


def _describe(command: Command | None) -> str:
    if command is None:
        return str(_("Nothing to send."))
    return f"{command.action}: {json.dumps(command.response, sort_keys=True)}"


def _error_text(exc: DomainError) -> str:
    details = exc.extra.get("errors") or exc.extra.get("error")
    return f"{exc.message} {json.dumps(details)}" if details else str(exc.message)


@staff_member_required
@require_POST
def station_command_button(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    station = get_object_or_404(Station, pk=pk)
    button = BUTTONS.get(name)
    if button is None:
        messages.error(request, _("Unknown command button."))
        return HttpResponseRedirect(_next_url(request, station))
    try:
        command = button.send(station, request.user, request)
    except DomainError as exc:
        messages.error(request, f"{button.label}: {_error_text(exc)}")
    else:
        messages.success(request, f"{button.label} → {_describe(command)}")
    return HttpResponseRedirect(_next_url(request, station))


@staff_member_required
@require_POST
def station_power_limit(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep the operator's power limit on the station and send it now when connected."""
    station = get_object_or_404(Station, pk=pk)
    raw = (request.POST.get("power_limit_w") or "").strip()
    try:
        limit = int(raw) if raw else None
    except ValueError:
        messages.error(request, _("The power limit must be a whole number of watts."))
        return HttpResponseRedirect(_next_url(request, station))
    try:
        command = remote_services.power_limit_set(
            charge_point_id=station.charge_point_id, power_limit_w=limit, requested_by=request.user)
    except DomainError as exc:
        messages.error(request, f"{_('Power limit')}: {_error_text(exc)}")
    else:
        kept = _("Power limit kept: %(limit)s.") % {"limit": f"{limit} W" if limit else _("none")}
        messages.success(request, f"{kept} {_describe(command) if command else _('Sent when the charger connects.')}")
    return HttpResponseRedirect(_next_url(request, station))


class CommandForm(forms.Form):
    action = forms.ChoiceField(label=_("action"), choices=[(a, a) for a in CSMS_ACTIONS])
    payload = forms.CharField(
        label=_("payload (JSON)"), widget=forms.Textarea(attrs={"rows": 10, "cols": 80, "class": "vLargeTextField"}),
        initial="{}", required=False,
        help_text=_("The OCPP 1.6 request payload, camelCase. GetDiagnostics without a location uploads to "
                    "this CSMS; UpdateFirmware without a location uses the firmware file chosen below."),
    )
    firmware = forms.ModelChoiceField(label=_("firmware file"), queryset=FirmwareFile.objects.order_by("-created_at"),
                                      required=False)
    wait = forms.BooleanField(label=_("wait for the answer"), initial=True, required=False)

    def clean_payload(self) -> dict[str, Any]:
        text = self.cleaned_data.get("payload") or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The payload must be a JSON object."))
        return value


def _fill_locations(station: Station, action: str, payload: dict[str, Any], firmware: FirmwareFile | None) -> dict[str, Any]:
    from stations.files import diagnostics_upload_url, firmware_download_url

    if action == "GetDiagnostics" and not payload.get("location"):
        payload = {**payload, "location": diagnostics_upload_url(station=station)}
    if action == "UpdateFirmware" and not payload.get("location") and firmware is not None:
        from django.utils import timezone

        payload = {"retrieveDate": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"), **payload,
                   "location": firmware_download_url(firmware=firmware)}
    return payload


@staff_member_required
def station_command_form(request: HttpRequest, pk: int) -> HttpResponse:
    station = get_object_or_404(Station, pk=pk)
    result: dict[str, Any] | None = None
    if request.method == "POST":
        form = CommandForm(request.POST)
        if form.is_valid():
            action = form.cleaned_data["action"]
            payload = _fill_locations(station, action, form.cleaned_data["payload"], form.cleaned_data["firmware"])
            try:
                command = call(station.charge_point_id, action, payload, wait=form.cleaned_data["wait"],
                               requested_by=request.user, source="admin")
            except DomainError as exc:
                result = {"ok": False, "text": _error_text(exc), "command": exc.extra.get("command")}
                if "errors" in exc.extra:
                    for field, problems in exc.extra["errors"].items():
                        form.add_error("payload", f"{field}: {', '.join(problems)}")
            else:
                result = {"ok": True, "command": command.pk, "state": command.get_state_display(),
                          "text": json.dumps(command.response, indent=2, sort_keys=True)}
    else:
        form = CommandForm(initial={"action": request.GET.get("action", "GetConfiguration")})
    return render(request, "stations/command_form.html", {
        "title": _("Send a command to %(station)s") % {"station": station},
        "station": station, "form": form, "result": result,
        "recent_commands": Command.objects.filter(station=station).select_related("requested_by")[:15],
        "has_permission": True, "site_header": _("CSMS administration"),
    })


urlpatterns = [
    path("<int:pk>/commands/", station_command_form, name="station-command-form"),
    path("<int:pk>/commands/<slug:name>/", station_command_button, name="station-command-button"),
    path("<int:pk>/power-limit/", station_power_limit, name="station-power-limit"),
]
