"""The bulk statements of ``core.sql`` (rows as one JSON document) store values exactly."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core import sql
from stations.models import OcppMessage
from stations.services import ocpp_messages_record
from stations.tests.factories import ConnectorFactory
from transactions.models import MeterValue, Transaction
from transactions.services import _SAMPLE_COLUMNS, _SAMPLE_TYPES
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PLUS_TWO = timezone(timedelta(hours=2))
T = datetime(2026, 3, 1, 12, 0, 0, 123457, tzinfo=PLUS_TWO)
TEXT = 'Ω ü 日本 "quoted" back\\slash\nnew line \t tab'


def sample(tx: Transaction | None, station_id: int, when: datetime, value: float, **fields: object) -> tuple[object, ...]:
    row = {"transaction_id": tx.pk if tx else None, "station_id": station_id, "connector_id": 1, "timestamp": when,
           "measurand": "Energy.Active.Import.Register", "phase": "", "location": "Outlet",
           "context": "Sample.Periodic", "unit": "Wh", "value": value, "raw_value": str(value), "raw_unit": "Wh",
           "suspect": False} | fields
    return tuple(row[column] for column in _SAMPLE_COLUMNS)


def test_rows_keep_every_value_exactly() -> None:
    connector = ConnectorFactory()
    tx = TransactionFactory(connector=connector)
    floats = [0.1 + 0.2, 1e-7, 123456789.12345679, -2.5e300, 5e-324]
    rows = [sample(tx if i % 2 else None, connector.station_id, T + timedelta(microseconds=i), value,
                   measurand=TEXT[:48], phase="L1-N", suspect=bool(i % 2))
            for i, value in enumerate(floats)]
    inserted = sql.insert_rows(MeterValue._meta.db_table, _SAMPLE_COLUMNS, _SAMPLE_TYPES, rows,
                               returning="transaction_id, timestamp, value")
    assert len(inserted) == len(floats)
    stored = list(MeterValue.objects.order_by("timestamp").values_list(
        "transaction_id", "timestamp", "measurand", "phase", "value", "suspect"))
    assert stored == [(tx.pk if i % 2 else None, T + timedelta(microseconds=i), TEXT[:48], "L1-N", value, bool(i % 2))
                      for i, value in enumerate(floats)]


def test_conflicting_rows_are_skipped_and_not_returned() -> None:
    connector = ConnectorFactory()
    tx = TransactionFactory(connector=connector)
    first = [sample(tx, connector.station_id, T, 1.0)]
    assert len(sql.insert_rows(MeterValue._meta.db_table, _SAMPLE_COLUMNS, _SAMPLE_TYPES, first,
                               on_conflict_nothing=True, returning="id")) == 1
    again = first + [sample(tx, connector.station_id, T + timedelta(seconds=1), 2.0)]
    returned = sql.insert_rows(MeterValue._meta.db_table, _SAMPLE_COLUMNS, _SAMPLE_TYPES, again,
                               on_conflict_nothing=True, returning="value")
    assert returned == [(2.0,)]
    assert MeterValue.objects.count() == 2


def test_infinities_and_nan_which_json_lacks_still_reach_a_float_column() -> None:
    connector = ConnectorFactory()
    rows = [sample(None, connector.station_id, T + timedelta(seconds=i), value)
            for i, value in enumerate([math.inf, -math.inf, math.nan, 1.5])]
    sql.insert_rows(MeterValue._meta.db_table, _SAMPLE_COLUMNS, _SAMPLE_TYPES, rows)
    values = list(MeterValue.objects.order_by("timestamp").values_list("value", flat=True))
    assert values[:2] == [math.inf, -math.inf] and math.isnan(values[2]) and values[3] == 1.5


def test_json_columns_take_the_objects_and_none_is_null() -> None:
    payload = {"vendorId": TEXT, "nested": [1, 2.5, None, True, {"k": "日本"}], "big": 2**62}
    ocpp_messages_record(messages=[
        ("CP-1", None, "in", 2, "DataTransfer", "u1", payload, T),
        ("CP-1", None, "out", 3, "DataTransfer", "u1", None, T + timedelta(seconds=1)),
        ("CP-1", None, "in", 4, "", "u2", [TEXT, {"x": math.inf}], T + timedelta(seconds=2)),
    ])
    rows = list(OcppMessage.objects.order_by("created_at").values_list("payload", "created_at"))
    assert rows[0] == (payload, T)
    assert rows[1][0] is None
    assert OcppMessage.objects.filter(payload__isnull=True).count() == 1
    assert rows[2][0] == [TEXT, {"x": "inf"}]  # the log keeps what JSON cannot hold as a string


def test_update_many_sets_each_rows_own_values() -> None:
    first, second = TransactionFactory(), TransactionFactory()
    first.cost, first.cost_items, first.last_meter_at = Decimal("12.35"), [{"label": TEXT, "amount": "1.10"}], T
    second.energy_wh, second.power_w = 7001, 11000.5
    sql.update_many(Transaction, [(first, ["cost", "cost_items", "last_meter_at"]), (second, ["energy_wh", "power_w"])])
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.cost, first.cost_items, first.last_meter_at) == (Decimal("12.35"), [{"label": TEXT, "amount": "1.10"}], T)
    assert (second.energy_wh, second.power_w) == (7001, 11000.5)


def _transformers_left(run) -> int:
    """psycopg transformers that only the cyclic garbage collector would free, after ``run``."""
    import gc

    from django.db import connection

    connection.ensure_connection()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            run()
        gc.collect()
        return sum(type(o).__name__ == "Transformer" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_any_of_a_json_list_leaves_no_garbage_cycle_where_a_list_parameter_does() -> None:
    from django.db import connection

    def query(statement: str, param: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, [param])
            assert cursor.fetchall() == [(1,)]

    assert _transformers_left(lambda: query("SELECT 1 WHERE 2 = ANY(%s)", [1, 2])) == 5
    assert _transformers_left(lambda: query(f"SELECT 1 WHERE 2 = {sql.any_of('bigint')}", sql.json_list([1, 2]))) == 0
    assert _transformers_left(lambda: query(f"SELECT 1 WHERE 'b' = {sql.any_of('text')}", sql.json_list(["a", "b"]))) == 0


def test_a_station_event_read_with_its_statement_leaves_no_garbage_cycle() -> None:
    from stations.models import Station
    from stations.services import _station_events, station_event
    from stations.tests.factories import StationFactory

    station = StationFactory(online=True)
    ConnectorFactory(station=station, connector_id=2, status="Charging")
    ConnectorFactory(station=station, connector_id=10, status="Faulted")
    events: list[dict[str, object]] = []
    assert _transformers_left(lambda: events.append(_station_events([station.pk])[station.pk])) == 0
    assert events[0] == station_event(Station.objects.get(pk=station.pk))  # the ORM's reading
    assert events[0]["status"] == "faulted"


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 63, 64, 65, 99, 100, 300])
def test_a_rows_count_never_cuts_a_row_off(count: int) -> None:
    from django.db import connection

    rows = [(i, f"r{i}") for i in range(count)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({sql.json_rows_select(('integer', 'text'), count)}) v", [sql.json_rows(rows)])
        assert cursor.fetchall() == rows


def test_a_rows_count_tells_the_planner_how_few_rows_come() -> None:
    """Without it the planner guesses 100 rows for the document, and a fleet's batches of two or
    three rows joined whole tables by hash instead of by index."""
    import json

    from django.db import connection

    def estimate(count: int | None) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql.json_rows_select(('integer',), count)}",
                           [sql.json_rows([(1,), (2,), (3,)])])
            plan = cursor.fetchone()[0]
        return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])

    assert estimate(None) == 100
    assert estimate(3) == 4
    assert estimate(1) == 1
