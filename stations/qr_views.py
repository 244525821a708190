"""A printable sheet of the connectors' QR codes for operators (linked from the admin)."""

from __future__ import annotations

import segno
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import mark_safe

from stations.models import Connector, Station
from stations.qr import connector_start_link


@staff_member_required
def qr_sheet(request: HttpRequest, charge_point_id: str | None = None) -> HttpResponse:
    """One label per connector (of one station, or of every station not dismissed)."""
    connectors = Connector.objects.select_related("station").filter(connector_id__gt=0)
    if charge_point_id is not None:
        connectors = connectors.filter(station=get_object_or_404(Station, charge_point_id=charge_point_id))
    else:
        connectors = connectors.filter(station__dismissed=False)
    labels = []
    for connector in connectors.order_by("station__charge_point_id", "connector_id"):
        link = connector_start_link(charge_point_id=connector.station.charge_point_id,
                                    connector_id=connector.connector_id)
        svg = segno.make(link, error="m").svg_inline(scale=6, border=2)
        labels.append({"connector": connector, "station": connector.station, "link": link, "svg": mark_safe(svg)})
    return render(request, "stations/qr_sheet.html", {"labels": labels, "charge_point_id": charge_point_id})


def charge_landing(request: HttpRequest, charge_point_id: str, connector_id: int) -> HttpResponse:
    """What a QR code's link shows in a browser without the app: the connector, its status, and the
    link again for the app (phones with the app installed open the app instead)."""
    from stations.registry import station_visible_q

    station = get_object_or_404(Station.objects.filter(station_visible_q(admin=False)), charge_point_id=charge_point_id)
    connector = get_object_or_404(Connector, station=station, connector_id=connector_id, connector_id__gt=0)
    link = connector_start_link(charge_point_id=charge_point_id, connector_id=connector_id)
    return render(request, "stations/charge_landing.html", {
        "station": station, "connector": connector, "link": link,
        "station_status": station.compute_status(list(station.connectors.filter(connector_id__gt=0))),
    })
