"""The interface the other apps call after commit: sessions, statuses, unknown chargers."""

from decimal import Decimal

import pytest
from django.core import mail

from accounts.tests.factories import AdminFactory, IdTagFactory, UserFactory
from notifications import services
from notifications.models import Notification, NotificationKind
from notifications.tests.fixtures import celery_eager  # noqa: F401
from stations.tests.factories import ConnectorFactory
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def kinds(user):
    return sorted(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_transaction_started_tells_the_driver_once():
    tx = TransactionFactory()
    services.transaction_started(transaction_id=tx.pk)
    services.transaction_started(transaction_id=tx.pk)
    assert kinds(tx.user) == [NotificationKind.CHARGING_STARTED]


def test_a_session_without_user_notifies_nobody():
    tx = TransactionFactory(tag=IdTagFactory(user=None))
    services.transaction_started(transaction_id=tx.pk)
    assert Notification.objects.count() == 0


def test_transaction_stopped_sends_finished_and_low_balance_once(django_capture_on_commit_callbacks):
    user = UserFactory(balance=Decimal("1.00"))
    tx = TransactionFactory(stopped=True, tag=IdTagFactory(user=user), cost=Decimal("2.10"))
    with django_capture_on_commit_callbacks(execute=True):
        services.transaction_stopped(transaction_id=tx.pk)
        services.transaction_stopped(transaction_id=tx.pk)
    assert kinds(user) == sorted([NotificationKind.CHARGING_FINISHED, NotificationKind.LOW_BALANCE])
    finished = next(m for m in mail.outbox if m.subject == "Charging finished")
    assert "7.000 kWh, 2.10 EUR" in finished.body
    assert len(mail.outbox) == 2
    tx.refresh_from_db()
    assert tx.end_of_charge_at == tx.stopped_at


def test_no_low_balance_above_the_threshold():
    user = UserFactory(balance=Decimal("50.00"))
    tx = TransactionFactory(stopped=True, tag=IdTagFactory(user=user))
    services.transaction_stopped(transaction_id=tx.pk)
    assert NotificationKind.LOW_BALANCE not in kinds(user)


def test_a_faulted_connector_marks_the_station_and_tells_operators_once():
    admin = AdminFactory()
    connector = ConnectorFactory(status="Faulted", error_code="GroundFailure")
    services.connector_status_changed(station_id=connector.station_id, connector_id=1, status="Faulted")
    services.connector_status_changed(station_id=connector.station_id, connector_id=1, status="Faulted")
    connector.station.refresh_from_db()
    assert connector.station.faulted_since is not None
    notification = Notification.objects.get(user=admin)
    assert notification.kind == NotificationKind.STATION_FAULTED
    assert "GroundFailure" in notification.body

    connector.status = "Available"
    connector.save()
    services.connector_status_changed(station_id=connector.station_id, connector_id=1, status="Available")
    connector.station.refresh_from_db()
    assert connector.station.faulted_since is None


def test_suspended_ev_marks_the_end_of_charge_and_charging_clears_it():
    tx = TransactionFactory(energy_wh=5000)
    station_id, number = tx.station_id, tx.connector.connector_id
    services.connector_status_changed(station_id=station_id, connector_id=number, status="SuspendedEV")
    tx.refresh_from_db()
    assert tx.end_of_charge_at is not None
    services.connector_status_changed(station_id=station_id, connector_id=number, status="Charging")
    tx.refresh_from_db()
    assert tx.end_of_charge_at is None


def test_suspended_ev_before_any_energy_is_not_an_end_of_charge():
    tx = TransactionFactory(energy_wh=0)
    services.connector_status_changed(station_id=tx.station_id, connector_id=1, status="SuspendedEV")
    tx.refresh_from_db()
    assert tx.end_of_charge_at is None


def test_unknown_charger_tells_operators_once_an_hour():
    admin = AdminFactory()
    services.unknown_charger_refused(charge_point_id="ROGUE-1", reason="unknown charge point")
    services.unknown_charger_refused(charge_point_id="ROGUE-1", reason="unknown charge point")
    notification = Notification.objects.get(user=admin)
    assert notification.kind == NotificationKind.UNKNOWN_CHARGER
    assert "ROGUE-1" in notification.body


def test_hooks_ignore_rows_that_are_gone():
    services.transaction_started(transaction_id=999999)
    services.transaction_stopped(transaction_id=999999)
    services.connector_status_changed(station_id=999999, connector_id=1, status="Faulted")
    assert Notification.objects.count() == 0
