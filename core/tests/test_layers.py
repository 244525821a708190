"""The slim receive buffer behaves like channels-redis's BoundedQueue, on a real Redis layer."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.exceptions import ChannelFull
from channels_redis.core import BoundedQueue

from core.layers import RedisChannelLayer, SlimQueue
from django.conf import settings


async def test_fifo_capacity_and_empty() -> None:
    queue = SlimQueue(2)
    assert queue.empty() and queue.qsize() == 0
    for item in (1, 2, 3):  # full: the oldest goes, like BoundedQueue
        queue.put_nowait(item)
    assert queue.qsize() == 2 and queue.full()
    assert [queue.get_nowait(), await queue.get()] == [2, 3]
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_a_waiting_get_is_woken_and_a_cancelled_one_loses_nothing() -> None:
    queue = SlimQueue(10)
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    first.cancel()
    queue.put_nowait("a")
    await asyncio.sleep(0)
    assert first.cancelled()
    assert await asyncio.wait_for(second, 1) == "a"
    taken = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("b")
    taken.cancel()  # woken, then cancelled before it ran: "b" stays for the next reader
    await asyncio.sleep(0)
    assert await asyncio.wait_for(queue.get(), 1) == "b"


async def test_it_is_a_fraction_of_the_asyncio_queue() -> None:
    import tracemalloc

    def allocated(make: object) -> int:
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        kept = [make() for _ in range(200)]  # type: ignore[operator]
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        assert len(kept) == 200
        return sum(stat.size_diff for stat in after.compare_to(before, "filename"))

    assert allocated(lambda: SlimQueue(100)) * 5 < allocated(lambda: BoundedQueue(100))


@pytest.mark.redis
async def test_the_layer_sends_and_receives_through_redis() -> None:
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix="csms-test-layers")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello", "n": 1})
    await layer.send(channel, {"type": "hello", "n": 2})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 1
    assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 2
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.05)
    await layer.send(channel, {"type": "hello", "n": 3})
    assert (await asyncio.wait_for(waiting, 5))["n"] == 3
    assert isinstance(layer.receive_buffer.default_factory(), SlimQueue)
    await layer.flush()


@pytest.mark.redis
async def test_groups_with_members_names_the_joined_groups_only() -> None:
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix="csms-test-groups")
    channel = await layer.new_channel()
    await layer.group_add("station.JOINED", channel)
    assert await layer.groups_with_members(["station.JOINED", "station.NOBODY", "dashboard"]) == {"station.JOINED"}
    await layer.group_discard("station.JOINED", channel)
    assert await layer.groups_with_members(["station.JOINED"]) == set()
    await layer.flush()


@pytest.mark.redis
async def test_send_keeps_channels_redis_capacity_and_expiry() -> None:
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix="csms-test-send", capacity=2, expiry=30)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello", "n": 1})
    await layer.send(channel, {"type": "hello", "n": 2})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"type": "hello", "n": 3})
    key = layer.prefix + layer.non_local_name(channel)
    connection = layer.connection(layer.consistent_hash(channel))
    assert 0 < await connection.ttl(key) <= 30
    # A message older than the expiry is dropped on the next send, which then has room.
    oldest = (await connection.zrange(key, 0, 0))[0]
    await connection.zadd(key, {oldest: time.time() - 120})
    await layer.send(channel, {"type": "hello", "n": 4})
    assert [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(2)] == [2, 4]
    # A general (not process-local) channel too.
    await layer.send("csms.general", {"type": "hello", "n": 5})
    assert (await asyncio.wait_for(layer.receive("csms.general"), 5))["n"] == 5
    await layer.flush()


@pytest.mark.redis
async def test_receive_leaves_no_backup_key_behind() -> None:
    layer = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix="csms-test-backup")
    channel = await layer.new_channel()
    for n in range(3):
        await layer.send(channel, {"type": "hello", "n": n})
    assert [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(3)] == [0, 1, 2]
    connection = layer.connection(layer.consistent_hash(channel))
    assert await connection.keys(layer.prefix + "*") == []  # neither the channel nor a backup copy
    await layer.flush()
