"""A batch's MeterValues in a few statements (``meter_values_record.many``, what the group
committer runs) store and compute exactly what one call each does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import IdTagFactory
from billing.models import Tariff, TariffPeriod
from core.events import publish_deferred
from stations.tests.factories import ConnectorFactory
from transactions.models import MeterValue, Transaction
from transactions.services import meter_values_record
from transactions.tests.conftest import T0
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def entry(minutes: float, energy_wh: float, *more: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"timestamp": (T0 + timedelta(minutes=minutes)).isoformat(), "sampled_value": [
        {"value": str(energy_wh), "unit": "Wh"},
        {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "40", "measurand": "SoC", "unit": "Percent"}, *more,
    ]}]


def scene(prefix: str) -> list[dict[str, Any]]:
    """Five chargers, five cases: a session by id, a session found without an id, an unknown
    session id, no session at all, a register that went backwards; one time-of-use tariff."""
    tou = Tariff.objects.create(name=f"{prefix} tou", price_per_kwh=Decimal("0.20"))
    TariffPeriod.objects.create(tariff=tou, start_time="00:00", end_time="23:59", price_per_kwh=Decimal("0.50"))
    calls = []
    for case in ("by-id", "no-id", "unknown", "none", "backwards"):
        cp = f"{prefix}-{case}"
        connector = ConnectorFactory(station__charge_point_id=cp, connector_id=1)
        tx = None
        if case != "none":
            snapshot = {"price_per_kwh": "0.30", "currency": "EUR", "max_energy_wh": None}
            if case == "by-id":
                snapshot = {"price_per_kwh": "0.20", "currency": "EUR", "time_zone": "UTC",
                            "periods": [{"start": "00:00", "end": "23:59", "price_per_kwh": "0.50", "weekdays": []}],
                            "max_energy_wh": None}
            tx = TransactionFactory(connector=connector, tag=IdTagFactory(), meter_start=1000, started_at=T0,
                                    tariff_snapshot=snapshot)
        if case == "backwards":
            Transaction.objects.filter(pk=tx.pk).update(energy_wh=5000, last_meter_at=T0 + timedelta(minutes=5))
        calls.append({
            "charge_point_id": cp, "connector_id": 1, "now": T0 + timedelta(minutes=11),
            "meter_values": entry(10, 3000 if case == "backwards" else 4000),
            "transaction_id": {"by-id": tx.pk if tx else None, "unknown": 999_999}.get(case),
        })
    return calls


def outcome(calls: list[dict[str, Any]]) -> list[Any]:
    found = []
    for call in calls:
        cp = call["charge_point_id"]
        tx = Transaction.objects.filter(station__charge_point_id=cp).first()
        samples = sorted(MeterValue.objects.filter(station__charge_point_id=cp).values_list(
            "measurand", "value", "suspect", "transaction_id"))
        figures = None
        if tx is not None:
            figures = (tx.energy_wh, tx.power_w, tx.soc, tx.cost, tx.cost_items, tx.last_meter_at, tx.meter_anomaly)
            samples = [(m, v, s, t == tx.pk if t else None) for m, v, s, t in samples]
        found.append((cp.split("-", 1)[1], figures, samples))
    return found


def test_the_batch_matches_one_call_each() -> None:
    one_by_one = scene("ONE")
    many = scene("MANY")
    events_one: list[Any] = []
    with publish_deferred(events_one), transaction.atomic():
        results_one = [meter_values_record(**call) for call in one_by_one]
    events_many: list[Any] = []
    with publish_deferred(events_many), transaction.atomic(), CaptureQueriesContext(connection) as queries:
        results_many = meter_values_record.many(many)
    assert results_many == results_one == [3, 3, 3, 3, 3]
    assert outcome(many) == outcome(one_by_one)
    by_id = outcome(many)[0][1]
    assert by_id[3] == Decimal("1.50")  # time of use priced from the samples inserted in the batch
    assert outcome(many)[4][1][6] is True  # the backwards register flagged
    # lock the sessions, find the stations, lock the active one, insert, update (+ TOU samples read)
    assert len(queries) <= 6, [q["sql"][:80] for q in queries]
    strip = lambda events: [(g.split(".")[0], {k: v for k, v in e.items() if k not in ("id", "charge_point_id", "transaction_id")})  # noqa: E731
                            for g, e in events]
    assert strip(events_many) == strip(events_one)


def test_a_committer_batch_of_meter_values_runs_them_together() -> None:
    from stations.protocol.committer import _execute, _Item

    calls = scene("BATCH")
    items = [_Item(meter_values_record, call, None) for call in calls]  # type: ignore[arg-type]
    with CaptureQueriesContext(connection) as queries:
        _execute(items, [], [])
    assert [item.ok for item in items] == [True] * 5 and [item.result for item in items] == [3] * 5
    inserts = [q for q in queries if q["sql"].startswith(f'INSERT INTO "{MeterValue._meta.db_table}"')]
    assert len(inserts) == 1 and MeterValue.objects.filter(station__charge_point_id__startswith="BATCH-").count() == 15
