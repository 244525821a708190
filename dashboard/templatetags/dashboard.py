"""Template helpers for the live pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import number_format
from django.utils.html import json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from stations.models import ConnectorStatus, StationStatus

register = template.Library()


def live_label_data() -> dict[str, Any]:
    """Translated labels the browser needs to render pushed events in the operator's language."""
    return {
        "station": {s.value: str(s.label) for s in StationStatus},
        "connector": {s.value: str(s.label) for s in ConnectorStatus},
        "t": {
            "yes": gettext("yes"),
            "no": gettext("no"),
            "live": gettext("live"),
            "disconnected": gettext("disconnected, reconnecting…"),
            "power": gettext("Power (kW)"),
            "energy": gettext("Energy (kWh)"),
            "revenue": gettext("Revenue"),
            "active": gettext("charging"),
            "finished": gettext("finished"),
        },
    }


@register.simple_tag
def live_labels() -> SafeString:
    return json_script(live_label_data(), "csms-labels")


@register.filter
def kwh(value_wh: float | int | None) -> str:
    """Watt-hours as kWh with three places."""
    if value_wh is None:
        return ""
    return number_format(value_wh / 1000, 3)


@register.filter
def kw(value_w: float | int | None) -> str:
    if value_w is None:
        return "–"
    return number_format(value_w / 1000, 1)


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key, key)


@register.simple_tag
def month_name(month: int) -> str:
    from django.utils.dates import MONTHS

    return str(MONTHS[month])


@register.simple_tag
def pending_chargers(limit: int = 20) -> list[Any]:
    """Unknown chargers that connected under ``CSMS_UNKNOWN_CHARGE_POINTS=pending``, newest first."""
    from stations.models import RegistrationStatus, Station

    return list(Station.objects.filter(registration_status=RegistrationStatus.PENDING).order_by("-created_at")[:limit])
