"""Pieces shared by the WebSocket consumers (OCPP, dashboard, notifications)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)


class CancellableLayerReceiveMixin:
    """A channel-layer receive whose cancellation always takes.

    channels' ``AsyncConsumer.__call__`` sets ``self.channel_receive`` to
    ``partial(channel_layer.receive, channel_name)`` and ``await_many_dispatch`` cancels that
    task (once) when the consumer stops, as asyncio's runner does when a loop is closed.
    On Python 3.11 the cancel can be lost: redis-py writes each command through
    ``asyncio.wait_for``, which returns the inner write's result instead of raising when the
    cancel lands just as the write finishes, and channels_redis' ``receive_single`` then goes
    round its ``while content is None`` BZPOPMIN loop for ever, so the consumer (and a test's
    event-loop teardown) hangs on it. Here the layer's receive runs as a task of its own that
    is cancelled again until it really has stopped.
    """

    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict[str, Any]]]:
        return self._receive_from_layer

    @channel_receive.setter
    def channel_receive(self, layer_receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._layer_receive = layer_receive

    async def _receive_from_layer(self) -> dict[str, Any]:
        task = asyncio.ensure_future(self._layer_receive())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            while not task.done():
                task.cancel()
                try:
                    await asyncio.wait([task], timeout=0.1)
                except asyncio.CancelledError:  # cancelled again meanwhile: still stop it first
                    pass
            if not task.cancelled() and task.exception() is None:
                logger.debug("dropped a channel-layer message received while stopping")
            raise
