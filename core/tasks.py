"""Celery tasks for housekeeping (command timeouts, log retention; safe to run twice), and the
batched enqueue the charger endpoint uses.

``enqueue(task, *args)`` is ``task.delay(*args)``, except inside ``enqueue_batched(sink)``: there
the call is only noted, and the group committer sends the batch's notes as one ``enqueue_many``
message after its after-commit work committed (a publish costs about 0.5-1 ms of CPU, and a
charging session's start and stop enqueue three). The worker fans them out to the real tasks, so
each keeps its own retries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app, shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)

_batched = threading.local()


@contextmanager
def enqueue_batched(sink: list[tuple[str, tuple[Any, ...]]]) -> Iterator[None]:
    """Within this block, ``enqueue`` notes ``(task name, args)`` in ``sink`` instead of sending."""
    previous = getattr(_batched, "sink", None)
    _batched.sink = sink
    try:
        yield
    finally:
        _batched.sink = previous


def enqueue(task: Any, *args: Any) -> None:
    """``task.delay(*args)``, or a note in the current ``enqueue_batched`` sink."""
    sink = getattr(_batched, "sink", None)
    if sink is not None:
        sink.append((task.name, args))
        return
    task.delay(*args)


class EnqueueOnCommit:
    """An on-commit callback that only enqueues tasks: ``fn(*args)``, where ``fn`` calls
    ``enqueue``. It does no database work, so the group committer runs it without a savepoint of
    its own (two round trips saved per callback)."""

    __slots__ = ("fn", "args")
    savepoint = False

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn = fn
        self.args = args

    def __call__(self) -> None:
        self.fn(*self.args)

    def __repr__(self) -> str:
        return f"EnqueueOnCommit({getattr(self.fn, '__name__', self.fn)}, {', '.join(map(repr, self.args))})"


def enqueue_flush(calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Send noted calls: one message for several, the task itself for one."""
    if len(calls) == 1:
        name, args = calls[0]
        current_app.tasks[name].delay(*args)
    elif calls:
        enqueue_many.delay([[name, list(args)] for name, args in calls])


@shared_task
def enqueue_many(calls: list[list[Any]]) -> int:
    """The worker's side of a batched enqueue: each call becomes its own task message."""
    sent = 0
    for name, args in calls:
        task = current_app.tasks.get(name)
        if task is None:
            logger.error("enqueue_many: unknown task %s", name)
            continue
        task.delay(*args)
        sent += 1
    return sent


@shared_task
def command_expire_timed_out() -> int:
    """Commands left ``pending`` or ``sent`` past their ``timeout_at`` end as ``timeout``."""
    from stations.jobs import command_expire_timed_out as expire

    return expire(now=timezone.now())


@shared_task
def message_log_purge() -> dict[str, int]:
    """The OCPP message log and the refused attempts past ``CSMS_MESSAGE_LOG_RETENTION_DAYS``
    (and the log beyond ``CSMS_MESSAGE_LOG_MAX_PER_STATION`` per station)."""
    from stations.jobs import refused_connection_purge
    from stations.services import message_log_purge as purge

    now = timezone.now()
    return {"messages": purge(now=now), "refused": refused_connection_purge(now=now)}
