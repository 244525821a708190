"""The Redis channel layer with a slimmer receive buffer per channel and a one-round-trip send.

channels-redis keeps one ``BoundedQueue`` (an ``asyncio.Queue``: three deques and an Event, about
3.3 KB) for every channel a coroutine is receiving on, and every connected charger's consumer
receives on its own channel all the time (remote commands, close requests reach it that way). At
10,000 chargers that is 32 MiB for empty queues. ``SlimQueue`` does the same job (capacity, oldest
message dropped when full, FIFO, cancellable ``get``) in a couple of hundred bytes, allocating its
lists only when used.

channels-redis's ``send`` makes four sequential round trips to Redis (drop expired messages, count,
add, set the expiry), each one a wait on the event loop; on the remote-control path a command and
its result are each one send. ``RedisChannelLayer.send`` runs the same four steps as one script.
Its receive writes each popped message to a backup key before handing it out, deletes it after,
and runs a script restoring such copies before each pop: three more round trips per message, one of
them between the message's arrival and its delivery. The copy is written after the pop and guards
only against a cancellation during that very write (nothing awaits between a pop and the hand-out
otherwise), so ``RedisChannelLayer`` pops and hands out.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer as _RedisChannelLayer

# channels-redis's send, step for step: drop the expired messages, refuse when at capacity, add
# the message scored by its time, renew the key's expiry. Returns 0 when the channel is full.
_SEND_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# Which of KEYS exist: 1 or 0 for each, in order.
_EXISTS_SCRIPT = "local found = {} for i, key in ipairs(KEYS) do found[i] = redis.call('EXISTS', key) end return found"


class SlimQueue:
    """What channels-redis uses of its per-channel ``BoundedQueue``: ``empty``, ``qsize``,
    ``full``, ``put_nowait`` (dropping the oldest message when full), ``get_nowait``, ``get``."""

    __slots__ = ("_maxsize", "_items", "_getters")

    def __init__(self, maxsize: int = 0) -> None:
        self._maxsize = maxsize
        self._items: collections.deque[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def full(self) -> bool:
        return 0 < self._maxsize <= self.qsize()

    def put_nowait(self, item: Any) -> None:
        if self.full():
            self.get_nowait()  # like channels-redis: a reader that stopped loses the oldest
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self._wake_one()

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get(self) -> Any:
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                if waiter in self._getters:
                    self._getters.remove(waiter)
                if self._items:
                    self._wake_one()  # a wake-up this getter took must not be lost
                raise
        return self.get_nowait()

    def _wake_one(self) -> None:
        getters = self._getters
        while getters:
            waiter = getters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return


class RedisChannelLayer(_RedisChannelLayer):  # type: ignore[misc]
    """channels-redis's layer with ``SlimQueue`` receive buffers (settings: CHANNEL_LAYERS), a
    send in one round trip, a receive without the backup copies, and ``groups_with_members`` for
    senders of many groups at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_buffer = collections.defaultdict(functools.partial(SlimQueue, self.capacity))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """channels-redis's ``send`` (same keys, scores, capacity and expiry), in one script run."""
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        channel_non_local_name = channel
        if "!" in channel:  # a process-local channel: the receiving process routes on the full name
            message = {**message, "__asgi_channel__": channel}
            channel_non_local_name = self.non_local_name(channel)
            index = self.consistent_hash(channel)
        else:
            index = next(self._send_index_generator)
        now = time.time()
        added = await self.connection(index).eval(
            _SEND_SCRIPT, 1, self.prefix + channel_non_local_name,
            int(now) - int(self.expiry), self.get_capacity(channel), now, self.serialize(message), int(self.expiry),
        )
        if not added:
            raise ChannelFull()

    async def _brpop_with_clean(self, index: int, channel: str, timeout: int) -> bytes | None:
        """Pop the oldest message, without channels-redis's backup copy (see the module's doc)."""
        result = await self.connection(index).bzpopmin(channel, timeout=timeout)
        return None if result is None else result[1]

    async def _clean_receive_backup(self, index: int, channel: str) -> None:
        """There is no backup copy to remove."""

    async def groups_with_members(self, groups: list[str]) -> set[str]:
        """Which of these groups anyone has joined, in one round trip per Redis host.

        A group nobody joined has no key in Redis, and ``group_send`` to it does nothing but
        costs a script run: the group committer publishes every station's events to the
        station's group, which only an open station page joins.
        """
        by_host: dict[int, list[str]] = {}
        for group in groups:
            by_host.setdefault(self.consistent_hash(group), []).append(group)
        found: set[str] = set()
        for index, names in by_host.items():
            # One script call, not a pipeline of one EXISTS per group: redis-py builds and
            # parses each pipelined command in Python (4 % of the server's CPU at saturation).
            flags = await self.connection(index).eval(_EXISTS_SCRIPT, len(names), *map(self._group_key, names))
            found.update(name for name, flag in zip(names, flags) if flag)
        return found
