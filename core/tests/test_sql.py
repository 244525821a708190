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


# --- The single-row helpers (instance, insert, update_fields) against the ORM ------------------
# They skip Model.__init__ and the ORM compiler and cache their statements: these tests hold
# them to what the ORM itself loads and stores.


def _loaded(obj: object) -> tuple[list[tuple[str, tuple[object, ...]]], tuple[object, object]]:
    """What loading left on an instance: each attribute in order with its type and value (a time
    with its offset), and the ``_state`` flags."""
    attributes = [(name, (type(value), value, getattr(value, "tzinfo", None)))
                  for name, value in vars(obj).items() if name != "_state"]
    return attributes, (obj._state.adding, obj._state.db)  # type: ignore[attr-defined]


def _select(model: type, names: tuple[str, ...], pk: object) -> tuple[object, ...]:
    """The row as the hot path reads it: the columns named, by hand-written SQL."""
    from django.db import connection

    meta = model._meta
    select = ", ".join(f't."{meta.get_field(name).column}"' for name in names)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {select} FROM "{meta.db_table}" t WHERE t."{meta.pk.column}" = %s', [pk])
        return cursor.fetchone()


def _full_transaction() -> Transaction:
    """A session with every kind of column set: JSON (object, list), Decimal, float, times with
    an offset, nullable and set foreign keys."""
    from billing.tests.factories import TariffFactory

    return TransactionFactory(
        stopped=True, tariff=TariffFactory(), cost=Decimal("12.35"), power_w=11000.5, soc=None,
        cost_items=[{"label": TEXT, "amount": "1.10"}], last_meter_at=T, idle_since=T - timedelta(minutes=5),
        tariff_snapshot={"price_per_kwh": "0.3000", "nested": [1, 2.5, None, {"k": TEXT}]}, flagged=TEXT[:64],
    )


def _tariff_period() -> object:
    from billing.tests.factories import TariffPeriodFactory

    return TariffPeriodFactory(weekdays=[0, 6])


def _user() -> object:
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.mark.parametrize("make", [_full_transaction, _tariff_period, _user, ConnectorFactory],
                         ids=["transaction", "tariff-period", "user", "connector"])
def test_instance_is_the_instance_the_orm_loads(make) -> None:
    made = make()
    model = type(made)
    names, _select_list = sql.columns(model, "t")
    from django.db import connection

    assert sql._loader(connection, model, names).plain  # the shortcut past Model.__init__ is what is tested
    loaded = sql.instance(model, names, _select(model, names, made.pk))
    orm = model.objects.get(pk=made.pk)
    assert _loaded(loaded) == _loaded(orm)
    assert loaded._state.adding is False and loaded._state.db == "default"
    assert loaded.get_deferred_fields() == set()
    assert loaded == orm


def test_an_instance_of_some_columns_defers_the_others_as_the_orm_does() -> None:
    tx = _full_transaction()
    names = ("id", "station_id", "started_at", "cost", "cost_items")
    loaded = sql.instance(Transaction, names, _select(Transaction, names, tx.pk))
    orm = Transaction.objects.only("station", "started_at", "cost", "cost_items").get(pk=tx.pk)
    assert _loaded(loaded) == _loaded(orm)
    assert loaded.get_deferred_fields() == orm.get_deferred_fields() and "energy_wh" in orm.get_deferred_fields()
    assert (loaded.energy_wh, loaded.last_meter_at) == (tx.energy_wh, T)  # deferred: read on access
    loaded.cost = Decimal("3.30")
    loaded.save(update_fields=["cost"])  # an update of the loaded row, not an insert
    assert Transaction.objects.get(pk=tx.pk).cost == Decimal("3.30")


