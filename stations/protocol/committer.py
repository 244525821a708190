"""Group commit for the OCPP endpoint: many chargers' writes, one database transaction.

Every charger message that writes goes through ``GroupCommitter.run(fn, **kwargs)``. Work that
arrives while a batch is in flight is gathered and run together on the ORM thread, inside one
``transaction.atomic()``: each domain function still owns its own atomic block (a savepoint here),
so one failing item rolls back alone. The caller's future resolves only after the COMMIT, so a
charger is answered only once its data is durable. The same batch also carries:

- the OCPP message log rows (one INSERT for all of them);
- last-seen times (one UPDATE for all stations; heartbeats cost no statement of their own);
- live events published on commit, sent from the event loop after the batch (never one blocking
  Redis round trip each on the ORM thread).

Items failing with a database error (deadlock, serialization) are retried once on their own.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import DatabaseError, transaction

from core.events import publish_deferred
from stations.models import OcppMessage

logger = logging.getLogger(__name__)

MAX_BATCH = 256
IDLE_FLUSH_SECONDS = 0.25  # log rows and last-seen times with no other traffic to ride on


class _Item:
    __slots__ = ("fn", "kwargs", "future", "ok", "result")

    def __init__(self, fn: Callable[..., Any], kwargs: dict[str, Any], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.kwargs = kwargs
        self.future = future
        self.ok = False
        self.result: Any = None


class GroupCommitter:
    def __init__(self) -> None:
        self._items: list[_Item] = []
        self._log: list[OcppMessage] = []
        self._seen: dict[int, tuple[datetime, str]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

    # --- producers (event loop) ---------------------------------------------------------------

    async def run(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """Run ``fn(**kwargs)`` in the next batch; return its result after the batch committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._items.append(_Item(fn, kwargs, future))
        self._ensure_running()
        self._wake.set()
        return await future

    def log(self, row: OcppMessage) -> None:
        """Queue a message-log row; written with the next batch (or within IDLE_FLUSH_SECONDS)."""
        self._log.append(row)
        self._flush_soon()

    def seen(self, station_id: int, when: datetime, channel_name: str) -> None:
        """Remember that a station spoke; written with the next batch (lazy last-seen)."""
        self._seen[station_id] = (when, channel_name)
        self._flush_soon()

    def forget(self, station_id: int) -> None:
        self._seen.pop(station_id, None)

    async def flush(self) -> None:
        """Write everything queued now (tests, disconnects)."""
        await self.run(_noop)

    def _flush_soon(self) -> None:
        if self._idle_timer is None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(IDLE_FLUSH_SECONDS, self._idle_flush)

    def _idle_flush(self) -> None:
        self._idle_timer = None
        if self._log or self._seen:
            self._ensure_running()
            self._wake.set()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="ocpp-group-commit")

    # --- the batch loop -----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Let handlers that are runnable right now enqueue as well (cheap gathering).
            await asyncio.sleep(0)
            while self._items or self._log or self._seen:
                items, self._items = self._items[:MAX_BATCH], self._items[MAX_BATCH:]
                log, self._log = self._log, []
                seen, self._seen = self._seen, {}
                events: list[tuple[str, dict[str, Any]]] = []
                try:
                    await database_sync_to_async(_execute)(items, log, seen, events)
                except Exception as exc:  # the COMMIT itself failed: every item learns it
                    logger.exception("group commit failed")
                    for item in items:
                        item.ok, item.result = False, exc
                for item in items:
                    if item.future.done():
                        continue
                    if item.ok:
                        item.future.set_result(item.result)
                    else:
                        item.future.set_exception(item.result)
                if events:
                    asyncio.get_running_loop().create_task(_send_events(events))


def _noop() -> None:
    return None


def _execute(
    items: list[_Item], log: list[OcppMessage], seen: dict[int, tuple[datetime, str]],
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    from stations.services import ocpp_messages_record, station_last_seen_bulk

    retry: list[_Item] = []
    with publish_deferred(events):
        with transaction.atomic():
            for item in items:
                try:
                    item.result = item.fn(**item.kwargs)
                    item.ok = True
                except DatabaseError as exc:
                    item.result = exc
                    retry.append(item)
                except Exception as exc:  # the handler answers InternalError; others go on
                    item.result = exc
            if log:
                try:
                    with transaction.atomic():
                        ocpp_messages_record(messages=log)
                except DatabaseError:
                    logger.exception("could not write %d OCPP log rows", len(log))
            if seen:
                with transaction.atomic():
                    station_last_seen_bulk(seen=seen)
        for item in retry:  # deadlock victims and the like, on their own
            try:
                with transaction.atomic():
                    item.result = item.fn(**item.kwargs)
                item.ok = True
            except Exception as exc:
                item.result = exc


async def _send_events(events: list[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    # Many events of a batch go to the same groups; send them concurrently.
    results = await asyncio.gather(
        *(layer.group_send(group, {"type": "live.event", "event": event}) for group, event in events),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            logger.warning("could not publish live event: %s", result)
            break


_committers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommitter] = weakref.WeakKeyDictionary()


def committer() -> GroupCommitter:
    """The committer of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _committers.get(loop)
    if found is None:
        found = _committers[loop] = GroupCommitter()
    return found
