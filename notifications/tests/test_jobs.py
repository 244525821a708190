"""Periodic notifications: reservations, the daily summary, e-mail retry."""

from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.tests.factories import AdminFactory, UserFactory
from notifications import jobs
from notifications.models import Notification, NotificationKind
from notifications.tasks import daily_summary_send, notification_email_retry
from reservations.models import Reservation, ReservationStatus
from stations.models import Station
from stations.tests.factories import StationFactory
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def reservation(user, expires_at, status=ReservationStatus.ACTIVE):
    return Reservation.objects.create(user=user, id_tag="T", station=StationFactory(), expires_at=expires_at,
                                      status=status)


def test_reservations_about_to_expire_and_expired_are_told_once(settings):
    settings.CSMS_RESERVATION_WARN_MINUTES = 5
    now = timezone.now()
    driver = UserFactory()
    soon = reservation(driver, now + timedelta(minutes=4))
    later = reservation(UserFactory(), now + timedelta(minutes=14))
    expired = reservation(UserFactory(), now - timedelta(minutes=1), status=ReservationStatus.EXPIRED)

    assert jobs.reservation_notify_due(now=now) == {"expiring": [soon.pk], "expired": [expired.pk]}
    assert jobs.reservation_notify_due(now=now) == {"expiring": [], "expired": []}

    notification = Notification.objects.get(user=driver)
    assert notification.kind == NotificationKind.RESERVATION_EXPIRING
    assert "expires in 4 minutes" in notification.body
    assert Notification.objects.get(user=expired.user).kind == NotificationKind.RESERVATION_EXPIRED
    assert not Notification.objects.filter(user=later.user).exists()


def test_the_daily_summary_counts_the_day_and_reaches_admins_once(settings, django_capture_on_commit_callbacks):
    settings.TIME_ZONE = "UTC"
    admin = AdminFactory(email="ops@example.com")
    day = date(2026, 11, 20)
    at = datetime(2026, 11, 20, 12, tzinfo=dt_timezone.utc)
    TransactionFactory(stopped=True, started_at=at, cost=Decimal("2.10"))  # 7 kWh
    TransactionFactory(stopped=True, started_at=at + timedelta(hours=2), cost=Decimal("0.90"), energy_wh=3000,
                       meter_stop=4000)
    TransactionFactory(stopped=True, started_at=at - timedelta(days=2), cost=Decimal("50"))  # another day
    offline = StationFactory(charge_point_id="GONE-1", online=True)
    Station.objects.filter(pk=offline.pk).update(last_heartbeat=timezone.now() - timedelta(hours=1))
    StationFactory(charge_point_id="FAULTY-1", online=True, faulted_since=at)

    figures = jobs.daily_summary(day=day, now=timezone.now())
    assert (figures["sessions"], figures["energy_kwh"], figures["revenue"]) == (2, "10.000", "3.00 EUR")
    assert "GONE-1" in figures["offline_stations"]
    assert figures["faulted_stations"] == ["FAULTY-1"]

    with django_capture_on_commit_callbacks(execute=True):
        sent = daily_summary_send(day.isoformat())
        again = daily_summary_send(day.isoformat())
    assert len(sent) == 1 and again == []
    notification = Notification.objects.get(pk=sent[0])
    assert notification.user == admin and notification.kind == NotificationKind.DAILY_SUMMARY
    assert notification.title == "Daily summary for 2026-11-20"
    assert len(mail.outbox) == 1
    assert "GONE-1" in mail.outbox[0].body and "3.00 EUR" in mail.outbox[0].body


def test_e_mails_not_sent_are_sent_by_the_retry_job():
    now = timezone.now()
    user = UserFactory()
    lost = Notification.objects.create(user=user, kind=NotificationKind.LOW_BALANCE, dedup_key="lost",
                                       title="Low balance", body="b", email=True,
                                       created_at=now - timedelta(minutes=5))
    Notification.objects.create(user=user, kind=NotificationKind.LOW_BALANCE, dedup_key="fresh", title="t",
                                body="b", email=True, created_at=now)
    assert notification_email_retry() == [lost.pk]
    assert len(mail.outbox) == 1
    assert notification_email_retry() == []


def test_a_balance_running_low_during_a_session_is_told_once_per_session(settings):
    settings.CSMS_LOW_BALANCE_THRESHOLD = Decimal("5.00")
    from accounts.tests.factories import IdTagFactory

    now = timezone.now()
    low = TransactionFactory(tag=IdTagFactory(user=UserFactory(balance=Decimal("8.00"))), cost=Decimal("3.50"))
    fine = TransactionFactory(tag=IdTagFactory(user=UserFactory(balance=Decimal("20.00"))), cost=Decimal("3.50"))
    assert jobs.low_balance_during_sessions(now=now) == [low.pk]
    assert jobs.low_balance_during_sessions(now=now) == []
    assert "4.50 EUR" in Notification.objects.get(user=low.user).body
    assert not Notification.objects.filter(user=fine.user).exists()
