"""The revenue report equals the sum of the sessions' costs, and the money actually collected."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db.models import Sum

from accounts.tests.factories import UserFactory
from billing.models import LedgerEntry, LedgerKind
from billing.selectors import revenue_by_month
from billing.services import ledger_credit, session_settle, session_start_pricing
from billing.tests.factories import TariffFactory
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction
from transactions.reports import monthly_report
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db
UTC = timezone.utc


def session(station, started_at: datetime, energy_wh: int, user=None) -> Transaction:  # type: ignore[no-untyped-def]
    user = user or UserFactory(balance=Decimal("0"))
    tx = TransactionFactory(connector=ConnectorFactory(station=station), tag__user=user, started_at=started_at)
    session_start_pricing(transaction=tx)
    Transaction.objects.filter(pk=tx.pk).update(
        stopped_at=started_at + timedelta(minutes=47), energy_wh=energy_wh, meter_stop=tx.meter_start + energy_wh
    )
    return session_settle(transaction_id=tx.pk)


@pytest.fixture
def sessions() -> list[Transaction]:
    tariff = TariffFactory(price_per_kwh=Decimal("0.3333"), price_per_minute=Decimal("0.0125"), session_fee=Decimal("0.99"))
    a = StationFactory(tariff=tariff)
    b = StationFactory(price_per_kwh=Decimal("0.45"))
    driver = UserFactory(balance=Decimal("0"))
    ledger_credit(user_id=driver.pk, amount=Decimal("100"), kind=LedgerKind.TOPUP)
    out = [
        session(a, datetime(2026, 1, 10, 9, tzinfo=UTC), 12345, driver),
        session(a, datetime(2026, 1, 31, 23, 30, tzinfo=UTC), 777),  # 1 February in Rome
        session(b, datetime(2026, 2, 3, 12, tzinfo=UTC), 40001, driver),
        session(b, datetime(2026, 7, 19, 18, tzinfo=UTC), 3),
        session(a, datetime(2025, 12, 31, 12, tzinfo=UTC), 5000),  # another year
    ]
    TransactionFactory(connector=ConnectorFactory(station=a), started_at=datetime(2026, 3, 1, 12, tzinfo=UTC), cost=Decimal("5"))  # running
    return out


def test_revenue_per_month_is_the_sum_of_the_session_costs(sessions) -> None:  # type: ignore[no-untyped-def]
    rows = revenue_by_month(year=2026)
    finished_2026 = Transaction.objects.filter(stopped_at__isnull=False, started_at__year=2026)
    assert sum(r["revenue"] for r in rows) == finished_2026.aggregate(s=Sum("cost"))["s"]
    assert [r["sessions"] for r in rows] == [1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert rows[1]["revenue"] == sessions[1].cost + sessions[2].cost
    assert sum(r["energy_wh"] for r in rows) == 12345 + 777 + 40001 + 3


def test_revenue_per_station(sessions) -> None:  # type: ignore[no-untyped-def]
    station = sessions[2].station
    rows = revenue_by_month(year=2026, station_id=station.pk)
    assert sum(r["revenue"] for r in rows) == sessions[2].cost + sessions[3].cost


def test_revenue_equals_what_the_ledger_debited(sessions) -> None:  # type: ignore[no-untyped-def]
    debited = LedgerEntry.objects.filter(kind__in=[LedgerKind.SESSION, LedgerKind.ADJUSTMENT], transaction__isnull=False)
    all_years = sum(r["revenue"] for r in revenue_by_month(year=2026)) + sum(r["revenue"] for r in revenue_by_month(year=2025))
    assert -debited.aggregate(s=Sum("amount"))["s"] == all_years


def test_the_admin_report_agrees_with_billing_on_finished_sessions(sessions) -> None:  # type: ignore[no-untyped-def]
    Transaction.objects.filter(stopped_at__isnull=True).delete()
    report = monthly_report(year=2026)
    ours = revenue_by_month(year=2026)
    assert [m.revenue for m in report.totals()] == [r["revenue"] for r in ours]