@pytest.mark.parametrize("names", [
    ("id", "station_id", "connector_id"), ("station_id", "id"), ("id", "id_tag", "id_tag"),
], ids=["in-order", "out-of-order", "repeated"])
def test_an_instance_is_what_from_db_makes_of_any_column_list(names: tuple[str, ...]) -> None:
    """Column lists the shortcut does not take (not in the model's order) go through ``from_db``
    as before, whatever that makes of them."""
    tx = TransactionFactory()
    values = _select(Transaction, names, tx.pk)
    assert _loaded(sql.instance(Transaction, names, values)) == _loaded(Transaction.from_db("default", list(names), list(values)))


def test_init_signal_receivers_still_see_every_instance() -> None:
    from django.db.models.signals import post_init, pre_init

    tx = _full_transaction()
    names, _select_list = sql.columns(Transaction, "t")
    row = _select(Transaction, names, tx.pk)
    seen: list[tuple[str, object]] = []

    def on_post_init(sender: type, instance: Transaction, **kwargs: object) -> None:
        seen.append(("post", instance.pk))
        instance.seen_by_receiver = True  # type: ignore[attr-defined]

    def on_pre_init(sender: type, args: tuple[object, ...], **kwargs: object) -> None:
        if sender is Transaction:
            seen.append(("pre", len(args)))

    post_init.connect(on_post_init, sender=Transaction)
    try:
        loaded = sql.instance(Transaction, names, row)
    finally:
        post_init.disconnect(on_post_init, sender=Transaction)
    assert seen == [("post", tx.pk)] and loaded.seen_by_receiver  # type: ignore[attr-defined]
    seen.clear()

    pre_init.connect(on_pre_init)  # a receiver for every model counts too
    try:
        loaded = sql.instance(Transaction, names, row)
    finally:
        pre_init.disconnect(on_pre_init)
    assert seen == [("pre", len(names))]
    assert _loaded(loaded) == _loaded(Transaction.objects.get(pk=tx.pk))
    seen.clear()
    sql.instance(Transaction, names, row)  # no receivers left: the shortcut again
    assert seen == []


def _new_transaction(connector: object, id_tag: str, **fields: object) -> Transaction:
    from accounts.tests.factories import UserFactory
    from billing.tests.factories import TariffFactory

    return Transaction(**{
        "station_id": connector.station_id, "connector": connector, "id_tag": id_tag,  # type: ignore[attr-defined]
        "user": UserFactory(), "tariff": TariffFactory(), "meter_start": 5, "started_at": T, "cost": Decimal("1.50"),
        "cost_items": [{"label": TEXT}], "tariff_snapshot": {"x": [1, None]}, "last_meter_at": T, "power_w": 1.25,
        "created_at": T,
    } | fields)


def test_insert_stores_what_save_stores() -> None:
    connector = ConnectorFactory()
    inserted, saved = _new_transaction(connector, "A"), _new_transaction(connector, "B")
    assert sql.insert(inserted) is True
    saved.save()
    assert inserted.pk is not None and inserted._state.adding is False and inserted._state.db == "default"

    def row(tx: Transaction) -> list[tuple[str, object]]:
        attributes, state = _loaded(tx)
        return [(name, value) for name, value in attributes if name not in ("id", "id_tag", "user_id", "tariff_id")]

    assert row(Transaction.objects.get(pk=inserted.pk)) == row(Transaction.objects.get(pk=saved.pk))
    # Each instance keeps the values it was given (a time in its own offset), as ``save`` leaves them.
    assert row(inserted) == row(saved)


def test_insert_runs_pre_save_for_auto_now_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    before = timezone.now()
    task = PeriodicTask(name="task", task="core.tasks.nothing", interval=IntervalSchedule.objects.create(every=10, period="seconds"))
    assert task.date_changed is None  # auto_now: set by pre_save only
    assert sql.insert(task)
    assert before <= task.date_changed <= timezone.now()
    assert PeriodicTask.objects.get(pk=task.pk).date_changed == task.date_changed

    # auto_now_add, on a field whose value was set beforehand (pre_save replaces it on insert).
    monkeypatch.setattr(Transaction._meta.get_field("created_at"), "auto_now_add", True)
    tx = _new_transaction(ConnectorFactory(), "A", created_at=T)
    assert sql.insert(tx)
    assert tx.created_at != T and before <= tx.created_at <= timezone.now()
    assert Transaction.objects.get(pk=tx.pk).created_at == tx.created_at


