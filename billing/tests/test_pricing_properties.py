"""Properties of the pricing engine over random tariffs and sessions (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing import (
    Period,
    TariffSpec,
    currency_quantum,
    energy_by_period,
    energy_points,
    price_session,
)

UTC = timezone.utc
prices = st.decimals(min_value=0, max_value=10, places=4)
times = st.times().map(lambda t: t.replace(second=0, microsecond=0))

periods = st.builds(
    Period, start=times, end=times, price_per_kwh=prices,
    weekdays=st.frozensets(st.integers(min_value=0, max_value=6), max_size=7),
)
tariffs = st.builds(
    TariffSpec,
    currency=st.sampled_from(["EUR", "JPY", "KWD", "CHF"]),
    price_per_kwh=prices, price_per_minute=prices, session_fee=st.decimals(min_value=0, max_value=5, places=2),
    idle_fee_per_minute=prices, idle_grace_minutes=st.integers(min_value=0, max_value=60),
    time_zone=st.sampled_from(["UTC", "Europe/Rome", "America/New_York", "Asia/Kolkata"]),
    periods=st.lists(periods, max_size=3).map(tuple),
)


@st.composite
def sessions(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    start = draw(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
    duration = timedelta(seconds=draw(st.integers(min_value=0, max_value=3 * 86400)))
    offsets = sorted(draw(st.lists(st.integers(min_value=0, max_value=int(duration.total_seconds())), max_size=20)))
    # Register values may go backwards or jump: the engine must cope.
    values = draw(st.lists(st.integers(min_value=0, max_value=200_000), min_size=len(offsets), max_size=len(offsets)))
    idle = draw(st.none() | st.integers(min_value=0, max_value=int(duration.total_seconds())))
    return {
        "started_at": start,
        "end": start + duration,
        "meter_start_wh": draw(st.integers(min_value=0, max_value=100_000)),
        "energy_wh": draw(st.integers(min_value=-10, max_value=150_000)),
        "samples": [(start + timedelta(seconds=o), v) for o, v in zip(offsets, values)],
        "idle_since": None if idle is None else start + timedelta(seconds=idle),
        "idle_seconds_before": draw(st.integers(min_value=0, max_value=int(duration.total_seconds()))),
    }


@settings(max_examples=300, deadline=None)
@given(tariffs, sessions())
def test_cost_is_never_negative_and_line_items_sum_to_the_total(spec: TariffSpec, session: dict) -> None:  # type: ignore[type-arg]
    result = price_session(spec, **session)
    assert result.total >= 0
    assert all(item.amount >= 0 for item in result.items)
    assert sum((item.amount for item in result.items), Decimal(0)) == result.total
    assert result.total == result.total.quantize(currency_quantum(spec.currency))
    assert abs(result.total - result.exact_total) <= currency_quantum(spec.currency) / 2


@settings(max_examples=200, deadline=None)
@given(tariffs, sessions())
def test_energy_split_over_periods_adds_up_to_the_session_energy(spec: TariffSpec, session: dict) -> None:  # type: ignore[type-arg]
    points = energy_points(
        started_at=session["started_at"], meter_start_wh=session["meter_start_wh"],
        energy_wh=session["energy_wh"], end=session["end"], samples=session["samples"],
    )
    split = energy_by_period(spec, points)
    assert all(v >= 0 for v in split.values())
    assert sum(split.values(), Decimal(0)) == max(session["energy_wh"], 0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(periods, min_size=1, max_size=3).map(tuple),
    st.sampled_from(["UTC", "Europe/Rome", "America/New_York"]),
    st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2026, 11, 5), timezones=st.just(UTC)),
    st.lists(st.tuples(st.integers(1, 240), st.integers(0, 5000)), min_size=1, max_size=8),
)
def test_energy_per_period_matches_a_minute_by_minute_reference(period_list, zone, start, steps) -> None:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    spec = TariffSpec(time_zone=zone, periods=period_list)
    start = start.replace(second=0, microsecond=0)
    points, t, v = [(start, Decimal(0))], start, Decimal(0)
    for minutes, wh in steps:
        t, v = t + timedelta(minutes=minutes), v + wh
        points.append((t, v))
    expected: dict[object, Decimal] = {}
    for (t0, v0), (t1, v1) in zip(points, points[1:], strict=False):
        n = int((t1 - t0).total_seconds() // 60)
        for k in range(n):  # each minute's share of the interval, priced at the minute's middle
            key = spec.period_at((t0 + timedelta(minutes=k, seconds=30)).astimezone(ZoneInfo(zone)))
            expected[key] = expected.get(key, Decimal(0)) + (v1 - v0) / n
    got = energy_by_period(spec, points)
    for key in set(expected) | set(got):
        assert abs(got.get(key, Decimal(0)) - expected.get(key, Decimal(0))) < Decimal("0.01")
