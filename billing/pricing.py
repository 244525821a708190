"""The pricing engine: pure functions, no database, no clock.

A session is priced from a tariff snapshot (a plain dict, copied onto the transaction at start so
later tariff edits never change it) and what was measured: the energy register samples, the start,
the end (stop, or now while charging) and when the car stopped drawing power (``idle_since``).

Every amount is an exact ``Decimal``; nothing is rounded until the very end, where the total is
rounded once to the currency's places. The line items are then rounded so that they add up to that
total exactly (largest remainder), so a receipt always sums.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

ZERO = Decimal("0")
WH_PER_KWH = Decimal("1000")
SECONDS_PER_MINUTE = Decimal("60")

# ISO 4217 minor units that are not 2; everything else has cents.
CURRENCY_PLACES: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


def currency_places(currency: str) -> int:
    return CURRENCY_PLACES.get(currency.upper(), 2)


def currency_quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_places(currency))


@dataclass(frozen=True)
class Period:
    """A time-of-use price per kWh, local time of the station. ``end <= start`` runs past midnight.

    ``weekdays`` (0 = Monday) name the day the period *starts* on; empty means every day.
    """

    start: time
    end: time
    price_per_kwh: Decimal
    weekdays: frozenset[int] = frozenset()
    name: str = ""

    def contains(self, local: datetime) -> bool:
        t = local.time()
        if self.start < self.end:
            return self.start <= t < self.end and self._day_ok(local.date())
        if self.start == self.end:  # the whole day
            return self._day_ok(local.date())
        # Past midnight: the evening part belongs to today, the morning part to yesterday's period.
        if t >= self.start:
            return self._day_ok(local.date())
        if t < self.end:
            return self._day_ok(local.date() - timedelta(days=1))
        return False

    def _day_ok(self, day: date) -> bool:
        return not self.weekdays or day.weekday() in self.weekdays


@dataclass(frozen=True)
class TariffSpec:
    currency: str = "EUR"
    price_per_kwh: Decimal = ZERO
    price_per_minute: Decimal = ZERO
    session_fee: Decimal = ZERO
    idle_fee_per_minute: Decimal = ZERO
    idle_grace_minutes: int = 0
    time_zone: str = "UTC"
    periods: tuple[Period, ...] = ()
    name: str = ""

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any] | None) -> TariffSpec:
        """Read a snapshot written by ``snapshot()``; missing keys are free (older, simpler snapshots)."""
        s = snapshot or {}

        def dec(key: str) -> Decimal:
            return _non_negative(Decimal(str(s.get(key) or "0")))

        periods = tuple(
            Period(
                start=time.fromisoformat(p["start"]),
                end=time.fromisoformat(p["end"]),
                price_per_kwh=_non_negative(Decimal(str(p["price_per_kwh"]))),
                weekdays=frozenset(int(d) for d in p.get("weekdays") or ()),
                name=p.get("name", ""),
            )
            for p in s.get("periods") or ()
        )
        return cls(
            currency=s.get("currency") or "EUR",
            price_per_kwh=dec("price_per_kwh"),
            price_per_minute=dec("price_per_minute"),
            session_fee=dec("session_fee"),
            idle_fee_per_minute=dec("idle_fee_per_minute"),
            idle_grace_minutes=max(int(s.get("idle_grace_minutes") or 0), 0),
            time_zone=s.get("time_zone") or "UTC",
            periods=periods,
            name=s.get("name", ""),
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "currency": self.currency,
            "price_per_kwh": str(self.price_per_kwh),
            "price_per_minute": str(self.price_per_minute),
            "session_fee": str(self.session_fee),
            "idle_fee_per_minute": str(self.idle_fee_per_minute),
            "idle_grace_minutes": self.idle_grace_minutes,
            "time_zone": self.time_zone,
            "periods": [
                {
                    "name": p.name,
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                    "price_per_kwh": str(p.price_per_kwh),
                    "weekdays": sorted(p.weekdays),
                }
                for p in self.periods
            ],
        }

    def period_at(self, local: datetime) -> Period | None:
        """The first period that covers this local time, or None for the base price."""
        for p in self.periods:
            if p.contains(local):
                return p
        return None


@dataclass(frozen=True)
class LineItem:
    code: str  # session_fee, energy, energy_tou, time, idle
    label: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    exact_amount: Decimal
    amount: Decimal = ZERO  # rounded; set by price_session

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "label": self.label,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "amount": str(self.amount),
        }


@dataclass(frozen=True)
class Pricing:
    total: Decimal
    currency: str
    items: list[LineItem] = field(default_factory=list)
    exact_total: Decimal = ZERO

    def items_as_dicts(self) -> list[dict[str, str]]:
        return [i.as_dict() for i in self.items]


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("tariff prices cannot be negative")
    return value


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("aware datetimes only")
    return dt.astimezone(timezone.utc)


def energy_points(
    *, started_at: datetime, meter_start_wh: int, energy_wh: int, end: datetime,
    samples: Iterable[tuple[datetime, float | int | Decimal]],
) -> list[tuple[datetime, Decimal]]:
    """The energy register over time, made monotonic and ending at ``meter_start + energy_wh``.

    Samples outside [start, end] are ignored; a register that goes backwards is held at its highest
    value (the charger's bug, not the driver's energy); a sample above the final reading is clipped,
    so the energy of all intervals always adds up to ``energy_wh``.
    """
    start = _utc(started_at)
    stop = max(_utc(end), start)
    first = Decimal(meter_start_wh)
    final = first + max(Decimal(energy_wh), ZERO)
    points = [(start, first)]
    for ts, value in sorted(((_utc(t), Decimal(str(v))) for t, v in samples), key=lambda x: x[0]):
        if ts <= start or ts >= stop:
            continue
        points.append((ts, min(max(value, points[-1][1]), final)))
    points.append((stop, final))
    return points


def energy_by_period(spec: TariffSpec, points: Sequence[tuple[datetime, Decimal]]) -> dict[Period | None, Decimal]:
    """Split the energy of each interval between samples over the time-of-use periods, by time.

    Inside one interval the power is unknown, so the energy is spread evenly over it. The instants
    where the period may change (period edges and midnights, in the station's local time, DST-aware
    via zoneinfo) are computed once for the whole session, and each segment between two of them is
    looked up once: a day of one-minute samples prices in a few milliseconds.
    """
    result: dict[Period | None, Decimal] = {}
    if not spec.periods:
        total = points[-1][1] - points[0][1] if points else ZERO
        return {None: total}
    if not points:
        return result
    zone = ZoneInfo(spec.time_zone)
    first, last = points[0][0], points[-1][0]
    cuts = sorted(set(_boundaries(spec, zone, first, last)))
    edges = [first, *cuts, last]
    segment_period = [
        spec.period_at((a + (b - a) / 2).astimezone(zone)) for a, b in zip(edges, edges[1:], strict=False)
    ] or [spec.period_at(first.astimezone(zone))]
    for (t0, v0), (t1, v1) in zip(points, points[1:], strict=False):
        energy = v1 - v0
        if energy <= 0:
            continue
        if t1 <= t0:
            key = spec.period_at(t1.astimezone(zone))
            result[key] = result.get(key, ZERO) + energy
            continue
        inner = cuts[bisect_right(cuts, t0):bisect_left(cuts, t1)]
        pieces = [t0, *inner, t1]
        total_s = _seconds(t1 - t0)
        remaining = energy
        for i, (a, b) in enumerate(zip(pieces, pieces[1:], strict=False)):
            key = segment_period[min(bisect_right(cuts, a), len(segment_period) - 1)]
            if i == len(pieces) - 2:
                part = remaining  # the last piece takes what is left: the parts add up exactly
            else:
                part = (energy * _seconds(b - a) / total_s).quantize(Decimal("0.000001"), ROUND_DOWN)
            remaining -= part
            result[key] = result.get(key, ZERO) + part
    return result


def _boundaries(spec: TariffSpec, zone: ZoneInfo, t0: datetime, t1: datetime) -> list[datetime]:
    """Instants in (t0, t1) where the applicable period may change (period edges and midnights)."""
    edges = {time(0, 0)} | {p.start for p in spec.periods} | {p.end for p in spec.periods}
    day = t0.astimezone(zone).date() - timedelta(days=1)
    last = t1.astimezone(zone).date() + timedelta(days=1)
    out = []
    while day <= last:
        for edge in edges:
            instant = datetime.combine(day, edge, tzinfo=zone).astimezone(timezone.utc)
            if t0 < instant < t1:
                out.append(instant)
        day += timedelta(days=1)
    return out


def price_session(
    spec: TariffSpec, *, started_at: datetime, end: datetime, meter_start_wh: int, energy_wh: int,
    samples: Iterable[tuple[datetime, float | int | Decimal]] = (), idle_since: datetime | None = None,
    idle_seconds_before: int | Decimal = 0,
) -> Pricing:
    """Price a session from start to ``end`` (its stop, or now while it runs).

    The car is idle since ``idle_since`` (None: drawing power) and was idle ``idle_seconds_before``
    in earlier, ended idle periods. Charging time is the session's time minus its idle time; the idle
    fee counts the idle minutes past the grace period (once per session). Exact amounts; the total
    is rounded once.
    """
    start = _utc(started_at)
    stop = max(_utc(end), start)
    idle_at = min(max(_utc(idle_since), start), stop) if idle_since is not None else None
    idle_before = min(max(Decimal(idle_seconds_before), ZERO), _seconds(stop - start))
    idle_seconds = idle_before + (_seconds(stop - idle_at) if idle_at is not None else ZERO)
    items: list[LineItem] = []

    if spec.session_fee:
        items.append(LineItem("session_fee", "Session fee", Decimal(1), "session", spec.session_fee, spec.session_fee))

    if spec.periods:
        points = energy_points(
            started_at=start, meter_start_wh=meter_start_wh, energy_wh=energy_wh, end=stop, samples=samples
        )
        by_period = energy_by_period(spec, points)
    else:
        by_period = {None: Decimal(max(energy_wh, 0))}
    base_wh = by_period.pop(None, ZERO)
    if base_wh or not by_period:
        kwh = base_wh / WH_PER_KWH
        items.append(LineItem("energy", "Energy", kwh, "kWh", spec.price_per_kwh, kwh * spec.price_per_kwh))
    for period in dict.fromkeys(spec.periods):  # in the tariff's order, so receipts are stable
        if period in by_period:
            kwh = by_period[period] / WH_PER_KWH
            label = f"Energy ({period.name})" if period.name else "Energy (time of use)"
            items.append(LineItem("energy_tou", label, kwh, "kWh", period.price_per_kwh, kwh * period.price_per_kwh))

    if spec.price_per_minute:
        minutes = max(_seconds((idle_at or stop) - start) - idle_before, ZERO) / SECONDS_PER_MINUTE
        items.append(LineItem("time", "Charging time", minutes, "min", spec.price_per_minute, minutes * spec.price_per_minute))

    if spec.idle_fee_per_minute and idle_seconds > 0:
        idle_minutes = idle_seconds / SECONDS_PER_MINUTE - spec.idle_grace_minutes
        if idle_minutes > 0:
            items.append(
                LineItem("idle", "Idle fee", idle_minutes, "min", spec.idle_fee_per_minute, idle_minutes * spec.idle_fee_per_minute)
            )

    exact_total = sum((i.exact_amount for i in items), ZERO)
    quantum = currency_quantum(spec.currency)
    total = exact_total.quantize(quantum, ROUND_HALF_UP)
    return Pricing(total=total, currency=spec.currency, items=_allocate(items, total, quantum), exact_total=exact_total)


def _allocate(items: list[LineItem], total: Decimal, quantum: Decimal) -> list[LineItem]:
    """Round the items down, then hand the leftover quanta to the largest remainders.

    The rounded items then sum to the once-rounded total exactly.
    """
    if not items:
        return []
    floors = [i.exact_amount.quantize(quantum, ROUND_DOWN) for i in items]
    leftover = int((total - sum(floors, ZERO)) / quantum)
    order = sorted(range(len(items)), key=lambda k: (items[k].exact_amount - floors[k]), reverse=True)
    amounts = list(floors)
    for k in order[: max(leftover, 0)]:
        amounts[k] += quantum
    return [
        LineItem(i.code, i.label, _tidy(i.quantity), i.unit, i.unit_price, i.exact_amount, amounts[k])
        for k, i in enumerate(items)
    ]


def _tidy(quantity: Decimal) -> Decimal:
    """Quantities are shown, not summed: three decimals are plenty for kWh and minutes."""
    return quantity.quantize(Decimal("0.001"), ROUND_HALF_UP)