def test_insert_with_a_given_or_a_generated_key_and_on_conflict() -> None:
    from billing.models import SessionBilling

    connector = ConnectorFactory()
    generated = _new_transaction(connector, "A")
    assert sql.insert(generated) and generated.pk is not None
    given = _new_transaction(connector, "B", id=generated.pk + 1000)
    assert sql.insert(given) and given.pk == generated.pk + 1000
    assert Transaction.objects.get(pk=generated.pk + 1000).id_tag == "B"

    first = SessionBilling(transaction_id=given.pk, limit_reason="first")
    assert sql.insert(first, on_conflict_nothing=True) is True and first._state.adding is False
    again = SessionBilling(transaction_id=given.pk, limit_reason="again")
    assert sql.insert(again, on_conflict_nothing=True) is False and again._state.adding is True
    assert list(SessionBilling.objects.values_list("transaction_id", "limit_reason")) == [(given.pk, "first")]


def test_insert_with_takes_fields_from_its_with_part() -> None:
    from accounts.models import User
    from accounts.tests.factories import UserFactory
    from billing.models import LedgerEntry

    user = UserFactory(balance=Decimal("10.00"), currency="CHF")
    with_sql = (f'WITH u AS (UPDATE "{User._meta.db_table}" SET balance = balance + %s WHERE id = %s '
                "RETURNING balance, currency)")
    taken = {"currency": "u.currency", "balance_after": "u.balance"}
    for amount, balance in ((Decimal("5.00"), Decimal("15.00")), (Decimal("-2.50"), Decimal("12.50"))):
        entry = LedgerEntry(user_id=user.pk, kind="topup", amount=amount, currency="", balance_after=Decimal("0"))
        assert sql.insert_with(entry, with_sql, [amount, user.pk], taken) == ("CHF", balance)
        stored = LedgerEntry.objects.get(pk=entry.pk)
        assert (stored.amount, stored.currency, stored.balance_after) == (amount, "CHF", balance)
    nobody = LedgerEntry(user_id=user.pk, kind="topup", amount=Decimal("1"), currency="", balance_after=Decimal("0"))
    assert sql.insert_with(nobody, with_sql, [Decimal("1"), user.pk + 1000], taken) is None
    assert nobody.pk is None and LedgerEntry.objects.count() == 2


def test_update_fields_writes_the_named_fields_and_only_those(django_assert_num_queries) -> None:
    tx, other = _full_transaction(), _full_transaction()
    other_before = _loaded(Transaction.objects.get(pk=other.pk))
    for cost in (Decimal("1.10"), Decimal("2.20")):  # the second time from the cached statement
        tx.cost, tx.cost_items, tx.last_meter_at, tx.user_id = cost, [{"amount": str(cost)}], T, None
        tx.meter_start = 999  # not named: not written
        sql.update_fields(tx, ["cost", "cost_items", "cost", "last_meter_at", "user_id"])
        stored = Transaction.objects.get(pk=tx.pk)
        assert (stored.cost, stored.cost_items, stored.last_meter_at, stored.user_id) == (cost, [{"amount": str(cost)}], T, None)
        assert stored.meter_start == 1000
    tx.user = other.user  # a foreign key by its name
    sql.update_fields(tx, ["user"])
    assert Transaction.objects.get(pk=tx.pk).user_id == other.user_id
    assert _loaded(Transaction.objects.get(pk=other.pk)) == other_before  # another row: untouched
    with django_assert_num_queries(0):
        sql.update_fields(tx, [])
