"""Operators' writes on stations through the API: create, update, dismiss, connectors."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.exceptions import field_error
from stations.models import Connector, Station

STATION_FIELDS = {
    "name", "description", "notes", "address", "latitude", "longitude", "time_zone", "price_per_kwh",
    "currency", "heartbeat_interval", "dismissed", "registration_status", "max_energy_per_session_wh",
}
CONNECTOR_FIELDS = {"connector_type", "max_power_kw"}


def _apply_connectors(station: Station, connectors: list[dict[str, Any]]) -> None:
    """Create or update numbered connectors (never delete: history points at them)."""
    for item in connectors:
        number = item["connector_id"]
        defaults = {k: v for k, v in item.items() if k in CONNECTOR_FIELDS}
        connector, created = Connector.objects.get_or_create(station=station, connector_id=number, defaults=defaults)
        if not created and defaults:
            for name, value in defaults.items():
                setattr(connector, name, value)
            connector.save(update_fields=list(defaults))


@transaction.atomic
def station_create(
    *, charge_point_id: str, password: str | None = None, connectors: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Station:
    """A station an operator registers before the charger connects. Raises InvalidInput naming
    ``charge_point_id`` when it is taken."""
    unknown = set(fields) - STATION_FIELDS
    if unknown:
        raise ValueError(f"unknown station fields {sorted(unknown)}")
    station = Station(charge_point_id=charge_point_id, **fields)
    if password:
        station.set_password(password)
    try:
        with transaction.atomic():
            station.save()
    except IntegrityError:
        raise field_error("charge_point_id", _("A station with this charge point id already exists.")) from None
    _apply_connectors(station, connectors or [])
    return station


@transaction.atomic
def station_update(
    *, station: Station, password: str | None = None, connectors: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Station:
    """Change a station. ``password=""`` removes the Basic-auth password; ``None`` keeps it."""
    unknown = set(fields) - STATION_FIELDS
    if unknown:
        raise ValueError(f"unknown station fields {sorted(unknown)}")
    station = Station.objects.select_for_update().get(pk=station.pk)
    changed = list(fields)
    for name, value in fields.items():
        setattr(station, name, value)
    if password is not None:
        station.set_password(password)
        changed.append("password_hash")
    if changed:
        station.save(update_fields=changed)
    if connectors:
        _apply_connectors(station, connectors)
    return station


def station_dismiss(*, station: Station) -> Station:
    """Hide a station from users (kept with its history)."""
    return station_update(station=station, dismissed=True)


# --- Reads for the API ------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088


def station_visible_q(*, admin: bool) -> Any:
    """Users see accepted stations that have talked to us and are not dismissed; admins see all."""
    from django.db.models import Q

    from stations.models import RegistrationStatus

    if admin:
        return Q()
    return (
        Q(dismissed=False, registration_status=RegistrationStatus.ACCEPTED)
        & (Q(last_boot_at__isnull=False) | Q(last_heartbeat__isnull=False))
    )


def station_api_list(
    *, admin: bool, bbox: tuple[float, float, float, float] | None = None,
    near: tuple[float, float] | None = None, radius_km: float | None = None,
) -> Any:
    """Stations for the API with everything the serializer reads prefetched, in a fixed number of
    queries whatever the page size: numbered connectors, the last transaction and the last
    reservation (sliced prefetches, one window query each).

    ``bbox`` is (min_lon, min_lat, max_lon, max_lat); ``near`` (lat, lon) adds ``distance_km``
    (haversine, in SQL) and orders by it, ``radius_km`` keeps the stations within it.
    """
    from django.db.models import F, FloatField, Prefetch
    from django.db.models.functions import ASin, Cast, Cos, Power, Radians, Sin, Sqrt

    from reservations.models import Reservation
    from transactions.models import Transaction

    qs = Station.objects.filter(station_visible_q(admin=admin)).prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.filter(connector_id__gt=0).order_by("connector_id"),
                 to_attr="listed_connectors"),
        Prefetch("transactions", queryset=Transaction.objects.select_related("connector")
                 .order_by("-started_at", "-id")[:1], to_attr="last_transactions"),
        Prefetch("reservations", queryset=Reservation.objects.select_related("connector")
                 .order_by("-created_at", "-id")[:1], to_attr="last_reservations"),
    )
    if bbox is not None:
        min_lon, min_lat, max_lon, max_lat = bbox
        qs = qs.filter(latitude__gte=min_lat, latitude__lte=max_lat)
        if min_lon <= max_lon:
            qs = qs.filter(longitude__gte=min_lon, longitude__lte=max_lon)
        else:  # the box crosses the antimeridian
            from django.db.models import Q

            qs = qs.filter(Q(longitude__gte=min_lon) | Q(longitude__lte=max_lon))
    if near is not None:
        lat, lon = near
        import math

        rlat, rlon = math.radians(lat), math.radians(lon)
        slat = Radians(Cast(F("latitude"), FloatField()))
        slon = Radians(Cast(F("longitude"), FloatField()))
        a = Power(Sin((slat - rlat) / 2), 2) + math.cos(rlat) * Cos(slat) * Power(Sin((slon - rlon) / 2), 2)
        qs = qs.filter(latitude__isnull=False, longitude__isnull=False).annotate(
            distance_km=2 * EARTH_RADIUS_KM * ASin(Sqrt(a))
        )
        if radius_km is not None:
            qs = qs.filter(distance_km__lte=radius_km)
        return qs.order_by("distance_km", "charge_point_id")
    return qs.order_by("charge_point_id")
