"""OCPP 1.6J adapter: the ``ocpp`` library's v16 ChargePoint, seen from the central system.

Handlers translate a charger's message into one domain call and its result into the answer;
the domain decides. Frames are read once (``frames.unpack``), payloads validated with precompiled
official schemas (``frames.validate``, so the library's own per-message validation is skipped),
and every bad frame is answered with a CALLERROR (the library would only log it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.utils import timezone
from ocpp.exceptions import OCPPError, PropertyConstraintViolationError
from ocpp.messages import Call
from ocpp.routing import after, create_route_map, on
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from accounts.authorization import id_tag_authorize
from stations import services as station_services
from stations.protocol import frames
from transactions import services as tx_services
from transactions.services import parse_ocpp_datetime

logger = logging.getLogger(__name__)

Runner = Callable[..., Awaitable[Any]]
MessageSink = Callable[[str, int, str, str, Any], None]


class Connection(Protocol):
    async def send(self, message: str) -> None: ...


async def _run_in_thread(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    return await database_sync_to_async(fn)(**kwargs)


def _on(action: Action) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # Validation already happened in ``_handle_call`` with the compiled schemas.
    return on(action, skip_schema_validation=True)  # type: ignore[no-any-return]


def _time(value: str | None, now: datetime) -> datetime:
    if not value:
        return now
    try:
        return parse_ocpp_datetime(value)
    except ValueError:
        raise PropertyConstraintViolationError(details={"cause": f"not a date-time: {value!r}"}) from None


_SNAKE: dict[str, str] = {}
_CAMEL: dict[str, str] = {}
_KEY_CACHE_LIMIT = 2000  # OCPP 1.6 payloads have a bounded set of keys; stay bounded regardless


def _keys(data: Any, cache: dict[str, str], convert: Callable[[Any], Any]) -> Any:
    """The ``ocpp`` library's camelCase <-> snake_case key conversion, each key converted once."""
    if isinstance(data, dict):
        converted = {}
        for key, value in data.items():
            new = cache.get(key)
            if new is None:
                new = next(iter(convert({key: None})))
                if len(cache) < _KEY_CACHE_LIMIT:
                    cache[key] = new
            converted[new] = _keys(value, cache, convert)
        return converted
    if isinstance(data, list):
        return [_keys(value, cache, convert) for value in data]
    return data


class _SharedRoutes(Mapping[str, dict[str, Any]]):
    """The library's per-instance route map (a dict of bound methods per action, ~3 KB for each
    connection) as one map per class, bound on lookup: memory per connection counts at 10,000."""

    __slots__ = ("_obj",)
    _by_class: dict[type, dict[str, dict[str, Any]]] = {}

    def __init__(self, obj: ChargePoint) -> None:
        self._obj = obj
        cls = type(obj)
        if cls not in self._by_class:
            self._by_class[cls] = {
                action: {key: getattr(value, "__func__", value) for key, value in spec.items()}
                for action, spec in create_route_map(obj).items()
            }

    def __getitem__(self, action: str) -> dict[str, Any]:
        spec = self._by_class[type(self._obj)][action]
        return {key: value.__get__(self._obj) if callable(value) else value for key, value in spec.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_class[type(self._obj)])

    def __len__(self) -> int:
        return len(self._by_class[type(self._obj)])

    def __contains__(self, action: object) -> bool:
        return action in self._by_class[type(self._obj)]


