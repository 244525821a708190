"""Pricing a session through the services: the tariff at start, live cost, final cost at stop."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from billing.models import SessionBilling
from billing.services import session_cost_update, session_settle, session_start_pricing
from billing.tests.factories import TariffFactory, TariffPeriodFactory
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import MeterValueFactory, TransactionFactory

T0 = datetime(2026, 3, 2, 16, 0, tzinfo=timezone.utc)  # Monday 17:00 in Rome
pytestmark = pytest.mark.django_db


def start(station, **kw):  # type: ignore[no-untyped-def]
    tx = TransactionFactory(connector=ConnectorFactory(station=station), started_at=T0, tariff_snapshot=None, **kw)
    session_start_pricing(transaction=tx)
    tx.refresh_from_db()
    return tx


def stop(tx, *, minutes: int, energy_wh: int):  # type: ignore[no-untyped-def]
    tx.stopped_at = T0 + timedelta(minutes=minutes)
    tx.energy_wh = energy_wh
    tx.meter_stop = tx.meter_start + energy_wh
    tx.save()
    return session_settle(transaction_id=tx.pk)


def test_without_tariffs_the_station_price_per_kwh_applies() -> None:
    tx = start(StationFactory(price_per_kwh=Decimal("0.40")))
    assert tx.tariff is None
    assert tx.tariff_snapshot["price_per_kwh"] == "0.40"
    assert stop(tx, minutes=60, energy_wh=10000).cost == Decimal("4.00")


def test_the_default_tariff_applies_to_stations_without_one() -> None:
    default = TariffFactory(is_default=True, price_per_kwh=Decimal("0.25"), session_fee=Decimal("1.00"))
    tx = start(StationFactory())
    assert tx.tariff == default
    assert tx.cost == Decimal("1.00")  # the session fee is due from the start
    assert stop(tx, minutes=60, energy_wh=10000).cost == Decimal("3.50")


def test_a_station_tariff_wins_over_the_default() -> None:
    TariffFactory(is_default=True)
    own = TariffFactory(price_per_kwh=Decimal("0.10"))
    assert start(StationFactory(tariff=own)).tariff == own


def test_a_session_keeps_the_tariff_of_its_start() -> None:
    tariff = TariffFactory(price_per_kwh=Decimal("0.30"))
    tx = start(StationFactory(tariff=tariff))
    tariff.price_per_kwh = Decimal("9.99")
    tariff.save()
    assert stop(tx, minutes=30, energy_wh=1000).cost == Decimal("0.30")


def test_the_running_cost_follows_the_meter_values() -> None:
    tx = start(StationFactory(tariff=TariffFactory(price_per_kwh=Decimal("0.30"), price_per_minute=Decimal("0.01"))))
    tx.energy_wh = 5000
    session_cost_update(transaction=tx, now=T0 + timedelta(minutes=20))
    tx.refresh_from_db()
    assert tx.cost == Decimal("1.70")
    assert {i["code"]: i["amount"] for i in tx.cost_items} == {"energy": "1.50", "time": "0.20"}


def test_the_final_cost_prices_time_of_use_from_the_samples() -> None:
    tariff = TariffFactory(price_per_kwh=Decimal("0.20"))
    TariffPeriodFactory(tariff=tariff, start_time=time(18), end_time=time(22), price_per_kwh=Decimal("0.50"))
    tx = start(StationFactory(tariff=tariff, time_zone="Europe/Rome"), meter_start=1000)
    MeterValueFactory(transaction=tx, timestamp=T0 + timedelta(hours=1), value=11000)  # 18:00 local
    MeterValueFactory(transaction=tx, timestamp=T0 + timedelta(minutes=90), value=99999, suspect=True)
    tx = stop(tx, minutes=120, energy_wh=20000)
    assert tx.cost == Decimal("7.00")
    assert [(i["code"], i["quantity"], i["amount"]) for i in tx.cost_items] == [
        ("energy", "10.000", "2.00"), ("energy_tou", "10.000", "5.00"),
    ]


def test_idle_fee_after_grace_is_in_the_final_cost() -> None:
    tariff = TariffFactory(price_per_kwh=Decimal("0"), idle_fee_per_minute=Decimal("0.10"), idle_grace_minutes=5)
    tx = start(StationFactory(tariff=tariff))
    tx.idle_since = T0 + timedelta(minutes=30)
    tx.save()
    assert stop(tx, minutes=60, energy_wh=1000).cost == Decimal("2.50")


def test_a_late_meter_value_after_the_stop_changes_nothing() -> None:
    tx = start(StationFactory(price_per_kwh=Decimal("0.30")))
    tx = stop(tx, minutes=10, energy_wh=1000)
    tx.energy_wh = 5000
    session_cost_update(transaction=tx, now=T0 + timedelta(hours=1))
    tx.refresh_from_db()
    assert tx.cost == Decimal("0.30")


def test_start_pricing_creates_the_billing_state() -> None:
    tx = start(StationFactory())
    assert SessionBilling.objects.filter(transaction=tx).exists()


def test_the_car_going_idle_starts_the_idle_fee_and_charging_again_clears_it() -> None:
    tariff = TariffFactory(price_per_kwh=Decimal("0"), idle_fee_per_minute=Decimal("0.10"), idle_grace_minutes=5)
    tx = start(StationFactory(tariff=tariff))
    connector = tx.connector
    tx.energy_wh = 8000
    connector.status, connector.status_at = "SuspendedEV", T0 + timedelta(minutes=40)
    connector.save()
    session_cost_update(transaction=tx, now=T0 + timedelta(minutes=41))
    tx.refresh_from_db()
    assert tx.idle_since == T0 + timedelta(minutes=40)
    connector.status, connector.status_at = "Charging", T0 + timedelta(minutes=45)
    connector.save()
    tx.connector = connector
    session_cost_update(transaction=tx, now=T0 + timedelta(minutes=46))
    tx.refresh_from_db()
    assert tx.idle_since is None


def test_finishing_before_the_stop_bills_the_idle_minutes_past_grace() -> None:
    tariff = TariffFactory(price_per_kwh=Decimal("0"), idle_fee_per_minute=Decimal("0.10"), idle_grace_minutes=5)
    tx = start(StationFactory(tariff=tariff))
    connector = tx.connector
    connector.status, connector.status_at = "Finishing", T0 + timedelta(minutes=30)
    connector.save()
    assert stop(tx, minutes=60, energy_wh=5000).cost == Decimal("2.50")


def test_a_status_older_than_the_session_is_not_idle_time() -> None:
    tx = start(StationFactory(tariff=TariffFactory(idle_fee_per_minute=Decimal("1"))))
    connector = tx.connector
    connector.status, connector.status_at = "Finishing", T0 - timedelta(hours=2)
    connector.save()
    tx.energy_wh = 1000
    session_cost_update(transaction=tx, now=T0 + timedelta(minutes=10))
    tx.refresh_from_db()
    assert tx.idle_since is None


def test_an_idle_period_that_ended_still_counts_for_the_idle_fee() -> None:
    tariff = TariffFactory(price_per_kwh=Decimal("0"), idle_fee_per_minute=Decimal("0.10"), idle_grace_minutes=5)
    tx = start(StationFactory(tariff=tariff))
    connector = tx.connector
    tx.energy_wh = 4000
    for status, minute in (("SuspendedEV", 10), ("Charging", 30), ("SuspendedEV", 50)):
        connector.status, connector.status_at = status, T0 + timedelta(minutes=minute)
        connector.save()
        tx.connector = connector
        session_cost_update(transaction=tx, now=T0 + timedelta(minutes=minute + 1))
    assert SessionBilling.objects.get(transaction=tx).idle_seconds == 1200
    # Idle 20 min (10→30) and 10 min (50→60): 30 − 5 grace = 25 minutes at 0.10.
    assert stop(tx, minutes=60, energy_wh=4000).cost == Decimal("2.50")
