"""Energy delivered and revenue per month of a year, per station (admin report; used by the API
and the dashboard alike). Revenue is the sum of the sessions' costs; a session counts in the
month it started, in the operator's time zone (settings.TIME_ZONE)."""

from __future__ import annotations

import csv
import io
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import ExtractMonth

from transactions.models import Transaction

MONTHS = range(1, 13)


@dataclass
class MonthFigures:
    month: int
    sessions: int = 0
    energy_wh: int = 0
    revenue: Decimal = Decimal("0.00")


@dataclass
class StationRow:
    charge_point_id: str
    name: str
    currency: str
    months: list[MonthFigures] = field(default_factory=lambda: [MonthFigures(m) for m in MONTHS])

    @property
    def energy_wh(self) -> int:
        return sum(m.energy_wh for m in self.months)

    @property
    def revenue(self) -> Decimal:
        return sum((m.revenue for m in self.months), Decimal("0.00"))

    @property
    def sessions(self) -> int:
        return sum(m.sessions for m in self.months)


@dataclass
class MonthlyReport:
    year: int
    time_zone: str
    stations: list[StationRow]

    def totals(self) -> list[MonthFigures]:
        out = [MonthFigures(m) for m in MONTHS]
        for row in self.stations:
            for total, month in zip(out, row.months, strict=True):
                total.sessions += month.sessions
                total.energy_wh += month.energy_wh
                total.revenue += month.revenue
        return out


def monthly_report(*, year: int, charge_point_id: str | None = None, time_zone: str | None = None) -> MonthlyReport:
    """One grouped query: stations × months with sessions, energy (Wh) and revenue."""
    tz_name = time_zone or settings.TIME_ZONE
    tz = zoneinfo.ZoneInfo(tz_name)
    start = datetime(year, 1, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz)
    qs = Transaction.objects.filter(started_at__gte=start, started_at__lt=end)
    if charge_point_id:
        qs = qs.filter(station__charge_point_id=charge_point_id)
    rows = (
        qs.annotate(month=ExtractMonth("started_at", tzinfo=tz))
        .values("station__charge_point_id", "station__name", "currency", "month")
        .annotate(sessions=Count("id"), energy_wh=Sum("energy_wh"), revenue=Sum("cost"))
        .order_by("station__charge_point_id", "month")
    )
    stations: dict[tuple[str, str], StationRow] = {}
    for row in rows:
        key = (row["station__charge_point_id"], row["currency"])
        station = stations.setdefault(key, StationRow(row["station__charge_point_id"], row["station__name"], row["currency"]))
        figures = station.months[row["month"] - 1]
        figures.sessions += row["sessions"]
        figures.energy_wh += row["energy_wh"] or 0
        figures.revenue += (row["revenue"] or Decimal("0")).quantize(Decimal("0.01"))
    return MonthlyReport(year=year, time_zone=tz_name, stations=list(stations.values()))


def kwh(energy_wh: int) -> str:
    return f"{Decimal(energy_wh) / 1000:.3f}"


def money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01')):.2f}"


def _month_dict(m: MonthFigures) -> dict[str, object]:
    return {"month": m.month, "sessions": m.sessions, "energy_kwh": kwh(m.energy_wh), "revenue": money(m.revenue)}


def report_as_dict(report: MonthlyReport) -> dict[str, object]:
    return {
        "year": report.year,
        "time_zone": report.time_zone,
        "currency": settings.CSMS_CURRENCY,
        "stations": [
            {
                "charge_point_id": s.charge_point_id, "name": s.name, "currency": s.currency,
                "sessions": s.sessions, "energy_kwh": kwh(s.energy_wh), "revenue": money(s.revenue),
                "months": [_month_dict(m) for m in s.months],
            }
            for s in report.stations
        ],
        "totals": [_month_dict(m) for m in report.totals()],
    }


def report_as_csv(report: MonthlyReport) -> str:
    """One line per station and month: year, month, station, name, sessions, energy_kwh, revenue, currency."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["year", "month", "charge_point_id", "name", "sessions", "energy_kwh", "revenue", "currency"])
    for station in report.stations:
        for m in station.months:
            writer.writerow([report.year, m.month, station.charge_point_id, station.name, m.sessions,
                             kwh(m.energy_wh), money(m.revenue), station.currency])
    return out.getvalue()
