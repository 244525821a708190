"""End of charge (Open e-Mobility style), thresholds and idle fee, through the job functions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification, NotificationKind
from accounts.tests.api_fixtures import fast_password_hashing  # noqa: F401
from notifications.tests.fixtures import celery_eager  # noqa: F401
from stations.models import Command, Station
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions import end_of_charge
from transactions.models import Transaction
from transactions.tasks import transaction_watch
from transactions.tests.factories import MeterValueFactory, TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def power(tx, minutes_ago, watts, now):
    return MeterValueFactory(transaction=tx, measurand="Power.Active.Import", unit="W", value=watts,
                             timestamp=now - timedelta(minutes=minutes_ago))


def session(now, **station):
    s = StationFactory(eoc_power_threshold_w=1000, eoc_minutes=5, **station)
    return TransactionFactory(connector=ConnectorFactory(station=s), started_at=now - timedelta(hours=1),
                              energy_wh=8000)


def test_power_under_the_threshold_for_the_stations_minutes_is_an_end_of_charge():
    now = timezone.now()
    tx = session(now)
    power(tx, 12, 7400, now)
    for minutes in (5, 3, 1):
        power(tx, minutes, 300, now)
    assert end_of_charge.end_of_charge_detect_power(now=now) == [tx.pk]
    assert end_of_charge.end_of_charge_detect_power(now=now) == []
    tx.refresh_from_db()
    assert tx.end_of_charge_at == now


def test_power_over_the_threshold_within_the_window_is_still_charging():
    now = timezone.now()
    tx = session(now)
    power(tx, 4, 300, now)
    power(tx, 2, 7400, now)
    power(tx, 1, 300, now)
    assert end_of_charge.end_of_charge_detect_power(now=now) == []


def test_phases_are_summed_when_no_total_is_sent():
    now = timezone.now()
    tx = session(now)
    for phase in ("L1", "L2", "L3"):
        MeterValueFactory(transaction=tx, measurand="Power.Active.Import", unit="W", value=400, phase=phase,
                          timestamp=now - timedelta(minutes=2))
    assert end_of_charge.end_of_charge_detect_power(now=now) == []


def test_power_back_over_the_threshold_voids_the_end_of_charge():
    now = timezone.now()
    tx = session(now)
    Transaction.objects.filter(pk=tx.pk).update(end_of_charge_at=now - timedelta(minutes=3))
    power(tx, 1, 7000, now)
    end_of_charge.end_of_charge_detect_power(now=now)
    tx.refresh_from_db()
    assert tx.end_of_charge_at is None


def test_the_driver_is_told_after_the_stations_delay_once():
    now = timezone.now()
    tx = session(now, eoc_notify_delay_minutes=10)
    Transaction.objects.filter(pk=tx.pk).update(end_of_charge_at=now - timedelta(minutes=9))
    assert end_of_charge.end_of_charge_act_due(now=now) == []
    later = now + timedelta(minutes=1)
    assert end_of_charge.end_of_charge_act_due(now=later) == [tx.pk]
    assert end_of_charge.end_of_charge_act_due(now=later) == []
    notification = Notification.objects.get(user=tx.user)
    assert notification.kind == NotificationKind.END_OF_CHARGE
    assert "8.000 kWh" in notification.body
    assert Command.objects.count() == 0


def test_the_station_may_stop_the_session_and_unlock_the_connector_at_end_of_charge():
    # The charger is offline here: the commands are refused and recorded in the ledger as such.
    now = timezone.now()
    tx = session(now, eoc_stop_transaction=True, eoc_unlock_connector=True)
    Transaction.objects.filter(pk=tx.pk).update(end_of_charge_at=now)
    assert end_of_charge.end_of_charge_act(transaction_id=tx.pk, now=now) is True
    assert end_of_charge.end_of_charge_act(transaction_id=tx.pk, now=now) is False
    commands = {c.action: c for c in Command.objects.filter(source="end_of_charge")}
    assert set(commands) == {"RemoteStopTransaction", "UnlockConnector"}
    assert commands["RemoteStopTransaction"].request == {"transactionId": tx.pk}
    assert commands["UnlockConnector"].request == {"connectorId": 1}
    assert Command.objects.count() == 2


def test_a_session_without_user_is_stopped_once_too():
    from accounts.tests.factories import IdTagFactory

    now = timezone.now()
    s = StationFactory(eoc_stop_transaction=True)
    tx = TransactionFactory(connector=ConnectorFactory(station=s), tag=IdTagFactory(user=None), end_of_charge_at=now)
    assert end_of_charge.end_of_charge_act(transaction_id=tx.pk, now=now) is True
    assert end_of_charge.end_of_charge_act(transaction_id=tx.pk, now=now) is False
    assert Command.objects.filter(action="RemoteStopTransaction").count() == 1


def test_soc_threshold_notifies_the_highest_crossed_once(settings):
    settings.CSMS_NOTIFY_SOC_THRESHOLDS = [50, 80, 100]
    now = timezone.now()
    tx = TransactionFactory(soc=83.0)
    assert [key for _, key in end_of_charge.threshold_notify(now=now)] == [f"{tx.pk}:soc:80"]
    assert end_of_charge.threshold_notify(now=now) == []
    Transaction.objects.filter(pk=tx.pk).update(soc=100.0)
    assert [key for _, key in end_of_charge.threshold_notify(now=now)] == [f"{tx.pk}:soc:100"]
    assert Notification.objects.filter(user=tx.user, kind=NotificationKind.THRESHOLD_REACHED).count() == 2
    body = Notification.objects.get(dedup_key=f"{tx.pk}:soc:80").body
    assert "80% state of charge" in body


def test_share_of_the_requested_energy_notifies(settings):
    settings.CSMS_NOTIFY_ENERGY_SHARE_THRESHOLDS = [50, 100]
    now = timezone.now()
    tx = TransactionFactory(energy_wh=5500)
    Station.objects.filter(pk=tx.station_id).update(max_energy_per_session_wh=10000)
    assert [key for _, key in end_of_charge.threshold_notify(now=now)] == [f"{tx.pk}:energy:50"]


def test_idle_fee_start_is_told_once_after_the_grace_period():
    now = timezone.now()
    tx = TransactionFactory(idle_since=now - timedelta(minutes=6),
                            tariff_snapshot={"price_per_kwh": "0.30", "idle_fee_per_minute": "0.10",
                                             "idle_grace_minutes": 5})
    grace = TransactionFactory(idle_since=now - timedelta(minutes=2),
                               tariff_snapshot={"idle_fee_per_minute": "0.10", "idle_grace_minutes": 5})
    free = TransactionFactory(idle_since=now - timedelta(minutes=60), tariff_snapshot={"price_per_kwh": "0.30"})
    assert end_of_charge.idle_fee_notify(now=now) == [tx.pk]
    assert end_of_charge.idle_fee_notify(now=now) == []
    assert "0.10 EUR per minute" in Notification.objects.get(user=tx.user).body
    assert not Notification.objects.filter(user__in=[grace.user, free.user]).exists()


def test_the_watch_task_runs_every_part():
    now = timezone.now()
    tx = session(now)
    for minutes in (6, 3, 1):
        power(tx, minutes, 100, now)
    result = transaction_watch()
    assert result["end_of_charge_detected"] == [tx.pk]
    assert result["end_of_charge_acted"] == [tx.pk]
    assert Notification.objects.filter(user=tx.user, kind=NotificationKind.END_OF_CHARGE).exists()


def test_sparse_samples_count_the_time_since_the_power_dropped():
    now = timezone.now()
    tx = session(now)
    Station.objects.filter(pk=tx.station_id).update(eoc_minutes=2)
    power(tx, 7, 7400, now)
    power(tx, 3, 200, now)
    assert end_of_charge.end_of_charge_detect_power(now=now) == [tx.pk]
