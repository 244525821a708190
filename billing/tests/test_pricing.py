"""Pricing cases, one per tariff part, on the pure engine (no database)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from billing.pricing import Period, TariffSpec, currency_places, energy_by_period, energy_points, price_session

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Rome


def price(spec: TariffSpec, **kw):  # type: ignore[no-untyped-def]
    args = {"started_at": T0, "end": T0 + timedelta(hours=1), "meter_start_wh": 1000, "energy_wh": 0}
    args.update(kw)
    return price_session(spec, **args)


def amounts(pricing) -> dict[str, Decimal]:  # type: ignore[no-untyped-def]
    return {i.code: i.amount for i in pricing.items}


def test_energy_is_priced_per_kwh() -> None:
    result = price(TariffSpec(price_per_kwh=Decimal("0.30")), energy_wh=12345)
    assert result.total == Decimal("3.70")  # 12.345 kWh × 0.30 = 3.7035
    assert amounts(result) == {"energy": Decimal("3.70")}


def test_rounding_happens_once_on_the_total() -> None:
    spec = TariffSpec(price_per_kwh=Decimal("0.005"), price_per_minute=Decimal("0.005"))
    result = price(spec, energy_wh=1000, end=T0 + timedelta(minutes=1))
    # 0.005 + 0.005 = 0.01 exactly; rounding each part first would give 0.00 + 0.00 (half-even) or 0.02.
    assert result.total == Decimal("0.01")
    assert sum(i.amount for i in result.items) == Decimal("0.01")


def test_session_fee_is_charged_once() -> None:
    result = price(TariffSpec(session_fee=Decimal("1.50")), energy_wh=0)
    assert result.total == Decimal("1.50")
    assert amounts(result)["session_fee"] == Decimal("1.50")


def test_time_is_priced_per_minute_of_charging_until_the_car_goes_idle() -> None:
    spec = TariffSpec(price_per_minute=Decimal("0.10"))
    result = price(spec, end=T0 + timedelta(minutes=90), idle_since=T0 + timedelta(minutes=45))
    assert amounts(result)["time"] == Decimal("4.50")


def test_idle_fee_starts_after_the_grace_period() -> None:
    spec = TariffSpec(idle_fee_per_minute=Decimal("0.20"), idle_grace_minutes=10)
    result = price(spec, end=T0 + timedelta(minutes=60), idle_since=T0 + timedelta(minutes=30))
    assert amounts(result)["idle"] == Decimal("4.00")  # 30 idle minutes − 10 grace = 20 × 0.20


def test_no_idle_fee_within_the_grace_period() -> None:
    spec = TariffSpec(idle_fee_per_minute=Decimal("0.20"), idle_grace_minutes=10)
    result = price(spec, end=T0 + timedelta(minutes=35), idle_since=T0 + timedelta(minutes=30))
    assert result.total == Decimal("0.00")
    assert "idle" not in amounts(result)


def test_no_idle_fee_without_idle_time() -> None:
    spec = TariffSpec(idle_fee_per_minute=Decimal("0.20"))
    assert price(spec).total == Decimal("0.00")


def test_time_of_use_prices_energy_by_local_hour() -> None:
    # Peak 18:00–22:00 Rome time (17:00–21:00 UTC in March before DST) at 0.50, base 0.20.
    spec = TariffSpec(
        price_per_kwh=Decimal("0.20"), time_zone="Europe/Rome",
        periods=(Period(start=time(18), end=time(22), price_per_kwh=Decimal("0.50"), name="peak"),),
    )
    start = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 17:00 local
    samples = [(start + timedelta(hours=1), 11000)]  # 10 kWh by 18:00 local, 10 more by 19:00
    result = price_session(
        spec, started_at=start, end=start + timedelta(hours=2), meter_start_wh=1000, energy_wh=20000, samples=samples
    )
    items = {i.code: i for i in result.items}
    assert items["energy"].quantity == Decimal("10.000")
    assert items["energy_tou"].quantity == Decimal("10.000")
    assert items["energy_tou"].label == "Energy (peak)"
    assert result.total == Decimal("7.00")


def test_time_of_use_splits_an_interval_at_the_period_edge() -> None:
    spec = TariffSpec(
        time_zone="UTC", periods=(Period(start=time(11), end=time(12), price_per_kwh=Decimal("1")),),
    )
    # One interval 10:30–11:30 with 2 kWh: half before 11:00 (base price 0), half in the period.
    start = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    result = price_session(spec, started_at=start, end=start + timedelta(hours=1), meter_start_wh=0, energy_wh=2000)
    assert result.total == Decimal("1.00")


def test_time_of_use_respects_weekdays_and_midnight() -> None:
    # Friday night 22:00–06:00 cheap; the Saturday-morning part belongs to Friday's period.
    night = Period(start=time(22), end=time(6), price_per_kwh=Decimal("0.10"), weekdays=frozenset({4}))
    spec = TariffSpec(price_per_kwh=Decimal("0.40"), time_zone="UTC", periods=(night,))
    assert spec.period_at(datetime(2026, 3, 6, 23, tzinfo=UTC)) is night  # Friday 23:00
    assert spec.period_at(datetime(2026, 3, 7, 5, tzinfo=UTC)) is night  # Saturday 05:00
    assert spec.period_at(datetime(2026, 3, 7, 23, tzinfo=UTC)) is None  # Saturday 23:00
    assert spec.period_at(datetime(2026, 3, 6, 5, tzinfo=UTC)) is None  # Friday 05:00 (Thursday night)


def test_time_of_use_follows_daylight_saving_time() -> None:
    # 29 March 2026: Rome goes to UTC+2. 08:00–09:00 local is 06:00–07:00 UTC that day.
    spec = TariffSpec(
        time_zone="Europe/Rome", periods=(Period(start=time(8), end=time(9), price_per_kwh=Decimal("1")),),
    )
    start = datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    points = energy_points(
        started_at=start, meter_start_wh=0, energy_wh=3000, end=start + timedelta(hours=3),
        samples=[(start + timedelta(hours=1), 1000), (start + timedelta(hours=2), 2000)],
    )
    by_period = energy_by_period(spec, points)
    assert by_period[spec.periods[0]] == Decimal("1000")
    assert by_period[None] == Decimal("2000")


def test_a_register_going_backwards_adds_no_energy() -> None:
    points = energy_points(
        started_at=T0, meter_start_wh=1000, energy_wh=3000, end=T0 + timedelta(hours=1),
        samples=[(T0 + timedelta(minutes=10), 3000), (T0 + timedelta(minutes=20), 500), (T0 + timedelta(minutes=30), 9000)],
    )
    assert [v for _, v in points] == [1000, 3000, 3000, 4000, 4000]


def test_currency_places_decide_the_rounding() -> None:
    assert currency_places("JPY") == 0
    result = price(TariffSpec(currency="JPY", price_per_kwh=Decimal("45.5")), energy_wh=1000)
    assert result.total == Decimal("46")


def test_snapshot_round_trips() -> None:
    spec = TariffSpec(
        currency="EUR", price_per_kwh=Decimal("0.3"), price_per_minute=Decimal("0.01"), session_fee=Decimal("1"),
        idle_fee_per_minute=Decimal("0.2"), idle_grace_minutes=5, time_zone="Europe/Rome",
        periods=(Period(start=time(22), end=time(6), price_per_kwh=Decimal("0.1"), weekdays=frozenset({5, 6})),),
    )
    assert TariffSpec.from_snapshot(spec.snapshot()) == spec


def test_a_minimal_snapshot_prices_energy_only() -> None:
    spec = TariffSpec.from_snapshot({"price_per_kwh": "0.30", "currency": "EUR"})
    assert price(spec, energy_wh=10000).total == Decimal("3.00")


def test_negative_prices_are_refused() -> None:
    with pytest.raises(ValueError):
        TariffSpec.from_snapshot({"price_per_kwh": "-1"})


def test_earlier_idle_periods_count_for_the_idle_fee_and_not_as_charging_time() -> None:
    spec = TariffSpec(price_per_minute=Decimal("0.10"), idle_fee_per_minute=Decimal("0.20"), idle_grace_minutes=10)
    # 60 minutes: idle 20 minutes earlier, charging again, idle for the last 10 minutes.
    result = price(spec, end=T0 + timedelta(minutes=60), idle_since=T0 + timedelta(minutes=50), idle_seconds_before=1200)
    # 30 minutes charging; 30 idle − 10 grace = 20 at 0.20
    assert (amounts(result)["time"], amounts(result)["idle"]) == (Decimal("3.00"), Decimal("4.00"))
