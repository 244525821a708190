"""The dashboard's one write that is not another app's: saving the station form."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.forms import BaseInlineFormSet

from core.events import DASHBOARD_GROUP, publish_on_commit, station_group
from dashboard.forms import StationForm
from stations.models import Station

FORM_FIELDS = ("name", "price_per_kwh", "currency", "address", "latitude", "longitude", "description", "notes",
               "heartbeat_interval", "dismissed")


@transaction.atomic
def station_form_save(*, form: StationForm, formset: BaseInlineFormSet) -> Station:  # type: ignore[type-arg]
    """Create or update a station and its connectors through ``stations.registry`` and tell open
    pages its (maybe changed) status. Connectors are created or updated, never deleted."""
    from stations.registry import station_create, station_update
    from stations.services import station_event

    data = form.cleaned_data
    fields: dict[str, Any] = {name: data[name] for name in FORM_FIELDS}
    connectors = [
        {k: f.cleaned_data[k] for k in ("connector_id", "connector_type", "max_power_kw")}
        for f in formset.forms
        if f.has_changed() and f.cleaned_data.get("connector_id")
    ]
    password: str | None = "" if data.get("clear_password") else (data.get("password") or None)
    if form.instance.pk:
        station = station_update(station=form.instance, password=password, connectors=connectors, **fields)
    else:
        station = station_create(charge_point_id=data["charge_point_id"], password=password or None,
                                 connectors=connectors, **fields)
    event = station_event(station)
    publish_on_commit(DASHBOARD_GROUP, event)
    publish_on_commit(station_group(station.charge_point_id), event)
    return station
