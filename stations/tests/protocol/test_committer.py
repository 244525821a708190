"""The group committer: one transaction per batch, and no bad item takes the others down."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from core.events import DASHBOARD_GROUP, publish_on_commit, station_group
from stations.models import OcppMessage, Station
from stations.protocol.committer import _execute, _Item, _send_events, committer
from stations.tests.factories import StationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@transaction.atomic
def rename(*, pk: int, name: str) -> str:
    Station.objects.filter(pk=pk).update(name=name)
    publish_on_commit("dashboard", {"type": "renamed", "name": name})
    return name


@transaction.atomic
def broken(*, pk: int) -> None:
    Station.objects.filter(pk=pk).update(name="never")
    raise RuntimeError("bug")


def item(fn: Any, **kwargs: Any) -> _Item:
    return _Item(fn, kwargs, None)  # type: ignore[arg-type]


def test_a_clean_batch_commits_everything_once_with_its_log_and_events() -> None:
    a, b = StationFactory(), StationFactory()
    items = [item(rename, pk=a.pk, name="A"), item(rename, pk=b.pk, name="B")]
    events: list[tuple[str, dict[str, Any]]] = []
    _execute(items, [OcppMessage(charge_point_id=a.charge_point_id, direction="in", message_type=2)], events)
    assert [i.ok for i in items] == [True, True] and [i.result for i in items] == ["A", "B"]
    assert set(Station.objects.values_list("name", flat=True)) == {"A", "B"}
    assert OcppMessage.objects.count() == 1
    assert events == [("dashboard", {"type": "renamed", "name": "A"}), ("dashboard", {"type": "renamed", "name": "B"})]


def test_a_failing_item_rolls_back_alone_and_events_are_not_doubled() -> None:
    a, b, c = StationFactory(), StationFactory(), StationFactory()
    items = [item(rename, pk=a.pk, name="A"), item(broken, pk=b.pk), item(rename, pk=c.pk, name="C")]
    events: list[tuple[str, dict[str, Any]]] = []
    _execute(items, [OcppMessage(charge_point_id=a.charge_point_id, direction="in", message_type=2)], events)
    assert [i.ok for i in items] == [True, False, True]
    assert isinstance(items[1].result, RuntimeError)
    names = dict(Station.objects.values_list("pk", "name"))
    assert names[a.pk] == "A" and names[c.pk] == "C" and names[b.pk] != "never"
    assert OcppMessage.objects.count() == 1
    assert [e["name"] for _, e in events] == ["A", "C"]


@transaction.atomic
def rename_nested(*, pk: int, name: str) -> str:
    with transaction.atomic():  # what session_settle and ledger_credit do inside transaction_stop
        Station.objects.filter(pk=pk).update(name=name)
    return name


@transaction.atomic
def rename_unless_taken(*, pk: int, name: str, quietly: bool = False) -> str:
    """Catches a failing nested block and goes on: correct only with a savepoint to roll back to.
    ``quietly``: makes no query after the error it caught."""
    try:
        with transaction.atomic():
            Station.objects.filter(pk=pk).update(name=name)
            if Station.objects.filter(name=name).exclude(pk=pk).exists():
                raise ValueError("name taken")
    except ValueError:
        if quietly:
            return "taken"
        Station.objects.filter(pk=pk).update(description="name was taken")
    return name


def test_a_clean_batch_makes_no_savepoints_for_nested_atomic_blocks() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, b = StationFactory(), StationFactory()
    items = [item(rename_nested, pk=a.pk, name="A"), item(rename_nested, pk=b.pk, name="B")]
    with CaptureQueriesContext(connection) as queries:
        _execute(items, [], [])
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert "SAVEPOINT" not in statements and "RELEASE" not in statements
    assert [i.ok for i in items] == [True, True]
    assert set(Station.objects.values_list("name", flat=True)) == {"A", "B"}
    # Outside the batch, nested blocks have their savepoints again.
    with CaptureQueriesContext(connection) as queries:
        rename_nested(pk=a.pk, name="A2")
    assert any(q["sql"].startswith("SAVEPOINT") for q in queries.captured_queries)


def test_an_item_that_needs_its_savepoint_runs_again_with_it_and_the_others_commit() -> None:
    a, b, c = StationFactory(name="taken"), StationFactory(), StationFactory()
    items = [item(rename, pk=a.pk, name="A"), item(rename_unless_taken, pk=b.pk, name="C"),
             item(rename_unless_taken, pk=c.pk, name="A")]
    events: list[tuple[str, dict[str, Any]]] = []
    _execute(items, [], events)
    # Without a savepoint the caught error could not be rolled back alone: the batch ran again,
    # each item in its own transaction, and every item's outcome is the one it has on its own.
    assert [i.ok for i in items] == [True, True, True]
    rows = {pk: (name, description) for pk, name, description in Station.objects.values_list("pk", "name", "description")}
    assert rows[a.pk][0] == "A"
    assert rows[b.pk][0] == "C"
    assert rows[c.pk][1] == "name was taken" and rows[c.pk][0] != "A"
    assert [e["name"] for _, e in events] == ["A"]


def test_a_caught_error_at_the_end_of_a_batch_is_not_committed_as_success() -> None:
    # Nothing queries after the caught error: the batch's end must notice it (Django's outermost
    # block would roll back silently, and every item would be answered as if stored).
    a, b = StationFactory(name="taken"), StationFactory()
    items = [item(rename, pk=a.pk, name="A"), item(rename_unless_taken, pk=b.pk, name="A", quietly=True)]
    _execute(items, [], [])
    assert [i.ok for i in items] == [True, True] and [i.result for i in items] == ["A", "taken"]
    names = dict(Station.objects.values_list("pk", "name"))
    assert names[a.pk] == "A" and names[b.pk] != "A"


async def test_concurrent_callers_get_their_own_results_after_commit() -> None:
    from channels.db import database_sync_to_async

    stations = [await database_sync_to_async(StationFactory)() for _ in range(20)]
    c = committer()
    results = await asyncio.gather(
        *(c.run(rename, pk=s.pk, name=f"N{i}") for i, s in enumerate(stations)),
        c.run(broken, pk=stations[0].pk),
        return_exceptions=True,
    )
    assert results[:20] == [f"N{i}" for i in range(20)]
    assert isinstance(results[20], RuntimeError)
    names = await database_sync_to_async(lambda: set(Station.objects.values_list("name", flat=True)))()
    assert names == {f"N{i}" for i in range(20)}


async def test_run_first_goes_ahead_of_queued_work() -> None:
    c = committer()
    order: list[str] = []

    @transaction.atomic
    def note(*, label: str) -> str:
        order.append(label)
        return label

    # Fill every lane, then queue ordinary work, then a handshake.
    busy = [asyncio.ensure_future(c.run(note, label=f"busy{i}")) for i in range(c._lanes)]
    queued = [asyncio.ensure_future(c.run(note, label=f"queued{i}")) for i in range(3)]
    first = asyncio.ensure_future(c.run_first(note, label="handshake"))
    await asyncio.gather(*busy, *queued, first)
    assert order.index("handshake") < min(order.index(f"queued{i}") for i in range(3))


class RecordingLayer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))


async def test_a_batch_sends_one_message_per_group_with_its_events_in_order() -> None:
    # 30 MeterValues from 30 stations: each publishes a transaction and a meter event to the
    # dashboard's group and to its station's group (120 events; formerly 120 group_sends).
    events: list[tuple[str, dict[str, Any]]] = []
    for i in range(30):
        cp = f"CP-{i}"
        tx = {"type": "transaction", "id": i, "charge_point_id": cp, "active": True}
        meter = {"type": "meter", "transaction_id": i, "timestamp": "2026-11-21T10:00:00Z"}
        for event in (tx, meter):
            events += [(DASHBOARD_GROUP, event), (station_group(cp), event)]
    layer = RecordingLayer()
    await _send_events(events, layer)
    assert len(layer.sent) == 31
    groups = [group for group, _ in layer.sent]
    assert sorted(groups) == sorted([DASHBOARD_GROUP] + [station_group(f"CP-{i}") for i in range(30)])
    sent = dict(layer.sent)
    assert sent[DASHBOARD_GROUP]["type"] == "live.events"
    assert sent[DASHBOARD_GROUP]["events"] == [event for group, event in events if group == DASHBOARD_GROUP]
    assert [e["type"] for e in sent[station_group("CP-7")]["events"]] == ["transaction", "meter"]
    assert sent[station_group("CP-7")]["events"][0]["id"] == 7


async def test_a_lone_event_keeps_the_single_event_message() -> None:
    layer = RecordingLayer()
    event = {"type": "station", "charge_point_id": "CP-1", "status": "available"}
    await _send_events([(DASHBOARD_GROUP, event)], layer)
    assert layer.sent == [(DASHBOARD_GROUP, {"type": "live.event", "event": event})]


async def test_the_events_of_a_committed_batch_leave_coalesced(monkeypatch: pytest.MonkeyPatch) -> None:
    from channels.db import database_sync_to_async

    import stations.protocol.committer as module

    layer = RecordingLayer()
    monkeypatch.setattr(module, "get_channel_layer", lambda: layer)
    stations = [await database_sync_to_async(StationFactory)() for _ in range(3)]
    c = committer()
    # Fill every lane first, so that the three renames wait and go in one batch.
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()

    @transaction.atomic
    def hold() -> None:
        asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(timeout=10)

    busy = [asyncio.ensure_future(c.run(hold)) for _ in range(c._lanes)]
    await asyncio.sleep(0.05)
    renames = [asyncio.ensure_future(c.run(rename, pk=s.pk, name=f"N{i}")) for i, s in enumerate(stations)]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(*busy, *renames)
    for _ in range(50):  # the events leave in a task of their own after the futures resolve
        if layer.sent:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    assert layer.sent == [("dashboard", {"type": "live.events", "events": [
        {"type": "renamed", "name": "N0"}, {"type": "renamed", "name": "N1"}, {"type": "renamed", "name": "N2"}]})]


@transaction.atomic
def rename_then_notify(*, pk: int, name: str, seen: list[str], fail: bool = False) -> str:
    Station.objects.filter(pk=pk).update(name=name)

    def hook() -> None:
        # What a notification hook does: write in the database, and see the committed data.
        seen.append(Station.objects.get(pk=pk).name)
        Station.objects.filter(pk=pk).update(description=f"noted {name}")
        if fail:
            raise RuntimeError("broken hook")

    transaction.on_commit(hook)
    return name


def test_after_commit_work_is_handed_back_and_runs_in_savepoints() -> None:
    from stations.protocol.committer import _run_hooks

    a, b = StationFactory(), StationFactory()
    seen: list[str] = []
    items = [item(rename_then_notify, pk=a.pk, name="A", seen=seen, fail=True),
             item(rename_then_notify, pk=b.pk, name="B", seen=seen)]
    hooks: list[Any] = []
    _execute(items, [], [], hooks)
    # Committed, answered, and no hook has run yet: they wait for the answers.
    assert [i.ok for i in items] == [True, True] and seen == [] and len(hooks) == 2
    assert set(Station.objects.values_list("name", flat=True)) == {"A", "B"}
    _run_hooks(hooks, [])
    # All together first, without savepoints: A failed there, so that pass was rolled back and
    # each ran again in its own savepoint.
    assert seen == ["A", "A", "B"]
    descriptions = dict(Station.objects.values_list("pk", "description"))
    assert descriptions[a.pk] != "noted A"  # the failing hook rolled back alone...
    assert descriptions[b.pk] == "noted B"  # ...and the other one's write stands
    assert [i.result for i in items] == ["A", "B"]  # nothing ran twice


class Noted:
    """An after-commit callback that can run with others of its kind (``run_many``)."""

    joint_calls: list[list[str]] = []
    fail_jointly = False

    def __init__(self, pk: int, name: str) -> None:
        self.pk, self.name = pk, name

    def __call__(self) -> None:
        Station.objects.filter(pk=self.pk).update(description=f"alone {self.name}")

    @staticmethod
    def run_many(hooks: list["Noted"]) -> None:
        Noted.joint_calls.append([hook.name for hook in hooks])
        for hook in hooks:
            Station.objects.filter(pk=hook.pk).update(description=f"together {hook.name}")
        if Noted.fail_jointly:
            raise RuntimeError("broken joint call")


@pytest.mark.parametrize("fail_jointly", [False, True])
def test_callbacks_of_one_kind_run_together_and_alone_if_that_fails(fail_jointly: bool) -> None:
    from stations.protocol.committer import _run_hooks

    a, b = StationFactory(), StationFactory()
    seen: list[str] = []

    def other() -> None:
        seen.append("other")

    Noted.joint_calls, Noted.fail_jointly = [], fail_jointly
    _run_hooks([Noted(a.pk, "A"), other, Noted(b.pk, "B")], [])
    # A failing joint call (the first call: "other" comes after it) fails the pass of all
    # together; in the savepoints' pass it fails again, rolls back alone, and each callback then
    # runs on its own.
    assert seen == ["other"]
    assert Noted.joint_calls == [["A", "B"]] * (2 if fail_jointly else 1)
    how = "alone" if fail_jointly else "together"
    assert dict(Station.objects.values_list("pk", "description")) == {a.pk: f"{how} A", b.pk: f"{how} B"}


async def test_the_charger_is_answered_before_the_after_commit_work_runs() -> None:
    station = await database_sync_to_async(StationFactory)()
    gate = threading.Event()
    seen: list[str] = []

    @transaction.atomic
    def slow_hook_item(*, pk: int) -> str:
        Station.objects.filter(pk=pk).update(name="answered")
        transaction.on_commit(lambda: (gate.wait(5), seen.append("hook")))
        return "ok"

    result = await asyncio.wait_for(committer().run(slow_hook_item, pk=station.pk), 3)
    assert result == "ok" and seen == []  # answered while the hook still waits
    gate.set()
    await committer().flush()
    await asyncio.sleep(0.1)
    assert seen == ["hook"]
    await committer().aclose()


def test_live_events_leave_with_the_answers_not_with_the_after_commit_work() -> None:
    a = StationFactory()
    seen: list[str] = []
    items = [item(rename_then_notify, pk=a.pk, name="A", seen=seen), item(rename, pk=a.pk, name="B")]
    events: list[tuple[str, dict[str, Any]]] = []
    hooks: list[Any] = []
    _execute(items, [], events, hooks)
    assert [e["name"] for _, e in events] == ["B"] and len(hooks) == 1


def test_clean_after_commit_work_makes_no_savepoints() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stations.protocol.committer import _run_hooks

    a, b = StationFactory(), StationFactory()
    seen: list[str] = []
    items = [item(rename_then_notify, pk=a.pk, name="A", seen=seen),
             item(rename_then_notify, pk=b.pk, name="B", seen=seen)]
    hooks: list[Any] = []
    _execute(items, [], [], hooks)
    Noted.joint_calls, Noted.fail_jointly = [], False
    with CaptureQueriesContext(connection) as queries:
        _run_hooks(hooks + [Noted(a.pk, "A")], [])
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert "SAVEPOINT" not in statements and "RELEASE" not in statements
    assert seen == ["A", "B"]
    assert dict(Station.objects.values_list("pk", "description")) == {a.pk: "together A", b.pk: "noted B"}


def test_what_failed_after_commit_work_noted_is_taken_back_before_each_runs_alone() -> None:
    from unittest import mock

    from core.events import publish
    from core.tasks import enqueue, enqueue_many
    from core.tests.test_enqueue import record
    from stations.protocol.committer import _run_hooks

    def noting() -> None:  # notes a task and an event directly, not at the commit
        enqueue(record, 1)
        publish("dashboard", {"type": "noted"})

    def failing() -> None:
        raise RuntimeError("broken hook")

    events: list[tuple[str, dict[str, Any]]] = []
    with mock.patch.object(record, "delay") as single, mock.patch.object(enqueue_many, "delay") as many:
        _run_hooks([noting, failing], events)
    single.assert_called_once_with(1)  # once, from the savepoints' pass
    many.assert_not_called()
    assert events == [("dashboard", {"type": "noted"})]


def test_the_tasks_a_batch_of_after_commit_work_enqueues_leave_as_one_message() -> None:
    from unittest import mock

    from core.tasks import enqueue, enqueue_many
    from core.tests.test_enqueue import record
    from stations.protocol.committer import _run_hooks

    with mock.patch.object(enqueue_many, "delay") as many, mock.patch.object(record, "delay") as single:
        _run_hooks([lambda: enqueue(record, 1), lambda: transaction.on_commit(lambda: enqueue(record, 2))], [])
    single.assert_not_called()
    many.assert_called_once_with([["core.tests.record", [1]], ["core.tests.record", [2]]])


@pytest.mark.redis
async def test_a_batch_skips_the_groups_nobody_joined() -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("station.WATCHED", channel)
    sent: list[str] = []
    original = layer.group_send

    async def recording(group: str, message: dict[str, Any]) -> None:
        sent.append(group)
        await original(group, message)

    layer.group_send = recording  # type: ignore[method-assign]
    try:
        await _send_events([("station.WATCHED", {"type": "a"}), ("station.UNWATCHED", {"type": "b"})], layer)
    finally:
        del layer.group_send
    assert sent == ["station.WATCHED"]
    assert (await asyncio.wait_for(layer.receive(channel), 5))["event"] == {"type": "a"}
    await layer.group_discard("station.WATCHED", channel)


async def test_a_loop_has_one_committer_until_it_is_closed() -> None:
    first = committer()
    assert committer() is first
    await first.aclose()
    second = committer()
    assert second is not first and committer() is second
    await second.aclose()


async def test_a_lane_hands_its_connection_back_after_each_batch() -> None:
    """Like ``database_sync_to_async``: after a batch the lane's connection goes back to the pool
    (which checks it before the next hand-out), so one that died meanwhile fails no charger."""
    from django.db import connection

    from stations.protocol.committer import GroupCommitter

    lanes = GroupCommitter(lanes=1)
    try:
        def held() -> bool:
            return connection.connection is not None

        assert await lanes.run(held) is True  # during the batch
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(lanes._executor, held) is False  # after it, on the same thread
    finally:
        await lanes.aclose()


async def test_the_message_log_rides_on_a_batch_when_due_and_a_flush_takes_it_all() -> None:
    """Log rows wait for a batch at least LOG_EVERY_SECONDS after the last one that took them
    (or for LOG_ROWS of them); a flush writes them whatever the time."""
    from unittest import mock

    from stations.protocol import committer as module

    station = await database_sync_to_async(StationFactory)()
    count = database_sync_to_async(lambda: OcppMessage.objects.filter(station=station).count())
    lanes = module.GroupCommitter(lanes=1)

    def row(n: int) -> OcppMessage:
        return OcppMessage(charge_point_id=station.charge_point_id, station_id=station.pk, direction="in",
                           message_type=2, unique_id=str(n))

    try:
        with mock.patch.object(module, "LOG_EVERY_SECONDS", 3600):
            lanes.log(row(1))
            await lanes.run(rename, pk=station.pk, name="first")  # the first batch takes what waits
            assert await count() == 1
            lanes.log(row(2))
            await lanes.run(rename, pk=station.pk, name="second")  # not due: the row waits
            assert await count() == 1
            for n in range(module.LOG_ROWS):
                lanes.log(row(100 + n))
            await lanes.run(rename, pk=station.pk, name="third")  # enough rows: due
            assert await count() == 2 + module.LOG_ROWS
            lanes.log(row(3))
            await lanes.flush()
            assert await count() == 3 + module.LOG_ROWS
    finally:
        await lanes.aclose()
