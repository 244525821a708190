"""Sessions flagged for operators: silent ones, and ones whose charger is gone (inferred stopped)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import AdminFactory
from notifications.models import Notification, NotificationKind
from accounts.tests.api_fixtures import fast_password_hashing  # noqa: F401
from notifications.tests.fixtures import celery_eager  # noqa: F401
from stations.models import Station
from transactions import jobs
from transactions.models import Transaction
from transactions.services import transaction_stop
from transactions.tasks import transaction_flag_stale
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def admin():
    return AdminFactory()


def test_a_session_without_meter_values_for_long_is_flagged_once(admin, settings):
    settings.CSMS_TRANSACTION_SILENT_MINUTES = 60
    now = timezone.now()
    silent = TransactionFactory(started_at=now - timedelta(hours=3), last_meter_at=now - timedelta(minutes=61))
    TransactionFactory(started_at=now - timedelta(hours=3), last_meter_at=now - timedelta(minutes=10))
    Station.objects.filter(pk=silent.station_id).update(connected=True, last_heartbeat=now)

    assert jobs.transaction_flag_stale(now=now).silent == [silent.pk]
    assert jobs.transaction_flag_stale(now=now).silent == []
    silent.refresh_from_db()
    assert silent.flagged == jobs.NO_METER_VALUES
    notification = Notification.objects.get(user=admin)
    assert notification.kind == NotificationKind.TRANSACTION_FLAGGED
    assert "61 minutes" in notification.body


def test_the_flag_goes_when_meter_values_come_back(admin):
    now = timezone.now()
    tx = TransactionFactory(flagged=jobs.NO_METER_VALUES, last_meter_at=now - timedelta(minutes=1))
    jobs.transaction_flag_stale(now=now)
    tx.refresh_from_db()
    assert tx.flagged == ""


def test_a_session_whose_charger_is_gone_for_long_is_inferred_stopped_without_inventing_energy(admin, settings):
    settings.CSMS_TRANSACTION_INFER_STOP_MINUTES = 24 * 60
    now = timezone.now()
    gone_since = now - timedelta(hours=25)
    tx = TransactionFactory(started_at=now - timedelta(hours=30), last_meter_at=gone_since - timedelta(minutes=5),
                            energy_wh=4200)
    Station.objects.filter(pk=tx.station_id).update(connected=False, last_heartbeat=gone_since)

    result = transaction_flag_stale()

    assert result["inferred_stopped"] == [tx.pk]
    tx.refresh_from_db()
    assert tx.inferred_stopped_at == gone_since
    assert tx.flagged == jobs.INFERRED_STOPPED
    assert (tx.stopped_at, tx.meter_stop, tx.energy_wh) == (None, None, 4200)
    assert Notification.objects.filter(user=admin, kind=NotificationKind.TRANSACTION_FLAGGED).count() == 1
    assert transaction_flag_stale()["inferred_stopped"] == []


def test_a_charger_gone_briefly_or_still_connected_is_not_inferred_stopped(admin):
    now = timezone.now()
    recent = TransactionFactory(started_at=now - timedelta(hours=30))
    Station.objects.filter(pk=recent.station_id).update(connected=False, last_heartbeat=now - timedelta(hours=2))
    assert jobs.transaction_flag_stale(now=now).inferred_stopped == []


def test_the_late_stop_transaction_reconciles_an_inferred_stop(admin):
    now = timezone.now()
    gone_since = now - timedelta(hours=25)
    tx = TransactionFactory(started_at=now - timedelta(hours=30), last_meter_at=gone_since, meter_start=1000,
                            energy_wh=4200)
    Station.objects.filter(pk=tx.station_id).update(connected=False, last_heartbeat=gone_since)
    jobs.transaction_flag_stale(now=now)

    stopped_at = gone_since + timedelta(minutes=10)
    transaction_stop(charge_point_id=tx.station.charge_point_id, transaction_id=tx.pk, meter_stop_wh=6000,
                     stopped_at=stopped_at, now=now, reason="PowerLoss")

    tx.refresh_from_db()
    assert (tx.stopped_at, tx.meter_stop, tx.energy_wh) == (stopped_at, 6000, 5000)
    assert tx.inferred_stopped_at == gone_since  # the record of the inference stays
    assert jobs.transaction_flag_stale(now=now).inferred_stopped == []


def test_a_session_that_turns_out_alive_is_no_longer_inferred_stopped(admin):
    now = timezone.now()
    tx = TransactionFactory(inferred_stopped_at=now - timedelta(hours=2), flagged=jobs.INFERRED_STOPPED,
                            last_meter_at=now - timedelta(minutes=1))
    assert jobs.transaction_flag_stale(now=now).revived == [tx.pk]
    tx.refresh_from_db()
    assert (tx.inferred_stopped_at, tx.flagged) == (None, "")
    assert Transaction.objects.filter(inferred_stopped_at__isnull=False).count() == 0
