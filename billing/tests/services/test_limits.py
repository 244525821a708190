"""Limits: a session reaching the driver's balance, or the station's maximum energy, is stopped remotely once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import IdTagFactory, UserFactory
from billing.models import SessionBilling
from billing.services import session_cost_update, session_start_pricing
from billing.tasks import session_stop_over_limit
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db


def running(balance: str = "1.00", **station_kw):  # type: ignore[no-untyped-def]
    station = StationFactory(price_per_kwh=Decimal("0.50"), **station_kw)
    tag = IdTagFactory(user=UserFactory(balance=Decimal(balance)))
    tx = TransactionFactory(connector=ConnectorFactory(station=station), tag=tag, started_at=timezone.now())
    session_start_pricing(transaction=tx)
    return tx


def meter(tx, energy_wh: int) -> None:  # type: ignore[no-untyped-def]
    tx.energy_wh = energy_wh
    session_cost_update(transaction=tx, now=tx.started_at + timedelta(minutes=10))


def test_reaching_the_balance_stops_the_session_once(eager_celery, charger, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    tx = running(balance="1.00")
    with django_capture_on_commit_callbacks(execute=True):
        meter(tx, 1000)  # 0.50: under the balance
    assert charger == []
    with django_capture_on_commit_callbacks(execute=True):
        meter(tx, 2000)  # 1.00: reaches it
        meter(tx, 2500)  # again over: no second stop
    assert charger == [(tx.station.charge_point_id, "RemoteStopTransaction", {"transactionId": tx.pk})]
    assert SessionBilling.objects.get(transaction=tx).limit_reason == "balance"


def test_the_balance_limit_is_a_setting(settings, eager_celery, charger, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    settings.CSMS_STOP_AT_BALANCE = False
    tx = running(balance="1.00")
    with django_capture_on_commit_callbacks(execute=True):
        meter(tx, 5000)
    assert charger == []


def test_the_station_maximum_energy_stops_the_session(eager_celery, charger, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    tx = running(balance="100.00", max_energy_per_session_wh=3000)
    with django_capture_on_commit_callbacks(execute=True):
        meter(tx, 2999)
    assert charger == []
    with django_capture_on_commit_callbacks(execute=True):
        meter(tx, 3000)
    assert [c[1] for c in charger] == ["RemoteStopTransaction"]
    assert SessionBilling.objects.get(transaction=tx).limit_reason == "max_energy"


def test_the_default_maximum_energy_is_a_setting(settings, eager_celery, charger, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    settings.CSMS_MAX_ENERGY_PER_SESSION_WH = 1000
    tx = running(balance="100.00")
    with django_capture_on_commit_callbacks(execute=True):
        meter(tx, 1500)
    assert len(charger) == 1


def test_the_stop_task_leaves_a_stopped_session_alone(charger) -> None:  # type: ignore[no-untyped-def]
    tx = running()
    Transaction.objects.filter(pk=tx.pk).update(stopped_at=timezone.now())
    assert session_stop_over_limit(tx.pk, "balance") == "stopped"
    assert charger == []


def test_an_offline_charger_is_asked_again_later(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from core.exceptions import ChargerOffline

    def offline(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ChargerOffline()

    monkeypatch.setattr("billing.tasks.remote_call", offline)
    tx = running()
    SessionBilling.objects.filter(transaction=tx).update(limit_stop_requested_at=timezone.now())
    assert session_stop_over_limit(tx.pk, "balance") == "charger_offline"
    # Asked again at the next meter value, once the charger is back.
    assert SessionBilling.objects.get(transaction=tx).limit_stop_requested_at is None


def test_time_priced_sessions_are_refreshed_without_meter_values(charger, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from billing.services import session_costs_refresh
    from billing.tests.factories import TariffFactory

    tariff = TariffFactory(price_per_kwh=Decimal("0"), price_per_minute=Decimal("0.10"))
    timed = running(balance="2.00", tariff=tariff)
    energy_only = running(balance="2.00")
    with django_capture_on_commit_callbacks(execute=True):
        assert session_costs_refresh(now=timed.started_at + timedelta(minutes=25)) == 1
    timed.refresh_from_db()
    assert timed.cost == Decimal("2.50")
    assert charger == [(timed.station.charge_point_id, "RemoteStopTransaction", {"transactionId": timed.pk})]
    energy_only.refresh_from_db()
    assert energy_only.cost == Decimal("0.00")
