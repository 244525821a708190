from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction
from transactions.reports import monthly_report
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def sessions(settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Rome"
    a = ConnectorFactory(station=StationFactory(charge_point_id="A", name="Alpha"))
    b = ConnectorFactory(station=StationFactory(charge_point_id="B", name="Beta"))
    TransactionFactory(connector=a, started_at=datetime(2026, 1, 10, 12, tzinfo=ROME), energy_wh=10000, cost=Decimal("3.00"))
    TransactionFactory(connector=a, started_at=datetime(2026, 1, 20, 12, tzinfo=ROME), energy_wh=2500, cost=Decimal("0.75"))
    # 00:30 on 1 March in Rome is still February in UTC: it counts in March (the operator's month).
    TransactionFactory(connector=a, started_at=datetime(2026, 3, 1, 0, 30, tzinfo=ROME), energy_wh=1000, cost=Decimal("0.31"))
    TransactionFactory(connector=b, started_at=datetime(2026, 12, 31, 23, 0, tzinfo=ROME), energy_wh=7000, cost=Decimal("2.10"))
    TransactionFactory(connector=b, started_at=datetime(2025, 12, 31, 12, tzinfo=ROME), energy_wh=9999, cost=Decimal("9.99"))
    TransactionFactory(connector=b, started_at=datetime(2027, 1, 1, 0, 30, tzinfo=ROME), energy_wh=9999, cost=Decimal("9.99"))


def test_report_sums_energy_and_cost_per_station_and_month(sessions):
    report = monthly_report(year=2026)
    alpha, beta = report.stations
    assert (alpha.charge_point_id, beta.charge_point_id) == ("A", "B")
    assert [(m.month, m.sessions, m.energy_wh, m.revenue) for m in alpha.months if m.sessions] == [
        (1, 2, 12500, Decimal("3.75")), (3, 1, 1000, Decimal("0.31"))]
    assert [(m.month, m.energy_wh, m.revenue) for m in beta.months if m.sessions] == [(12, 7000, Decimal("2.10"))]


def test_revenue_equals_the_sum_of_the_sessions_costs(sessions):
    report = monthly_report(year=2026)
    in_year = Transaction.objects.filter(started_at__gte=datetime(2026, 1, 1, tzinfo=ROME),
                                         started_at__lt=datetime(2027, 1, 1, tzinfo=ROME))
    assert sum(s.revenue for s in report.stations) == sum(t.cost for t in in_year) == Decimal("6.16")


def test_report_api_json(admin_client, sessions):
    r = admin_client.get("/api/v1/reports/monthly/", {"year": 2026})
    assert r.status_code == 200
    body = r.json()
    assert body["year"] == 2026 and body["time_zone"] == "Europe/Rome" and body["currency"] == "EUR"
    alpha = body["stations"][0]
    assert alpha["charge_point_id"] == "A" and alpha["revenue"] == "4.06" and alpha["energy_kwh"] == "13.500"
    assert len(alpha["months"]) == 12 and alpha["months"][0] == {"month": 1, "sessions": 2, "energy_kwh": "12.500",
                                                                  "revenue": "3.75"}
    assert body["totals"][11] == {"month": 12, "sessions": 1, "energy_kwh": "7.000", "revenue": "2.10"}
    only_b = admin_client.get("/api/v1/reports/monthly/", {"year": 2026, "station": "B"}).json()
    assert [s["charge_point_id"] for s in only_b["stations"]] == ["B"]


def test_report_api_csv(admin_client, sessions):
    r = admin_client.get("/api/v1/reports/monthly/csv/", {"year": "2026"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert len(rows) == 24
    january_a = rows[0]
    assert january_a == {"year": "2026", "month": "1", "charge_point_id": "A", "name": "Alpha", "sessions": "2",
                         "energy_kwh": "12.500", "revenue": "3.75", "currency": "EUR"}


@pytest.mark.parametrize("path", ["/api/v1/reports/monthly/", "/api/v1/reports/monthly/csv/"])
@pytest.mark.parametrize("year", ["20x6", "1999", "3000"])
def test_report_bad_year_is_a_400(admin_client, path, year):
    r = admin_client.get(path, {"year": year})
    assert r.status_code == 400 and "year" in r.json()
