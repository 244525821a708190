"""Reads of stations that are more than one filter."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from stations.models import Connector, OcppMessage, RefusedConnection, Station


def station_get(*, charge_point_id: str) -> Station | None:
    return (
        Station.objects.prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.filter(connector_id__gt=0).order_by("connector_id"))
        )
        .filter(charge_point_id=charge_point_id).first()
    )


def station_list(*, include_dismissed: bool = True) -> QuerySet[Station]:
    """Stations with their numbered connectors prefetched (``compute_status`` needs them)."""
    qs = Station.objects.prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.filter(connector_id__gt=0).order_by("connector_id"))
    )
    if not include_dismissed:
        qs = qs.filter(dismissed=False)
    return qs


def station_messages(*, charge_point_id: str, limit: int = 200) -> QuerySet[OcppMessage]:
    return OcppMessage.objects.filter(charge_point_id=charge_point_id).order_by("-created_at", "-id")[:limit]


def refused_connections(*, charge_point_id: str | None = None) -> QuerySet[RefusedConnection]:
    qs = RefusedConnection.objects.all()
    if charge_point_id:
        qs = qs.filter(charge_point_id=charge_point_id)
    return qs.order_by("-created_at")
