"""Reads for the dashboard pages: few queries per page, whatever the number of stations."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from stations.models import Connector, Station
from transactions.models import MeterValue, Transaction

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"


@dataclass
class ConnectorTile:
    station: Station
    connector: Connector
    transaction: Transaction | None


@dataclass
class StationRow:
    station: Station
    status: str
    connectors: list[Connector]
    tiles: list[ConnectorTile] = field(default_factory=list)


def station_overview(*, now: dt.datetime | None = None) -> list[StationRow]:
    """Every station with its computed status, connectors and the active session per connector."""
    stations = list(
        Station.objects.prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.filter(connector_id__gt=0).order_by("connector_id"))
        ).order_by("charge_point_id")
    )
    active: dict[int, Transaction] = {}
    for tx in Transaction.objects.filter(stopped_at__isnull=True).order_by("started_at"):
        active[tx.connector_id] = tx  # the latest open session wins
    rows = []
    for station in stations:
        connectors = list(station.connectors.all())
        row = StationRow(station=station, status=station.compute_status(connectors, now), connectors=connectors)
        row.tiles = [ConnectorTile(station, c, active.get(c.pk)) for c in connectors]
        rows.append(row)
    return rows


def station_active_transaction(*, station: Station) -> Transaction | None:
    return (
        Transaction.objects.filter(station=station, stopped_at__isnull=True)
        .select_related("connector", "user").order_by("-started_at").first()
    )


def transaction_curve(*, transaction: Transaction) -> list[dict[str, Any]]:
    """The session's charging curve, oldest first: ``{t, energy_wh, power_w, soc}`` per sample time.

    Energy is the session's (register minus meter start); power is the total when the charger
    sends one, else the sum of its phases. Samples flagged suspect are left out.
    """
    values = (
        MeterValue.objects.filter(transaction=transaction, suspect=False, measurand__in=[ENERGY, POWER, SOC])
        .order_by("timestamp", "id")
        .values_list("timestamp", "measurand", "phase", "value")
    )
    points: dict[dt.datetime, dict[str, Any]] = {}
    phase_power: dict[dt.datetime, float] = defaultdict(float)
    for timestamp, measurand, phase, value in values:
        point = points.setdefault(timestamp, {"t": timestamp.isoformat(), "energy_wh": None, "power_w": None, "soc": None})
        if measurand == ENERGY and not phase:
            point["energy_wh"] = max(0.0, value - transaction.meter_start)
        elif measurand == POWER:
            if not phase:
                point["power_w"] = value
            elif phase in ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N"):
                phase_power[timestamp] += value
        elif measurand == SOC:
            point["soc"] = value
    for timestamp, total in phase_power.items():
        if points[timestamp]["power_w"] is None:
            points[timestamp]["power_w"] = total
    return list(points.values())


def transaction_search(
    *, station: str = "", active: str = "", q: str = "", date_from: dt.date | None = None,
    date_to: dt.date | None = None, tz: zoneinfo.ZoneInfo | None = None,
) -> QuerySet[Transaction]:
    qs = Transaction.objects.select_related("station", "connector", "user").order_by("-started_at", "-id")
    if station:
        qs = qs.filter(station__charge_point_id=station)
    if active == "yes":
        qs = qs.filter(stopped_at__isnull=True)
    elif active == "no":
        qs = qs.filter(stopped_at__isnull=False)
    if q:
        qs = qs.filter(Q(id_tag__icontains=q) | Q(user__email__icontains=q) | Q(station__name__icontains=q))
    if date_from:
        qs = qs.filter(started_at__gte=dt.datetime.combine(date_from, dt.time.min, tzinfo=tz))
    if date_to:
        qs = qs.filter(started_at__lt=dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz))
    return qs


@dataclass
class MonthRow:
    month: int
    sessions: int
    energy_wh: int
    revenue: Decimal


def monthly_report(*, year: int, tz: zoneinfo.ZoneInfo, station: str = "") -> list[MonthRow]:
    """Energy and revenue per month of ``year`` (months in ``tz``): billing's figures, so the page,
    its CSV and the API report agree (revenue = the sum of the finished sessions' costs)."""
    from billing.selectors import revenue_by_month

    station_id: int | None = None
    if station:
        station_id = Station.objects.filter(charge_point_id=station).values_list("pk", flat=True).first() or -1
    return [
        MonthRow(month=r["month"], sessions=r["sessions"], energy_wh=r["energy_wh"], revenue=r["revenue"])
        for r in revenue_by_month(year=year, station_id=station_id, tz_name=str(tz))
    ]
