"""Group commit for the OCPP endpoint: many chargers' writes, one database transaction.

Every charger message that writes goes through ``GroupCommitter.run(fn, **kwargs)``. Work that
arrives while the lanes are busy is gathered and run together on a lane (a thread with its own
database connection), inside one ``transaction.atomic()``; the services' own outermost atomic
blocks are skipped there (no SAVEPOINT/RELEASE round trips). If anything in the batch fails, it is
rolled back and each item runs again in its own transaction (a second time for deadlock victims),
so one bad item never takes the others down. The caller's future resolves only after the COMMIT:
a charger is answered only once its data is durable. The same batch also carries:

- the OCPP message log rows that waited (one INSERT for all of them), at most every
  LOG_EVERY_SECONDS;
- live events published on commit, sent from the event loop after the batch (never one blocking
  Redis round trip each on the ORM thread);
- the after-commit work the services registered (notifications, receipts, e-mails), run once the
  chargers have their answers, in one database transaction for the whole batch.

Last-seen times are written apart: one UPDATE for all stations every IDLE_FLUSH_SECONDS, skipping
rows a running batch has locked (heartbeats cost no statement of their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from concurrent.futures import ThreadPoolExecutor

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction

from core.events import PublishOnCommit, publish_deferred

logger = logging.getLogger(__name__)

# A batch's items wait for each other: keep its latency bounded. But lanes × MAX_BATCH items is all
# that is in flight: with two lanes, 64 capped a fleet of 5,000 chargers (1,000 calls/s offered)
# at 294 answers/s, p50 14.6 s; 256 answered 796-798/s, p50 33-53 ms (the bare server: 799/s).
MAX_BATCH = 256
IDLE_FLUSH_SECONDS = 0.25  # log rows and last-seen times with no other traffic to ride on
# The message log rides on a batch at most every LOG_EVERY_SECONDS, or once LOG_ROWS rows wait:
# in a fleet's steady traffic (batches of two or three calls) its INSERT with every batch was a
# quarter of each batch's time (0.36 ms of 1.4 ms). The rows are a diagnostic record, not the
# chargers' data: they need not commit with the calls they record.
LOG_EVERY_SECONDS = 0.05
LOG_ROWS = 256


class _Item:
    __slots__ = ("fn", "kwargs", "future", "ok", "result")

    def __init__(self, fn: Callable[..., Any], kwargs: dict[str, Any], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.kwargs = kwargs
        self.future = future
        self.ok = False
        self.result: Any = None


class GroupCommitter:
    def __init__(self, lanes: int | None = None) -> None:
        self._items: list[_Item] = []
        self._first = 0  # how many items at the head of the queue came through run_first
        self._log: list[Any] = []
        self._log_taken = float("-inf")  # loop time the log last left with a batch
        self._log_now = False  # the next batch takes the log, due or not (flush)
        self._seen: dict[int, tuple[datetime, str]] = {}
        self._lanes = lanes or _default_lanes()
        self._busy = 0
        self._executor = ThreadPoolExecutor(max_workers=self._lanes, thread_name_prefix="ocpp-db")
        self._seen_task: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- producers (event loop) ---------------------------------------------------------------

    async def run(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """Run ``fn(**kwargs)`` in the next batch; return its result after the batch committed.

        ``fn`` must own a ``transaction.atomic`` block (all domain services do): it becomes the
        item's savepoint, so a failing item rolls back alone.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._items.append(_Item(fn, kwargs, future))
        self._dispatch()
        return await future

    async def run_first(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """``run``, ahead of the queue: handshakes, which the server must finish within its
        handshake timeout (daphne: 5 s) even while a boot storm's BootNotifications wait."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._items.insert(self._first, _Item(fn, kwargs, future))
        self._first += 1
        self._dispatch()
        return await future

    def log(self, row: Any) -> None:
        """Queue a message-log row (``stations.services.LogRow`` or an ``OcppMessage``); written
        with the next batch (or within IDLE_FLUSH_SECONDS)."""
        self._log.append(row)
        self._flush_soon()

    def seen(self, station_id: int, when: datetime, channel_name: str) -> None:
        """Remember that a station spoke; written within IDLE_FLUSH_SECONDS (lazy last-seen)."""
        self._seen[station_id] = (when, channel_name)
        self._flush_soon()

    async def flush(self) -> None:
        """Write everything queued now (tests, shutdown)."""
        self._log_now = True
        await self.run(_noop)
        await self._write_seen()

    async def aclose(self) -> None:
        """Flush, then close the lanes' database connections (tests; a server just exits)."""
        await self.flush()
        barrier = threading.Barrier(self._lanes)

        def close_connection() -> None:
            from django.db import connections

            connections.close_all()
            barrier.wait(timeout=5)  # one call per thread: each lane closes its own connection

        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, close_connection) for _ in range(self._lanes)))
        self._executor.shutdown(wait=False)
        _committers.pop(loop, None)
        with contextlib.suppress(AttributeError):
            del loop._csms_committer  # type: ignore[attr-defined]

    def _flush_soon(self) -> None:
        if self._idle_timer is None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(IDLE_FLUSH_SECONDS, self._idle_flush)

    def _idle_flush(self) -> None:
        self._idle_timer = None
        if self._log and not self._busy:
            self._start_lane([], self._take_log())
        if self._seen and (self._seen_task is None or self._seen_task.done()):
            self._seen_task = self._spawn(self._write_seen())
        if self._log or self._seen:
            self._flush_soon()

    def _take_log(self, *, when_due: bool = False) -> list[Any]:
        now = asyncio.get_running_loop().time()
        if when_due and not self._log_now and len(self._log) < LOG_ROWS and now - self._log_taken < LOG_EVERY_SECONDS:
            return []
        self._log_taken, self._log_now = now, False
        log, self._log = self._log, []
        return log

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- lanes --------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        # Up to ``lanes`` batches in flight, each on its own thread and database connection: one
        # batch's round trips overlap another's. Work arriving meanwhile waits for a free lane and
        # then goes in one batch (the group commit).
        while self._items and self._busy < self._lanes:
            items, self._items = self._items[:MAX_BATCH], self._items[MAX_BATCH:]
            self._first = max(0, self._first - len(items))
            self._start_lane(items, self._take_log(when_due=True))

    def _start_lane(self, items: list[_Item], log: list[Any]) -> None:
        self._busy += 1
        self._spawn(self._lane(items, log))

    async def _lane(self, items: list[_Item], log: list[Any]) -> None:
        events: list[tuple[str, dict[str, Any]]] = []
        hooks: list[Callable[[], Any]] = []
        try:
            try:
                await self._on_lane(_execute, items, log, events, hooks)
            except Exception as exc:  # the COMMIT itself failed: every item learns it
                logger.exception("group commit failed")
                for item in items:
                    item.ok, item.result = False, exc
            # The chargers are answered as soon as their data is committed...
            for item in items:
                if item.future.done():
                    continue
                if item.ok:
                    item.future.set_result(item.result)
                else:
                    item.future.set_exception(item.result)
            if events:
                self._spawn(_send_events(events))
            # ...and the batch's after-commit work (notifications, receipts, e-mails) runs after
            # that, on this lane, in one database transaction. The lane stays busy meanwhile, so
            # that work never piles up behind the chargers' traffic.
            if hooks:
                hook_events: list[tuple[str, dict[str, Any]]] = []
                try:
                    await self._on_lane(_run_hooks, hooks, hook_events)
                except Exception:
                    logger.exception("after-commit work of a batch failed")
                if hook_events:
                    self._spawn(_send_events(hook_events))
        finally:
            self._busy -= 1
        self._dispatch()

    def _on_lane(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """``fn(*args)`` on a lane thread, with what Channels' ``database_sync_to_async`` does
        around it (stale connections closed before and after) and nothing else: asgiref's
        copy of the context, its task and deadlock bookkeeping made each batch 20 % slower in
        a fleet of 5,000 (batch p50 7.5-8.1 ms against 6.0-6.2 ms, fleet p99 70-102 ms against
        57-61 ms, alternating runs). The lanes' code needs none of it: it runs no async code,
        and Django's connections, kept per context, are then simply the lane thread's own."""
        return asyncio.get_running_loop().run_in_executor(self._executor, _lane_call, fn, *args)

    async def _write_seen(self) -> None:
        from stations.services import station_last_seen_bulk

        if not self._seen:
            return
        seen, self._seen = self._seen, {}
        try:
            done = await self._on_lane(functools.partial(_atomic_call, station_last_seen_bulk, seen=seen))
        except Exception:
            logger.exception("could not write last-seen times of %d stations", len(seen))
            return
        for pk, value in seen.items():  # rows a running write had locked: next round
            if pk not in done:
                self._seen.setdefault(pk, value)


def _lane_call(fn: Callable[..., Any], *args: Any) -> Any:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


def _default_lanes() -> int:
    # SQLite allows one writer at a time: more lanes would only wait for its lock.
    return max(1, settings.CSMS_OCPP_DB_LANES) if connection.vendor == "postgresql" else 1


def _atomic_call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    with transaction.atomic():
        return fn(**kwargs)


def _noop() -> None:
    return None


def _execute(
    items: list[_Item], log: list[Any], events: list[tuple[str, dict[str, Any]]],
    hooks: list[Callable[[], Any]] | None = None,
) -> None:
    """Run a batch in one transaction; on any failure, run each item on its own instead.

    The optimistic pass calls each service without its own ``atomic`` and makes no savepoints for
    the ``atomic`` blocks nested inside (``_without_savepoints``): normally nothing fails and the
    batch costs one BEGIN and one COMMIT around its statements. If anything raises, the whole
    pass is rolled back (with its on-commit hooks) and every item runs again in its own
    transaction, with savepoints, so one bad item never takes the others down.
    """
    from stations.services import ocpp_messages_record

    pending: list[tuple[str, dict[str, Any]]] = []
    try:
        with publish_deferred(pending):
            with transaction.atomic(), _without_savepoints():
                _run_items(items)
                if log:
                    ocpp_messages_record(messages=log)
                if connection.needs_rollback:
                    # An item caught the error of a nested block, which had no savepoint: the
                    # outermost block would roll back without a word. Run each on its own.
                    raise DatabaseError("a nested block failed without its savepoint")
                if hooks is not None:
                    # After-commit work is taken out of Django's list: it runs after the answers
                    # (``_run_hooks``). Live events stay: at the commit they join ``pending``.
                    hooks.extend(f for _s, f, _r in connection.run_on_commit if not isinstance(f, PublishOnCommit))
                    connection.run_on_commit = [h for h in connection.run_on_commit if isinstance(h[1], PublishOnCommit)]
        for item in items:
            item.ok = True
        events.extend(pending)
        return
    except Exception:
        if hooks is not None:
            hooks.clear()  # rolled back: the items' own transactions below run their hooks
    with publish_deferred(events):
        for item in items:
            item.ok = False
            for attempt in (1, 2):  # a second chance for deadlock victims and the like
                try:
                    with transaction.atomic():
                        item.result = item.fn(**item.kwargs)
                    item.ok = True
                    break
                except DatabaseError as exc:
                    item.result = exc
                except Exception as exc:  # the handler answers InternalError
                    item.result = exc
                    break
        if log:
            try:
                with transaction.atomic():
                    ocpp_messages_record(messages=log)
            except DatabaseError:
                logger.exception("could not write %d OCPP log rows", len(log))


@contextlib.contextmanager
def _without_savepoints() -> Iterator[None]:
    """Nested ``atomic`` blocks make no savepoint on this thread's connection meanwhile.

    Each savepoint costs two round trips (SAVEPOINT, RELEASE), each a wait for the GIL on the way
    back: a StopTransaction's settlement and ledger debit nest two. The optimistic pass needs
    none, since any exception rolls the whole batch back and every item runs again in its own
    transaction, with savepoints. Django's ``atomic`` reads the connection's
    ``features.uses_savepoints``; without one, an exception in a nested block marks the whole
    transaction for rollback (``needs_rollback``), so even code that catches it cannot commit a
    half-done item: the next query or the batch's end raises, and the batch is run again.
    """
    features = connection.features
    features.uses_savepoints = False  # an instance attribute over the class's True
    try:
        yield
    finally:
        del features.uses_savepoints


def _run_items(items: list[_Item]) -> None:
    """The optimistic pass's items, in order; a service with a ``many`` form (MeterValues) runs
    once for all its items, at the place of the first (they come from different chargers: one
    call in flight per charger)."""
    groups: dict[Any, list[_Item]] = {}
    if connection.vendor == "postgresql":
        for item in items:
            if getattr(item.fn, "many", None) is not None:
                groups.setdefault(item.fn, []).append(item)
    done: set[int] = set()
    for item in items:
        if id(item) in done:
            continue
        group = groups.get(item.fn)
        if group is not None and len(group) > 1:
            for member, result in zip(group, item.fn.many([member.kwargs for member in group])):
                member.result = result
                done.add(id(member))
            continue
        item.result = _unwrapped(item.fn)(**item.kwargs)


def _run_hooks(hooks: list[Callable[[], Any]], events: list[tuple[str, dict[str, Any]]]) -> None:
    """A batch's after-commit callbacks in one database transaction. Those of one kind that can
    run together (``run_many``: the sessions' notifications) are one call; the Celery tasks they
    enqueue leave together afterwards (``core.tasks.enqueue``).

    First all together without savepoints (``_hooks_together``); if anything fails there, the
    pass is rolled back and each runs again in a savepoint of its own: one that fails rolls back
    alone and is logged (the chargers' data is committed already). Those that only enqueue tasks
    (``savepoint = False``) need no savepoint even then."""
    from core.tasks import enqueue_batched, enqueue_flush

    calls: list[tuple[str, tuple[Any, ...]]] = []
    with publish_deferred(events), enqueue_batched(calls):
        if not _hooks_together(hooks, events, calls):
            try:
                with transaction.atomic():
                    for run, members in _hook_runs(hooks):
                        if _hook_run(run) or len(members) == 1:
                            continue
                        for member in members:  # the joint call failed: each on its own
                            _hook_run(member)
            except DatabaseError:
                logger.exception("could not commit the after-commit work of %d callbacks", len(hooks))
    try:
        enqueue_flush(calls)  # the Celery tasks the callbacks asked for: one message
    except Exception:  # broker down: the periodic jobs catch up (e-mail retry, receipts)
        logger.exception("could not enqueue %d tasks", len(calls))


def _hooks_together(
    hooks: list[Callable[[], Any]], events: list[tuple[str, dict[str, Any]]],
    calls: list[tuple[str, tuple[Any, ...]]],
) -> bool:
    """The optimistic pass of ``_run_hooks``: every call in one transaction, no savepoints (each
    cost two round trips: a batch's notices and status changes made two to four, a tenth of the
    lanes' time at saturation). True when it committed. False when something failed before the
    commit: then nothing of it stands (rolled back, its on-commit work dropped, the events and
    tasks it noted directly taken back), and the caller runs each again with its savepoint."""
    marks = len(events), len(calls)
    committed: list[bool] = []
    try:
        with transaction.atomic(), _without_savepoints():
            # The first on-commit callback, so the first to run once the COMMIT went through.
            transaction.on_commit(lambda: committed.append(True))
            for run, _members in _hook_runs(hooks):
                run()
            if connection.needs_rollback:  # a caught error of a nested block (see _execute)
                raise DatabaseError("a nested block failed without its savepoint")
        return True
    except Exception:
        if committed:  # an on-commit callback failed after the COMMIT: the work stands
            raise
        del events[marks[0]:], calls[marks[1]:]
        logger.debug("after-commit work failed together; each runs on its own", exc_info=True)
        return False


def _hook_run(hook: Callable[[], Any]) -> bool:
    try:
        if getattr(hook, "savepoint", True):
            with transaction.atomic():
                hook()
        else:
            hook()
        return True
    except Exception:
        logger.exception("after-commit work failed: %r", hook)
        return False


def _hook_runs(hooks: list[Callable[[], Any]]) -> list[tuple[Callable[[], Any], list[Callable[[], Any]]]]:
    """The calls to make, in order, each with the callbacks it stands for: those with a
    ``run_many`` (PostgreSQL) as one call, at the place of the first."""
    grouping = connection.vendor == "postgresql"
    groups: dict[Any, list[Any]] = {}
    for hook in hooks:
        many = getattr(hook, "run_many", None) if grouping else None
        if many is not None:
            groups.setdefault(many, []).append(hook)
    runs: list[tuple[Callable[[], Any], list[Callable[[], Any]]]] = []
    for hook in hooks:
        many = getattr(hook, "run_many", None) if grouping else None
        if many is None:
            runs.append((hook, [hook]))
        elif many in groups:  # the first of its kind: the joint call (the others are in it)
            members = groups.pop(many)
            runs.append((functools.partial(many, members), members))
    return runs


def _unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The service without its outermost ``@transaction.atomic`` (the batch is the transaction)."""
    return getattr(fn, "__wrapped__", fn)


_EVENT_CONCURRENCY = 32


def _coalesce(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """One channel-layer message per group: its events in publishing order.

    A batch's events mostly go to a few groups (the dashboard's, each station's, users'); one
    ``group_send`` (one Redis round trip, one queued message per listening socket) per group
    instead of one per event. A lone event keeps the ``live.event`` shape; several go as
    ``live.events``, which every consumer handling ``live.event`` also handles. Nothing is
    dropped: a charger has at most one message in a batch (its next call waits for the answer),
    so superseding snapshots of one transaction or station hardly ever meet in one batch, and
    the pages rely on the order of events (a new session's ``transaction`` before its ``meter``).
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for group, event in events:
        grouped.setdefault(group, []).append(event)
    return [
        (group, {"type": "live.event", "event": batch[0]} if len(batch) == 1
         else {"type": "live.events", "events": batch})
        for group, batch in grouped.items()
    ]


async def _send_events(events: list[tuple[str, dict[str, Any]]], layer: Any = None) -> None:
    if layer is None:
        layer = get_channel_layer()
    if layer is None:
        return
    gate = asyncio.Semaphore(_EVENT_CONCURRENCY)  # stay well inside the Redis connection pool

    async def send(group: str, message: dict[str, Any]) -> None:
        async with gate:
            await layer.group_send(group, message)

    messages = _coalesce(events)
    if len(messages) > 1 and hasattr(layer, "groups_with_members"):
        try:  # groups nobody joined (most stations' groups, most of the time) cost nothing
            listened = await layer.groups_with_members([group for group, _message in messages])
            messages = [(group, message) for group, message in messages if group in listened]
        except Exception:  # cannot tell: send them all
            logger.debug("could not check the groups' members", exc_info=True)
    results = await asyncio.gather(*(send(group, message) for group, message in messages), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            logger.warning("could not publish live event: %s", result)
            break


_committers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommitter] = weakref.WeakKeyDictionary()


def committer() -> GroupCommitter:
    """The committer of the running event loop (one per server process).

    Kept on the loop object itself as well: this runs several times for every frame, and a
    ``WeakKeyDictionary`` lookup (a new weak reference each time) cost 2 % of the server's time
    in the saturation benchmark. A loop that takes no attributes (uvloop's) uses the mapping."""
    loop = asyncio.get_running_loop()
    found: GroupCommitter | None = getattr(loop, "_csms_committer", None)
    if found is not None:
        return found
    found = _committers.get(loop)
    if found is None:
        found = _committers[loop] = GroupCommitter()
    with contextlib.suppress(AttributeError):
        loop._csms_committer = found  # type: ignore[attr-defined]
    return found
