"""CSV exports shared by the admin action and the dashboard pages. Times are UTC, ISO 8601."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _

from dashboard.adminutils import csv_response
from dashboard.selectors import MonthRow
from transactions.models import Transaction


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def transactions_csv(transactions: Iterable[Transaction], filename: str = "transactions.csv") -> HttpResponse:
    header = ["id", "charge_point_id", "connector_id", "id_tag", "user", "started_at", "stopped_at",
              "meter_start", "meter_stop", "energy_kwh", "cost", "currency", "stop_reason", "active"]

    def rows() -> Iterator[list[Any]]:
        for tx in transactions:
            yield [
                tx.pk, tx.station.charge_point_id, tx.connector.connector_id, tx.id_tag,
                tx.user.email if tx.user else "", _iso(tx.started_at), _iso(tx.stopped_at),
                tx.meter_start, tx.meter_stop, f"{tx.energy_wh / 1000:.3f}", f"{tx.cost:.2f}", tx.currency,
                tx.stop_reason or "", "yes" if tx.active else "no",
            ]

    return csv_response(filename, header, rows())


def report_csv(year: int, months: list[MonthRow], currency: str) -> HttpResponse:
    header = ["year", "month", "sessions", "energy_kwh", "revenue", "currency"]
    rows = [[year, m.month, m.sessions, f"{m.energy_wh / 1000:.3f}", f"{m.revenue:.2f}", currency] for m in months]
    rows.append([year, _("total"), sum(m.sessions for m in months),
                 f"{sum(m.energy_wh for m in months) / 1000:.3f}",
                 f"{sum((m.revenue for m in months), start=0):.2f}", currency])
    return csv_response(f"report-{year}.csv", header, rows)
