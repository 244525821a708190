"""Receipts: one per finished session, in the app and by e-mail, with the line items."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.receipts import receipt_send
from billing.services import session_settle
from notifications.models import Notification, NotificationPreference
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished():  # type: ignore[no-untyped-def]
    now = timezone.now()
    tx = TransactionFactory(
        tag__user=UserFactory(email="driver@example.com", balance=Decimal("10")),
        started_at=now - timedelta(hours=1), stopped_at=now, energy_wh=10000, meter_stop=11000,
        tariff_snapshot={"name": "Standard", "price_per_kwh": "0.30", "session_fee": "1.00", "currency": "EUR"},
    )
    return session_settle(transaction_id=tx.pk)


def test_a_finished_session_gets_one_receipt_in_the_app_and_by_email(finished, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    assert receipt_send(transaction_id=finished.pk) is True
    assert receipt_send(transaction_id=finished.pk) is False  # the task ran twice
    notification = Notification.objects.get(user=finished.user, kind="receipt")
    assert notification.data["total"] == "4.00"
    assert [i["code"] for i in notification.data["items"]] == ["session_fee", "energy"]
    assert notification.emailed_at is not None
    assert len(mailoutbox) == 1
    body = mailoutbox[0].body
    assert mailoutbox[0].to == ["driver@example.com"]
    assert "Session fee: 1.000 session × 1.00 = 1.00 EUR" in body
    assert "Energy: 10.000 kWh × 0.30 = 3.00 EUR" in body
    assert "4.00 EUR" in body
    assert f"/billing/receipts/{finished.pk}/" in body


def test_the_driver_can_turn_receipt_emails_off(finished, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    NotificationPreference.objects.create(user=finished.user, kind="receipt", channel="email", enabled=False)
    assert receipt_send(transaction_id=finished.pk) is True
    assert Notification.objects.filter(user=finished.user, kind="receipt").count() == 1
    assert mailoutbox == []


def test_a_running_session_has_no_receipt(mailoutbox) -> None:  # type: ignore[no-untyped-def]
    tx = TransactionFactory()
    assert receipt_send(transaction_id=tx.pk) is False
    assert Notification.objects.count() == 0


def test_settling_sends_the_receipt_after_commit(django_capture_on_commit_callbacks, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    tx = TransactionFactory(started_at=now - timedelta(minutes=5), stopped_at=now, energy_wh=100)
    with django_capture_on_commit_callbacks(execute=True):
        session_settle(transaction_id=tx.pk)
    assert Notification.objects.filter(kind="receipt", dedup_key=str(tx.pk)).count() == 1


def test_the_line_items_are_labelled_in_the_drivers_language(finished) -> None:  # type: ignore[no-untyped-def]
    from django.utils import translation

    from billing.selectors import item_label, receipt_get

    with translation.override("en"):
        assert [i["label"] for i in receipt_get(transaction=finished).items] == ["Session fee", "Energy"]
        assert item_label({"code": "energy_tou", "label": "Energy (peak)"}) == "Energy (peak)"
        assert item_label({"code": "unknown", "label": "Something"}) == "Something"
