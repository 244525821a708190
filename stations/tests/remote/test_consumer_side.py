"""The consumer's side of remote control, with the real channel layer and an in-process charger."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from core.exceptions import ChargerCallError, ChargerOffline, ChargerTimeout
from stations.models import Command, ConfigurationKey, Station
from stations.protocol.remote import acall
from stations.tests.remote.charger import REQUESTS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


async def _row(pk: int) -> Command:
    return await database_sync_to_async(Command.objects.get)(pk=pk)


async def test_every_csms_action_reaches_the_charger_as_recorded(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    for action, payload in REQUESTS.items():
        command = await acall(consumer.charge_point_id, action, payload, timeout=5)
        assert command.state == "answered", action
        row = await _row(command.pk)
        assert row.state == "answered"
        assert row.sent_at is not None and row.answered_at is not None
    received = consumer.charger.received
    assert [a for a, _ in received] == list(REQUESTS)
    # The charger got the very payload that was recorded (camelCase, nested keys untouched).
    assert dict(received)["SetChargingProfile"] == REQUESTS["SetChargingProfile"]


async def test_get_configuration_answer_is_returned_and_stored(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    command = await acall(consumer.charge_point_id, "GetConfiguration", {})
    assert {k["key"] for k in command.response["configurationKey"]} == {
        "HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors"}
    stored = await database_sync_to_async(lambda: {
        k.key: (k.value, k.readonly) for k in ConfigurationKey.objects.filter(station__charge_point_id=consumer.charge_point_id)
    })()
    assert stored["NumberOfConnectors"] == ("2", True)


async def test_callerror_answer_fails_the_command(linked_consumer: Any) -> None:
    consumer = await linked_consumer({"Reset": "error"})
    with pytest.raises(ChargerCallError) as caught:
        await acall(consumer.charge_point_id, "Reset", {"type": "Hard"})
    row = await _row(caught.value.extra["command"])
    assert row.state == "failed"
    assert row.error["code"] == "GenericError"


async def test_silent_charger_times_out(linked_consumer: Any) -> None:
    consumer = await linked_consumer({"Reset": "silent"})
    with pytest.raises(ChargerTimeout) as caught:
        await acall(consumer.charge_point_id, "Reset", {"type": "Soft"}, timeout=1.0)
    row = await _row(caught.value.extra["command"])
    assert row.state == "timeout"
    assert row.sent_at is not None


async def test_a_slow_answer_shows_the_row_sent_meanwhile(linked_consumer: Any) -> None:
    consumer = await linked_consumer({"Reset": "silent"})
    pending = asyncio.create_task(acall(consumer.charge_point_id, "Reset", {"type": "Soft"}, timeout=2.0))
    await asyncio.wait_for(consumer.charger.received_event.wait(), 10)
    deadline = time.monotonic() + 5
    while (row := await _row(await _last_command_pk())).state != "sent" and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert row.state == "sent" and row.sent_at is not None
    with pytest.raises(ChargerTimeout):
        await pending


async def _last_command_pk() -> int:
    return await database_sync_to_async(lambda: Command.objects.latest("pk").pk)()


async def test_calls_wait_for_the_charger_to_be_ready(linked_consumer: Any) -> None:
    consumer = await linked_consumer(ready=False)
    pending = asyncio.create_task(acall(consumer.charge_point_id, "ClearCache", {}, timeout=10))
    await asyncio.sleep(0.3)
    assert consumer.charger.received == []
    consumer.ready.set()
    command = await pending
    assert command.state == "answered"


async def test_concurrent_calls_are_sent_one_at_a_time_in_order(linked_consumer: Any) -> None:
    consumer = await linked_consumer({"DataTransfer": 1.0})
    first = asyncio.create_task(acall(consumer.charge_point_id, "DataTransfer", {"vendorId": "A"}))
    await asyncio.wait_for(consumer.charger.received_event.wait(), 10)  # the first is in flight
    second = asyncio.create_task(acall(consumer.charge_point_id, "ClearCache", {}))
    await asyncio.sleep(0.15)
    # The first is in flight (the charger answers after 1 s): the second waits, not sent yet.
    assert [a for a, _ in consumer.charger.received] == ["DataTransfer"]
    results = await asyncio.gather(first, second)
    assert [c.state for c in results] == ["answered", "answered"]
    assert [a for a, _ in consumer.charger.received] == ["DataTransfer", "ClearCache"]
    assert results[0].answered_at <= results[1].sent_at


async def test_wait_false_returns_at_once_and_the_consumer_records_the_answer(linked_consumer: Any) -> None:
    consumer = await linked_consumer({"GetConfiguration": 0.2})
    command = await acall(consumer.charge_point_id, "GetConfiguration", {"key": ["HeartbeatInterval"]}, wait=False)
    assert command.state in ("pending", "sent")
    deadline = time.monotonic() + 5
    while (row := await _row(command.pk)).state != "answered" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert row.response == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}
    assert await database_sync_to_async(
        ConfigurationKey.objects.filter(station__charge_point_id=consumer.charge_point_id, key="HeartbeatInterval").exists
    )()


async def test_disconnect_ends_queued_commands_offline(linked_consumer: Any) -> None:
    consumer = await linked_consumer({"Reset": "silent"})
    first = asyncio.create_task(acall(consumer.charge_point_id, "Reset", {"type": "Soft"}, timeout=20))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(acall(consumer.charge_point_id, "ClearCache", {}, timeout=20))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await consumer.commands_on_disconnect()
    for task in (first, second):
        with pytest.raises(ChargerOffline):
            await task
    assert time.monotonic() - started < 5
    states = await database_sync_to_async(lambda: sorted(Command.objects.values_list("action", "state")))()
    assert states == [("ClearCache", "offline"), ("Reset", "offline")]


async def test_not_connected_station_fails_fast_and_is_recorded(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    await database_sync_to_async(Station.objects.filter(charge_point_id=consumer.charge_point_id).update)(
        connected=False, channel_name="")
    with pytest.raises(ChargerOffline) as caught:
        await acall(consumer.charge_point_id, "ClearCache", {})
    assert (await _row(caught.value.extra["command"])).state == "offline"
    assert consumer.charger.received == []


async def test_dead_process_is_noticed_by_the_missing_acknowledgement(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    nobody = await get_channel_layer().new_channel()  # a channel nobody reads: a dead process
    await database_sync_to_async(Station.objects.filter(charge_point_id=consumer.charge_point_id).update)(
        channel_name=nobody)
    started = time.monotonic()
    with pytest.raises(ChargerOffline) as caught:
        await acall(consumer.charge_point_id, "ClearCache", {}, timeout=30)
    assert time.monotonic() - started < 10  # about CSMS_CALL_ACK_TIMEOUT, never the 30 s timeout
    assert (await _row(caught.value.extra["command"])).state == "offline"
    station = await database_sync_to_async(Station.objects.get)(charge_point_id=consumer.charge_point_id)
    assert station.connected is False


async def test_a_late_acknowledgement_from_a_live_consumer_is_not_offline(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    layer = consumer.channel_layer

    class SlowAcks:  # a stalled process: its acknowledgements arrive after CSMS_CALL_ACK_TIMEOUT
        def __getattr__(self, name: str) -> Any:
            return getattr(layer, name)

        async def send(self, channel: str, message: dict[str, Any]) -> None:
            if message["type"] == "ocpp.command.ack":
                await asyncio.sleep(1.5)
            await layer.send(channel, message)

    consumer.channel_layer = SlowAcks()
    command = await acall(consumer.charge_point_id, "GetLocalListVersion", {})
    assert command.state == "answered" and command.response == {"listVersion": 4}
    station = await database_sync_to_async(Station.objects.get)(charge_point_id=consumer.charge_point_id)
    assert station.connected is True


async def test_the_consumer_records_the_outcome_for_a_caller_that_is_gone(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    station = await database_sync_to_async(Station.objects.get)(charge_point_id=consumer.charge_point_id)
    row = await database_sync_to_async(Command.objects.create)(
        station=station, action="GetConfiguration", request={}, state="pending", unique_id="gone-caller")
    layer = get_channel_layer()
    # What acall() sends, from a caller that dies right after: nobody reads its reply channel.
    await layer.send(consumer.channel_name, {
        "type": "ocpp.command", "command_id": row.pk, "station_id": station.pk, "action": "GetConfiguration",
        "payload": {}, "unique_id": "gone-caller", "reply_channel": await layer.new_channel(), "wait": True,
        "deadline": time.time() + 5, "ack_by": time.time() + 1,
    })
    deadline = time.monotonic() + 5
    while (row := await _row(row.pk)).state != "answered" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert row.state == "answered" and row.response["configurationKey"]
    assert await database_sync_to_async(
        ConfigurationKey.objects.filter(station=station, key="NumberOfConnectors").exists)()


@pytest.mark.postgres
async def test_the_answer_is_recorded_on_the_event_loop_without_a_thread(linked_consumer: Any, monkeypatch) -> None:
    from stations import command_effects

    threaded: list[int] = []
    original = command_effects.command_complete

    def counted(**kwargs: Any) -> bool:
        threaded.append(kwargs["command_id"])
        return original(**kwargs)

    monkeypatch.setattr(command_effects, "command_complete", counted)
    consumer = await linked_consumer()
    command = await acall(consumer.charge_point_id, "GetConfiguration", {})
    row = await _row(command.pk)
    assert row.state == "answered" and threaded == []
    assert await database_sync_to_async(
        ConfigurationKey.objects.filter(station__charge_point_id=consumer.charge_point_id).count)() == 3
    # An effect written with the ORM takes the thread path.
    await acall(consumer.charge_point_id, "ChangeAvailability", {"connectorId": 0, "type": "Operative"})
    assert len(threaded) == 1


@pytest.mark.parametrize(("delay", "sent"), [(None, ["ocpp.command.result"]),
                                             (0.4, ["ocpp.command.ack", "ocpp.command.result"])])
async def test_a_quick_result_is_its_own_acknowledgement(linked_consumer: Any, delay: Any, sent: list[str]) -> None:
    consumer = await linked_consumer({"ClearCache": delay} if delay else None)
    layer = consumer.channel_layer
    replies: list[str] = []

    class Noting:
        def __getattr__(self, name: str) -> Any:
            return getattr(layer, name)

        async def send(self, channel: str, message: dict[str, Any]) -> None:
            replies.append(message["type"])
            await layer.send(channel, message)

    consumer.channel_layer = Noting()
    command = await acall(consumer.charge_point_id, "ClearCache", {})
    assert command.state == "answered"
    assert replies == sent
