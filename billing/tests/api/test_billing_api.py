"""Billing API: tariffs, the ledger, receipts, statements, revenue; roles and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import AdminFactory, IdTagFactory, UserFactory
from billing.models import LedgerKind, Tariff
from billing.services import ledger_credit, session_settle
from billing.tests.factories import TariffFactory
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db
UTC = timezone.utc


def api(user=None) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


TARIFF = {
    "name": "Peak and night", "currency": "EUR", "price_per_kwh": "0.3000", "price_per_minute": "0.0100",
    "session_fee": "0.50", "idle_fee_per_minute": "0.2000", "idle_grace_minutes": 10,
    "periods": [{"name": "night", "weekdays": [], "start_time": "22:00:00", "end_time": "06:00:00", "price_per_kwh": "0.1500"}],
}


def test_an_admin_creates_a_tariff_with_time_of_use_periods() -> None:
    response = api(AdminFactory()).post("/api/v1/billing/tariffs/", TARIFF, format="json")
    assert response.status_code == 201, response.content
    tariff = Tariff.objects.get(pk=response.json()["id"])
    assert [(p.name, str(p.start_time), p.price_per_kwh) for p in tariff.periods.all()] == [("night", "22:00:00", Decimal("0.15"))]


def test_a_negative_price_is_refused() -> None:
    response = api(AdminFactory()).post("/api/v1/billing/tariffs/", {**TARIFF, "price_per_kwh": "-0.10"}, format="json")
    assert response.status_code == 400
    assert "price_per_kwh" in response.json()


def test_only_one_default_tariff() -> None:
    TariffFactory(is_default=True)
    response = api(AdminFactory()).post("/api/v1/billing/tariffs/", {**TARIFF, "is_default": True}, format="json")
    assert response.status_code == 400


def test_drivers_read_tariffs_but_cannot_change_them() -> None:
    tariff = TariffFactory()
    driver = UserFactory()
    assert api(driver).get("/api/v1/billing/tariffs/").json()["count"] == 1
    assert api(driver).post("/api/v1/billing/tariffs/", TARIFF, format="json").status_code == 403
    assert api(driver).patch(f"/api/v1/billing/tariffs/{tariff.pk}/", {"price_per_kwh": "0"}, format="json").status_code == 403
    assert api().get("/api/v1/billing/tariffs/").status_code == 401


def test_the_ledger_lists_the_callers_entries() -> None:
    driver = UserFactory(balance=Decimal("0"))
    ledger_credit(user_id=driver.pk, amount=Decimal("10"), kind=LedgerKind.INITIAL)
    ledger_credit(user_id=driver.pk, amount=Decimal("-2.5"), kind=LedgerKind.ADJUSTMENT, reason="fix")
    ledger_credit(user_id=UserFactory().pk, amount=Decimal("99"), kind=LedgerKind.TOPUP)
    body = api(driver).get("/api/v1/billing/ledger/").json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in body["results"]] == [
        ("adjustment", "-2.50", "7.50"), ("initial", "10.00", "10.00"),
    ]


def test_an_admin_reads_anyones_ledger_a_demo_user_none() -> None:
    driver = UserFactory()
    ledger_credit(user_id=driver.pk, amount=Decimal("1"), kind=LedgerKind.TOPUP)
    assert api(AdminFactory()).get(f"/api/v1/billing/ledger/?user={driver.pk}").json()["count"] == 1
    assert api(UserFactory(role=Role.DEMO)).get("/api/v1/billing/ledger/").status_code == 403
    assert api(AdminFactory()).get("/api/v1/billing/ledger/?user=x").status_code == 400


def finished_session(user, started_at: datetime):  # type: ignore[no-untyped-def]
    tx = TransactionFactory(tag=IdTagFactory(user=user), started_at=started_at,
                            stopped_at=started_at + timedelta(minutes=20), energy_wh=5000)
    return session_settle(transaction_id=tx.pk)


def test_the_receipt_api_is_for_the_owner_and_admins() -> None:
    driver = UserFactory()
    tx = finished_session(driver, datetime(2026, 5, 5, 10, tzinfo=UTC))
    body = api(driver).get(f"/api/v1/billing/receipts/{tx.pk}/").json()
    assert (body["total"], body["currency"], body["energy_kwh"]) == (f"{tx.cost:.2f}", "EUR", "5.000")
    assert sum(Decimal(i["amount"]) for i in body["items"]) == tx.cost
    assert api(UserFactory()).get(f"/api/v1/billing/receipts/{tx.pk}/").status_code == 404
    assert api(AdminFactory()).get(f"/api/v1/billing/receipts/{tx.pk}/").status_code == 200
    assert api(driver).get("/api/v1/billing/receipts/999999/").status_code == 404


def test_the_statement_api_json_and_csv() -> None:
    driver = UserFactory()
    tx = finished_session(driver, datetime(2026, 5, 5, 10, tzinfo=UTC))
    finished_session(driver, datetime(2026, 6, 5, 10, tzinfo=UTC))
    body = api(driver).get("/api/v1/billing/statements/?year=2026&month=5").json()
    assert (body["sessions"], body["total"]) == (1, f"{tx.cost:.2f}")
    csv_response = api(driver).get("/api/v1/billing/statements/csv/?year=2026&month=5")
    assert csv_response.status_code == 200
    assert csv_response.content.decode().splitlines()[1].startswith(f"{tx.pk},")
    assert api(driver).get("/api/v1/billing/statements/?year=2026&month=13").status_code == 400
    assert api(driver).get("/api/v1/billing/statements/?month=5").status_code == 400


def test_the_revenue_api_is_for_admins() -> None:
    tx = finished_session(UserFactory(), datetime(2026, 5, 5, 10, tzinfo=UTC))
    body = api(AdminFactory()).get("/api/v1/billing/revenue/?year=2026").json()
    assert body["months"][4]["revenue"] == f"{tx.cost:.2f}"
    assert api(UserFactory()).get("/api/v1/billing/revenue/?year=2026").status_code == 403
    assert api(AdminFactory()).get("/api/v1/billing/revenue/?year=2026&station=NOPE").status_code == 404


def test_an_admin_refunds_a_session_a_driver_cannot() -> None:
    driver = UserFactory(balance=Decimal("10"))
    tx = finished_session(driver, datetime(2026, 5, 5, 10, tzinfo=UTC))
    assert api(driver).post("/api/v1/billing/refunds/", {"transaction_id": tx.pk}, format="json").status_code == 403
    response = api(AdminFactory()).post("/api/v1/billing/refunds/", {"transaction_id": tx.pk, "reason": "fault"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["kind"], response.json()["amount"]) == ("refund", f"{tx.cost:.2f}")
    again = api(AdminFactory()).post("/api/v1/billing/refunds/", {"transaction_id": tx.pk}, format="json")
    assert again.status_code == 400
    assert api(AdminFactory()).post("/api/v1/billing/refunds/", {"transaction_id": 424242}, format="json").status_code == 404
    driver.refresh_from_db()
    assert driver.balance == Decimal("10.00")
