"""The receipt page and the monthly statement (page and CSV), per driver and per id tag."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.test import Client

from accounts.tests.factories import AdminFactory, IdTagFactory, UserFactory
from billing.services import session_settle
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db
UTC = timezone.utc


def finished(tag, started_at: datetime, energy_wh: int):  # type: ignore[no-untyped-def]
    tx = TransactionFactory(
        tag=tag, started_at=started_at, stopped_at=started_at + timedelta(minutes=30), energy_wh=energy_wh,
        tariff_snapshot={"price_per_kwh": "0.40", "currency": "EUR"},
    )
    return session_settle(transaction_id=tx.pk)


@pytest.fixture
def driver():  # type: ignore[no-untyped-def]
    return UserFactory(balance=Decimal("50"))


@pytest.fixture
def history(driver):  # type: ignore[no-untyped-def]
    card = IdTagFactory(id_tag="COMPANYCAR", user=driver)
    own = IdTagFactory(id_tag="PRIVATE01", user=driver)
    return [
        finished(card, datetime(2026, 3, 2, 8, tzinfo=UTC), 10000),  # 4.00
        finished(own, datetime(2026, 3, 15, 8, tzinfo=UTC), 5000),  # 2.00
        finished(card, datetime(2026, 3, 31, 21, tzinfo=UTC), 2500),  # 1.00, 31 March in Rome
        finished(card, datetime(2026, 4, 1, 9, tzinfo=UTC), 9999),  # April
        finished(IdTagFactory(id_tag="SOMEONE"), datetime(2026, 3, 3, 8, tzinfo=UTC), 1000),  # another driver
    ]


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_receipt_page_shows_the_line_items(driver, history) -> None:  # type: ignore[no-untyped-def]
    response = logged_in(driver).get(f"/billing/receipts/{history[0].pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "10.000 kWh" in html and "4.00 EUR" in html


def test_someone_elses_receipt_is_not_found(history) -> None:  # type: ignore[no-untyped-def]
    assert logged_in(UserFactory()).get(f"/billing/receipts/{history[0].pk}/").status_code == 404


def test_an_admin_sees_any_receipt(history) -> None:  # type: ignore[no-untyped-def]
    assert logged_in(AdminFactory()).get(f"/billing/receipts/{history[0].pk}/").status_code == 200


def test_an_anonymous_visitor_is_sent_to_log_in(history) -> None:  # type: ignore[no-untyped-def]
    assert Client().get(f"/billing/receipts/{history[0].pk}/").status_code == 302


def test_the_monthly_statement_lists_the_drivers_sessions_of_the_month(driver, history) -> None:  # type: ignore[no-untyped-def]
    response = logged_in(driver).get("/billing/statements/2026/3/")
    assert response.status_code == 200
    assert [tx.pk for tx in response.context["statement"].transactions] == [h.pk for h in history[:3]]
    assert response.context["statement"].total == Decimal("7.00")


def test_the_statement_of_one_id_tag_for_reimbursement(driver, history) -> None:  # type: ignore[no-untyped-def]
    response = logged_in(driver).get("/billing/statements/2026/3/csv/?id_tag=COMPANYCAR")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:2] == ["transaction_id", "charge_point_id"]
    assert [r[0] for r in rows[1:-1]] == [str(history[0].pk), str(history[2].pk)]
    assert rows[-1][0] == "total" and rows[-1][-2:] == ["5.00", "EUR"]


def test_a_driver_cannot_read_another_drivers_id_tag(driver, history) -> None:  # type: ignore[no-untyped-def]
    assert logged_in(driver).get("/billing/statements/2026/3/?id_tag=SOMEONE").status_code == 404


def test_an_admin_reads_the_statement_of_any_id_tag(history) -> None:  # type: ignore[no-untyped-def]
    response = logged_in(AdminFactory()).get("/billing/statements/2026/3/?id_tag=SOMEONE")
    assert [tx.pk for tx in response.context["statement"].transactions] == [history[4].pk]


def test_a_guest_opens_the_receipt_with_the_token_of_their_payment() -> None:
    from billing.models import Payment, PaymentKind, PaymentStatus
    from billing.payments import guest_token

    tx = finished(IdTagFactory(id_tag="GUEST01", user=None), datetime(2026, 3, 2, 8, tzinfo=UTC), 1000)
    payment = Payment.objects.create(kind=PaymentKind.SESSION_HOLD, status=PaymentStatus.CAPTURED, transaction=tx,
                                     id_tag="GUEST01", amount=Decimal("30"))
    other = Payment.objects.create(kind=PaymentKind.SESSION_HOLD, id_tag="GUEST02", amount=Decimal("30"))
    assert Client().get(f"/billing/receipts/{tx.pk}/?token={guest_token(payment)}").status_code == 200
    assert Client().get(f"/billing/receipts/{tx.pk}/?token={guest_token(other)}").status_code == 404
    assert Client().get(f"/billing/receipts/{tx.pk}/?token=forged").status_code == 404


def test_a_demo_user_has_no_statement() -> None:
    from accounts.models import Role

    assert logged_in(UserFactory(role=Role.DEMO)).get("/billing/statements/2026/3/").status_code == 403
