"""The consumer's side of remote control.

``RemoteCommandsMixin`` is mixed into ``OcppConsumer``. It needs from the consumer:
- ``self.charge_point_id``: str
- ``self.charge_point``: the ``CentralSystemV16`` (an ``ocpp`` v16 ChargePoint); use its ``call()``
- ``self.ready``: an ``asyncio.Event`` set once the charger may receive calls (its BootNotification
  was answered Accepted on this connection, or the station was already Accepted and booted before).
The consumer calls ``commands_on_ready()`` right after setting ``ready`` and
``commands_on_disconnect()`` when the socket closes.

Channels hands a consumer one event at a time: awaiting the charger's answer inside the handler
would block the very frame that carries it. So the handler only acknowledges and queues; one
worker task per connection sends the calls, one in flight at a time, in the order they came.
The payload goes to the charger exactly as recorded (camelCase, as validated by ``remote``); the
outcome is written to the ``Command`` row with its effects, then sent on the reply channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ocpp.messages import Call, CallError, MessageType

from core import aiodb
from stations import command_effects
from stations.protocol.remote import ACK_MESSAGE, RESULT_MESSAGE, db_async as _db

logger = logging.getLogger(__name__)

# A command message that arrives after its caller stopped waiting for the acknowledgement is
# declared ``offline`` by the caller: it must not reach the charger.
ACK_LATE_GRACE_SECONDS = 0.0
# A call still unanswered this long after it went out is marked ``sent`` in the ledger (a caller
# that got no acknowledgement in time looks there); a quicker answer is recorded in one write.
MARK_SENT_AFTER = 0.05
# A caller that waits for the result gets an acknowledgement only if the result takes longer.
ACK_AFTER = 0.1


class RemoteCommandsMixin:
    charge_point_id: str
    charge_point: Any
    ready: asyncio.Event
    channel_layer: Any

    _commands_queue: asyncio.Queue[dict[str, Any]] | None = None
    _commands_worker: asyncio.Task[None] | None = None
    _commands_current: dict[str, Any] | None = None
    _commands_ready_task: asyncio.Task[None] | None = None

    async def ocpp_command(self, message: dict[str, Any]) -> None:
        """Channel-layer handler for messages of type ``ocpp.command``: acknowledge and queue."""
        if time.time() > message["ack_by"] + ACK_LATE_GRACE_SECONDS:
            logger.warning("%s: dropped command %s that came too late", self.charge_point_id, message["command_id"])
            return
        if self._commands_queue is None:
            self._commands_queue = asyncio.Queue()
        message = {**message, "acked": asyncio.Event(), "ack_sent": False}
        self._commands_queue.put_nowait(message)
        if self._commands_worker is None or self._commands_worker.done():
            self._commands_worker = asyncio.create_task(self._commands_work())
        if message.get("wait"):
            # A quick result is its own acknowledgement (the caller takes either first): the
            # acknowledgement goes only when the result takes longer than ACK_AFTER.
            message["ack_timer"] = asyncio.get_running_loop().call_later(ACK_AFTER, self._commands_ack_later, message)
        else:
            # Queued first: the worker sends the frame to the charger while it travels.
            await self._commands_ack(message)

    def _commands_ack_later(self, message: dict[str, Any]) -> None:
        # Kept on the message: asyncio holds only a weak reference to a task.
        message["ack_task"] = asyncio.ensure_future(self._commands_ack(message))

    async def _commands_ack(self, message: dict[str, Any]) -> None:
        if message["ack_sent"]:
            return
        message["ack_sent"] = True
        try:
            await self.channel_layer.send(
                message["reply_channel"], {"type": ACK_MESSAGE, "command_id": message["command_id"]}
            )
        except Exception:
            logger.exception("%s: could not acknowledge command %s", self.charge_point_id, message["command_id"])
        finally:
            message["acked"].set()

    async def commands_on_ready(self, *, power_limit: bool = True) -> None:
        """The charger may receive calls now: re-send the station's power limit after a boot
        (``power_limit=False``: the station is known to have none)."""
        if not power_limit:
            return
        from stations.remote_services import power_limit_reapply_after_boot

        async def reapply() -> None:
            try:
                await power_limit_reapply_after_boot(charge_point_id=self.charge_point_id)
            except Exception:
                logger.exception("%s: could not re-send the power limit", self.charge_point_id)

        if self._commands_ready_task is None or self._commands_ready_task.done():
            self._commands_ready_task = asyncio.create_task(reapply())

    async def commands_on_disconnect(self) -> None:
        """The socket closed: the call in flight and the queued ones end ``offline``."""
        for task in (self._commands_worker, self._commands_ready_task):
            if task is not None and not task.done():
                task.cancel()
        ended = [self._commands_current] if self._commands_current else []
        while self._commands_queue is not None and not self._commands_queue.empty():
            ended.append(self._commands_queue.get_nowait())
        self._commands_current = None
        for message in ended:
            await self._commands_complete(message, {
                "state": "offline", "response": None, "sent_at": message.get("sent_at"),
                "error": {"code": "Disconnected", "description": "the charger disconnected"},
            })

    # ----------------------------------------------------------------------------------------

    async def _commands_work(self) -> None:
        assert self._commands_queue is not None
        while True:
            message = await self._commands_queue.get()
            self._commands_current = message
            try:
                outcome = await self._commands_send(message)
            except asyncio.CancelledError:
                raise  # the disconnect handler ends the current command
            except Exception as exc:  # never let one command stop the queue
                logger.exception("%s: command %s failed", self.charge_point_id, message["command_id"])
                outcome = {"state": "failed", "response": None, "sent_at": message.get("sent_at"),
                           "error": {"code": "InternalError", "description": str(exc)[:200]}}
            self._commands_current = None
            await self._commands_complete(message, outcome)

    async def _commands_send(self, message: dict[str, Any]) -> dict[str, Any]:
        timed_out = {"state": "timeout", "response": None,
                     "error": {"code": "Timeout", "description": "no answer in time"}}
        remaining = message["deadline"] - time.time()
        if remaining > 0 and not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        remaining = message["deadline"] - time.time()
        if remaining <= 0 or not self.ready.is_set():
            return {**timed_out, "sent_at": None,
                    "error": {"code": "Timeout", "description": "the charger was not ready in time"}}

        cp = self.charge_point
        request = Call(unique_id=message["unique_id"], action=message["action"], payload=message["payload"])
        # A raw call: ``ChargePoint.call()`` wants a dataclass and round-trips keys through
        # snake_case; this sends the recorded payload as it is. The library's lock and response
        # queue keep its own calls and ours one at a time, and drop late answers by unique id.
        async with cp._call_lock:
            message["sent_at"] = time.time()
            # An answer within MARK_SENT_AFTER is written with its outcome in one statement; a
            # slower charger's row shows ``sent`` meanwhile. The mark changes only a pending row:
            # harmless should it land after the outcome.
            marking = asyncio.get_running_loop().call_later(MARK_SENT_AFTER, self._commands_mark_sent, message)
            await cp._send(request.to_json())
            try:
                response = await cp._get_specific_response(request.unique_id, remaining)
            except asyncio.TimeoutError:
                response = None
            finally:
                marking.cancel()
        if response is None:
            return {**timed_out, "sent_at": message["sent_at"]}
        if response.message_type_id == MessageType.CallError:
            assert isinstance(response, CallError)
            return {"state": "failed", "response": None, "sent_at": message["sent_at"],
                    "error": {"code": response.error_code, "description": response.error_description,
                              "details": response.error_details}}
        return {"state": "answered", "response": response.payload, "error": None, "sent_at": message["sent_at"]}

    def _commands_mark_sent(self, message: dict[str, Any]) -> None:
        message["marking"] = asyncio.ensure_future(_db(command_effects.command_mark_sent)(
            command_id=message["command_id"], sent_at=message["sent_at"]))

    async def _commands_complete(self, message: dict[str, Any], outcome: dict[str, Any]) -> None:
        outcome = {**outcome, "answered_at": time.time() if outcome["state"] in ("answered", "failed") else None}
        recorded = False
        arguments = {"command_id": message["command_id"], "station_id": message["station_id"],
                     "action": message["action"], "request": message["payload"], "outcome": outcome}
        try:
            recorded = await _record_on_loop(arguments)
        except aiodb.Unavailable:
            try:
                recorded = await _db(command_effects.command_complete)(**arguments)
            except Exception:
                logger.exception("%s: could not record command %s", self.charge_point_id, message["command_id"])
        if message.get("wait"):
            if not message["ack_sent"]:  # the result acknowledges: no separate message
                message["ack_timer"].cancel()
                message["ack_sent"] = True
                message["acked"].set()
            # A result goes after an acknowledgement sent, so the caller reads both and leaves
            # nothing behind in its process's receive buffer.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(message["acked"].wait(), 5)
            try:
                await self.channel_layer.send(message["reply_channel"], {
                    "type": RESULT_MESSAGE, "command_id": message["command_id"], "recorded": recorded, **outcome,
                })
            except Exception:
                logger.exception("%s: could not reply for command %s", self.charge_point_id, message["command_id"])
        marking = message.get("marking")
        if marking is not None:
            try:
                await marking
            except Exception:
                logger.exception("%s: could not mark command %s sent", self.charge_point_id, message["command_id"])


async def _record_on_loop(arguments: dict[str, Any]) -> bool:
    """``command_complete`` in one statement on the event loop (PostgreSQL); raises
    ``aiodb.Unavailable`` when it needs the thread path (an effect written with the ORM, SQLite,
    or the statement failed here)."""
    if not aiodb.available():
        raise aiodb.Unavailable("not PostgreSQL")
    statement = command_effects.command_complete_statement(**arguments)
    if statement is None:
        raise aiodb.Unavailable("the effect needs the ORM")
    row = await aiodb.fetchone(*statement)
    return bool(row and row[0])
