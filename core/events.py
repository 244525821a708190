"""Live events for pages and apps, sent after the database transaction commits.

Services call ``publish_on_commit(group, event)``; the dashboard and notification WebSocket
consumers join the groups and forward events to browsers. Nothing here decides anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

DASHBOARD_GROUP = "dashboard"


def station_group(charge_point_id: str) -> str:
    """Group of pages watching one station (group names allow ``[a-zA-Z0-9._-]``)."""
    return "station." + "".join(c if c.isalnum() or c in "._-" else "_" for c in charge_point_id)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


_deferred = threading.local()


@contextmanager
def publish_deferred(sink: list[tuple[str, dict[str, Any]]]) -> Iterator[None]:
    """Within this block (on this thread), ``publish`` appends ``(group, event)`` to ``sink``
    instead of sending. The OCPP consumer's group committer uses it so that a batch's on-commit
    events leave from the event loop afterwards, not one blocking round trip each on the DB thread."""
    previous = getattr(_deferred, "sink", None)
    _deferred.sink = sink
    try:
        yield
    finally:
        _deferred.sink = previous


def publish(group: str, event: dict[str, Any]) -> None:
    sink = getattr(_deferred, "sink", None)
    if sink is not None:
        sink.append((group, event))
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "live.event", "event": event})
    except Exception:  # a page missing an update must never break the domain write
        logger.exception("could not publish live event to %s", group)


async def apublish(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, {"type": "live.event", "event": event})
    except Exception:
        logger.exception("could not publish live event to %s", group)


class PublishOnCommit:
    """The on-commit callback of ``publish_on_commit`` (a class, so the group committer can tell
    it from other after-commit work: live events leave with the answers, the rest after them)."""

    __slots__ = ("group", "event")

    def __init__(self, group: str, event: dict[str, Any]) -> None:
        self.group = group
        self.event = event

    def __call__(self) -> None:
        publish(self.group, self.event)


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(PublishOnCommit(group, event))


def publish_station_on_commit(charge_point_id: str, event: dict[str, Any]) -> None:
    """An event for the dashboard and for the station's own pages, sent at commit."""
    publish_on_commit(DASHBOARD_GROUP, event)
    publish_on_commit(station_group(charge_point_id), event)