class CentralSystemV16(ChargePoint):
    """One charger's OCPP 1.6 session.

    ``run`` executes a domain function off the event loop (the consumer passes its group
    committer; default: one ``database_sync_to_async`` call). ``message_sink(direction, type,
    action, unique_id, payload)`` sees every frame in and out (the message log).
    ``on_boot_accepted`` is awaited right after an Accepted BootNotification answer was sent.
    """

    def __init__(
        self,
        charge_point_id: str,
        connection: Connection,
        *,
        run: Runner | None = None,
        message_sink: MessageSink | None = None,
        on_boot_accepted: Callable[[], Awaitable[None]] | None = None,
        response_timeout: float = 30,
    ) -> None:
        # The library's ``__init__`` without its ``create_route_map(self)``, which inspects every
        # method again for each connection (2.6 % of the server's time in a boot storm): the routes
        # are the class's (``_SharedRoutes``); the call lock and response queue come on first use.
        self.id = charge_point_id
        self._response_timeout = response_timeout
        self._connection = connection
        self._unique_id_generator = uuid.uuid4
        self.logger = logger
        self.route_map = _SharedRoutes(self)  # type: ignore[assignment]
        self.run: Runner = run or _run_in_thread
        self.message_sink = message_sink
        self.on_boot_accepted = on_boot_accepted
        self._boot_status = ""
        self.boot_power_limit_w: int | None = None  # what the last accepted boot said
        self._current: tuple[str, str] | None = None  # (unique id, action) of the call being answered

    # The library makes a response queue and a call lock for every connection; most chargers
    # are never called between two reconnections, so they are made on first use (memory).
    @property  # type: ignore[override]
    def _response_queue(self) -> asyncio.Queue[Any]:
        queue = self.__dict__.get("_lazy_queue")
        if queue is None:
            queue = self.__dict__["_lazy_queue"] = asyncio.Queue()
        return queue

    @_response_queue.setter
    def _response_queue(self, value: asyncio.Queue[Any]) -> None:
        pass  # the library's __init__: made lazily instead

    @property  # type: ignore[override]
    def _call_lock(self) -> asyncio.Lock:
        lock = self.__dict__.get("_lazy_lock")
        if lock is None:
            lock = self.__dict__["_lazy_lock"] = asyncio.Lock()
        return lock

    @_call_lock.setter
    def _call_lock(self, value: asyncio.Lock) -> None:
        pass

    # --- frames -------------------------------------------------------------------------------

    async def route_message(self, raw_msg: str) -> None:
        """Route one frame; answer what cannot be routed with a CALLERROR. Never raises."""
        try:
            msg, frame = frames.unpack(raw_msg)
        except frames.FrameError as exc:
            self._sink("in", 0, "", exc.unique_id, raw_msg[:2000])
            await self._send(exc.to_json())
            return
        if self.message_sink is not None:
            action = frame[2] if msg.message_type_id == 2 else ""
            payload = frame[3] if msg.message_type_id == 2 else frame[2] if msg.message_type_id == 3 else frame[2:]
            self._sink("in", msg.message_type_id, action, msg.unique_id, payload)
        if not isinstance(msg, Call):
            self._response_queue.put_nowait(msg)
            return
        self._current = (msg.unique_id, msg.action)
        try:
            await self._handle_call(msg)
        except frames.FrameError as exc:
            exc.unique_id = msg.unique_id
            await self._send(exc.to_json())
        except OCPPError as exc:
            await self._send(msg.create_call_error(exc).to_json())
        except Exception:  # a broken handler answers InternalError and never kills the socket
            logger.exception("%s: error while handling %s", self.id, msg.action)
            await self._send(frames.call_error_json(msg.unique_id, frames.INTERNAL_ERROR, "An unexpected error occurred."))
        finally:
            self._current = None

    async def _handle_call(self, msg: Call) -> Any:
        """The library's ``_handle_call`` without what costs CPU on every message and is not
        needed here: ``inspect.signature`` of the handler (ours never take ``call_unique_id``),
        regular expressions for every key (the keys' conversions are cached) and its own
        validation (done above with the compiled schemas). A handler's exception propagates to
        ``route_message``, which answers the CALLERROR."""
        handlers = self.route_map.get(msg.action) if msg.action in self.route_map else None
        if not handlers or "_on_action" not in handlers:
            raise frames.FrameError(frames.NOT_IMPLEMENTED, f"No handler for {msg.action}", msg.unique_id)
        frames.validate(msg.action, msg.payload, msg.unique_id)
        payload = _keys(msg.payload, _SNAKE, camel_to_snake_case)
        response = await handlers["_on_action"](**payload)
        result = _keys(remove_nones(serialize_as_dict(response)), _CAMEL, snake_to_camel_case)
        await self._send(msg.create_call_result(result).to_json(), [3, msg.unique_id, result])
        after = handlers.get("_after_action")
        if after is not None:
            asyncio.ensure_future(after(**payload))  # like the library: never blocks the answer
        return response

    async def _send(self, message: str, frame: list[Any] | None = None) -> None:
        """Send a frame and show it to the message sink (``frame``: the message decoded, when the
        caller has it; else it is read back from the text)."""
        if self.message_sink is not None:
            try:
                if frame is None:
                    frame = json.loads(message)
                type_id = frame[0]
                if type_id == 2:
                    self._sink("out", 2, frame[2], frame[1], frame[3])
                else:
                    action = self._current[1] if self._current and self._current[0] == frame[1] else ""
                    self._sink("out", type_id, action, frame[1], frame[2] if type_id == 3 else frame[2:])
            except (ValueError, IndexError, TypeError):
                pass
        await self._connection.send(message)

    def _sink(self, direction: str, type_id: int, action: str, unique_id: str, payload: Any) -> None:
        if self.message_sink is not None:
            try:
                self.message_sink(direction, type_id, action, str(unique_id)[:64], payload)
            except Exception:
                logger.exception("message log failed")

    # --- handlers -----------------------------------------------------------------------------

    @_on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any) -> call_result.BootNotification:
        now = timezone.now()
        details = {"charge_point_vendor": charge_point_vendor, "charge_point_model": charge_point_model, **kwargs}
        result = await self.run(station_services.station_boot, charge_point_id=self.id, details=details, now=now)
        self._boot_status = result.status
        self.boot_power_limit_w = result.power_limit_w
        return call_result.BootNotification(current_time=frames.utc_z(now), interval=result.interval, status=result.status)

    @after(Action.boot_notification)
    async def after_boot_notification(self, **kwargs: Any) -> None:
        # Runs once the answer was sent (the library's @after): only now may the CSMS call.
        if self._boot_status == "Accepted" and self.on_boot_accepted is not None:
            await self.on_boot_accepted()

    @_on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        # Last-seen is recorded for every frame by the consumer (lazily, in the next batch).
        return call_result.Heartbeat(current_time=frames.utc_z(timezone.now()))

    @_on(Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kwargs: Any
    ) -> call_result.StatusNotification:
        now = timezone.now()
        await self.run(
            station_services.connector_status_update, charge_point_id=self.id, connector_id=connector_id,
            status=status, error_code=error_code,
            timestamp=_time(kwargs["timestamp"], now) if kwargs.get("timestamp") else None,
            now=now, info=kwargs.get("info") or "", vendor_id=kwargs.get("vendor_id") or "",
            vendor_error_code=kwargs.get("vendor_error_code") or "",
        )
        return call_result.StatusNotification()

    @_on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        info = await self.run(id_tag_authorize, id_tag=id_tag, now=timezone.now())
        return call_result.Authorize(id_tag_info=info.as_ocpp())

    @_on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs: Any
    ) -> call_result.StartTransaction:
        now = timezone.now()
        started = await self.run(
            tx_services.transaction_start, charge_point_id=self.id, connector_id=connector_id, id_tag=id_tag,
            meter_start_wh=meter_start, started_at=_time(timestamp, now), now=now,
            reservation_id=kwargs.get("reservation_id"),
        )
        return call_result.StartTransaction(transaction_id=started.transaction.pk, id_tag_info=started.authorization.as_ocpp())

    @_on(Action.meter_values)
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> call_result.MeterValues:
        now = timezone.now()
        for entry in meter_value:
            _time(entry.get("timestamp"), now)
        await self.run(
            tx_services.meter_values_record, charge_point_id=self.id, connector_id=connector_id,
            meter_values=meter_value, transaction_id=kwargs.get("transaction_id"), now=now,
        )
        return call_result.MeterValues()

    @_on(Action.stop_transaction)
    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any
    ) -> call_result.StopTransaction:
        now = timezone.now()
        data = kwargs.get("transaction_data") or []
        for entry in data:
            _time(entry.get("timestamp"), now)
        stopped = await self.run(
            tx_services.transaction_stop, charge_point_id=self.id, transaction_id=transaction_id,
            meter_stop_wh=meter_stop, stopped_at=_time(timestamp, now), now=now, id_tag=kwargs.get("id_tag"),
            reason=kwargs.get("reason"), transaction_data=data,
        )
        info = stopped.authorization.as_ocpp() if stopped.authorization is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @_on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        status = await self.run(
            station_services.station_data_transfer, charge_point_id=self.id, vendor_id=vendor_id,
            message_id=kwargs.get("message_id") or "", data=kwargs.get("data"),
        )
        return call_result.DataTransfer(status=status)

    @_on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status: str) -> call_result.DiagnosticsStatusNotification:
        await self.run(station_services.station_diagnostics_status, charge_point_id=self.id, status=status, now=timezone.now())
        return call_result.DiagnosticsStatusNotification()

    @_on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str) -> call_result.FirmwareStatusNotification:
        await self.run(station_services.station_firmware_status, charge_point_id=self.id, status=status, now=timezone.now())
        return call_result.FirmwareStatusNotification()

