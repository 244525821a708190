"""Remote control: the one way any process sends a CSMS-initiated OCPP call to a charger.

``call()`` (sync) and ``acall()`` (async) validate the payload against the official OCPP 1.6
JSON schema, record the command as a ``Command`` row (the ledger, and the truth), then wake the
consumer that holds the charger's socket with a channel-layer message sent to the channel name of
the station's presence record. The channel layer only wakes: channels-redis delivers at most once,
so every outcome is written to the row, by the consumer and again by the caller.

The messages (all carry ``command_id``)::

    caller  → consumer  {"type": "ocpp.command", "station_id", "action", "payload", "unique_id",
                         "reply_channel", "wait", "deadline", "ack_by"}     (times: epoch seconds)
    consumer → caller   {"type": "ocpp.command.ack"}                        on receipt; when the
                         caller waits, only if the result takes longer than 0.1 s (it acknowledges too)
    consumer → caller   {"type": "ocpp.command.result", "state", "response", "error", "recorded",
                         "sent_at", "answered_at"}                          only when ``wait``

No acknowledgement within ``CSMS_CALL_ACK_TIMEOUT`` (and the row still ``pending``) means the
process holding the socket is gone: the command ends ``offline`` and the station is marked
disconnected, so a dead process costs about a second, not the whole ``CSMS_CALL_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import ocpp
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

from core.exceptions import ChargerCallError, ChargerOffline, ChargerTimeout, InvalidInput, NotFound
from stations.models import Command, CommandState, Station

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Every CSMS-initiated OCPP 1.6 action (Core, Firmware Management, Local Auth List Management,
# Reservation, Smart Charging, Remote Trigger).
CSMS_ACTIONS: tuple[str, ...] = (
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
)

COMMAND_MESSAGE = "ocpp.command"
ACK_MESSAGE = "ocpp.command.ack"
RESULT_MESSAGE = "ocpp.command.result"
# The caller waits this much longer than the deadline for the consumer's own timeout result.
RESULT_GRACE_SECONDS = 1.0

_SCHEMA_DIR = Path(ocpp.__file__).resolve().parent / "v16" / "schemas"


def _load_validator(name: str) -> Draft4Validator:
    # Decimal floats: the smart-charging schemas say ``multipleOf: 0.1``, which binary floats fail.
    schema = json.loads((_SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8-sig"), parse_float=Decimal)
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


# Compiled once, at import.
REQUEST_VALIDATORS: dict[str, Draft4Validator] = {a: _load_validator(a) for a in CSMS_ACTIONS}
RESPONSE_VALIDATORS: dict[str, Draft4Validator] = {a: _load_validator(f"{a}Response") for a in CSMS_ACTIONS}


def _error_field(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        if missing:
            path.append(str(missing[0]))
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [p for p in error.instance if p not in allowed]
        if extra:
            path.append(str(extra[0]))
    return ".".join(path) or "payload"


def schema_errors(validator: Draft4Validator, payload: Any) -> dict[str, str]:
    """Field path (``chargingProfile.chargingSchedule.chargingRateUnit``) → message."""
    instance = json.loads(json.dumps(payload), parse_float=Decimal)
    errors: dict[str, str] = {}
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        errors.setdefault(_error_field(error), error.message)
    return errors


def validate_request(action: str, payload: Any) -> None:
    """Raise ``NotFound`` for an action the CSMS cannot send, ``InvalidInput`` naming the fields."""
    if action not in REQUEST_VALIDATORS:
        raise NotFound(_("%(action)s is not a CSMS-initiated OCPP 1.6 action.") % {"action": action})
    if not isinstance(payload, dict):
        raise InvalidInput(_("The payload must be a JSON object."), errors={"payload": "not an object"})
    errors = schema_errors(REQUEST_VALIDATORS[action], payload)
    if errors:
        raise InvalidInput(
            _("Invalid %(action)s payload: %(fields)s.") % {"action": action, "fields": ", ".join(errors)},
            errors={field: [message] for field, message in errors.items()},
        )


# --------------------------------------------------------------------------------------------
# The caller's side, in three steps: record (database), exchange (channel layer), finish (database).


@dataclass
class _Prepared:
    command: Command
    channel_name: str
    deadline: float  # epoch seconds
    offline: bool


OFFLINE_ERROR = {"code": "ChargerOffline", "description": "not connected"}


def _prepare(
    *, charge_point_id: str, action: str, payload: dict[str, Any], timeout: float | None,
    requested_by: User | None, source: str,
) -> _Prepared:
    validate_request(action, payload)
    timeout = settings.CSMS_CALL_TIMEOUT if timeout is None else float(timeout)
    now = timezone.now()
    command = Command(
        action=action, request=payload, requested_by=requested_by, source=source[:32],
        unique_id=uuid.uuid4().hex, created_at=now, timeout_at=now + timedelta(seconds=timeout),
    )
    if connection.vendor == "postgresql":
        found = _record_in_one_statement(charge_point_id, command)
    else:
        found = _record(charge_point_id, command)
    if found is None:
        raise NotFound(_("Unknown station %(id)s.") % {"id": charge_point_id})
    return _Prepared(command, found, time.time() + timeout, command.state == CommandState.OFFLINE)


def _record(charge_point_id: str, command: Command) -> str | None:
    """Look the presence up and insert the row; returns the channel name (None: no such station)."""
    station = Station.objects.filter(charge_point_id=charge_point_id).only("pk", "connected", "channel_name").first()
    if station is None:
        return None
    offline = not (station.connected and station.channel_name)
    command.station = station
    command.state = CommandState.OFFLINE if offline else CommandState.PENDING
    command.error = OFFLINE_ERROR if offline else None
    command.save(force_insert=True)
    return station.channel_name


def _record_in_one_statement(charge_point_id: str, command: Command) -> str | None:
    """``_record`` in one round trip (it is on every call's path): read the presence and insert."""
    c, s = Command._meta, Station._meta
    col = {f.name: f.column for f in c.concrete_fields}
    sql = f"""
        WITH s AS (SELECT id, connected, channel_name FROM {s.db_table} WHERE charge_point_id = %s),
        ins AS (
            INSERT INTO {c.db_table} ({col["station"]}, {col["action"]}, {col["request"]}, {col["state"]},
                {col["error"]}, {col["unique_id"]}, {col["requested_by"]}, {col["source"]},
                {col["created_at"]}, {col["timeout_at"]})
            SELECT s.id, %s, %s::jsonb,
                CASE WHEN s.connected AND s.channel_name <> '' THEN %s ELSE %s END,
                CASE WHEN s.connected AND s.channel_name <> '' THEN NULL ELSE %s::jsonb END,
                %s, %s, %s, %s, %s
            FROM s
            RETURNING id, {col["station"]}, {col["state"]}, {col["error"]})
        SELECT ins.*, s.channel_name FROM ins JOIN s ON s.id = ins.{col["station"]}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [
            charge_point_id, command.action, json.dumps(command.request),
            CommandState.PENDING, CommandState.OFFLINE, json.dumps(OFFLINE_ERROR),
            command.unique_id, command.requested_by_id, command.source, command.created_at, command.timeout_at,
        ])
        row = cursor.fetchone()
    if row is None:
        return None
    command.pk, command.station_id, command.state, error, channel_name = row
    command.error = json.loads(error) if isinstance(error, str) else error
    command._state.adding = False
    command._state.db = "default"
    return str(channel_name)


@dataclass
class _Outcome:
    acked: bool
    result: dict[str, Any] | None = None


async def _exchange(layer: BaseChannelLayer, prepared: _Prepared, *, wait: bool) -> _Outcome:
    command = prepared.command
    # The default prefix: channels-redis pops one process-local queue per prefix, so a reply
    # channel with another prefix would starve behind the consumers' receive loop.
    reply_channel = await layer.new_channel()
    ack_timeout = float(settings.CSMS_CALL_ACK_TIMEOUT)
    await layer.send(prepared.channel_name, {
        "type": COMMAND_MESSAGE,
        "command_id": command.pk,
        "station_id": command.station_id,
        "action": command.action,
        "payload": command.request,
        "unique_id": command.unique_id,
        "reply_channel": reply_channel,
        "wait": wait,
        "deadline": prepared.deadline,
        "ack_by": time.time() + ack_timeout,
    })
    try:
        first = await asyncio.wait_for(layer.receive(reply_channel), ack_timeout)
    except asyncio.TimeoutError:
        # A consumer that marked the row sent is alive, only its acknowledgement is late (a loaded
        # machine): keep waiting. A row still pending means nobody took the call.
        if not await db_async(_taken)(command_id=command.pk):
            return _Outcome(acked=False)
        first = {"type": ACK_MESSAGE}
    if first.get("type") == RESULT_MESSAGE:  # the consumer may answer before we look (no ack lost)
        return _Outcome(acked=True, result=first)
    if not wait:
        return _Outcome(acked=True)
    remaining = prepared.deadline - time.time() + RESULT_GRACE_SECONDS
    try:
        while True:
            message = await asyncio.wait_for(layer.receive(reply_channel), max(remaining, 0.01))
            if message.get("type") == RESULT_MESSAGE:
                return _Outcome(acked=True, result=message)
            remaining = prepared.deadline - time.time() + RESULT_GRACE_SECONDS
    except asyncio.TimeoutError:
        return _Outcome(acked=True)


# Remote calls' database work in async code runs on a few threads of its own: their connections
# stay open between calls (bounded: never one per event loop or per default-executor thread).
_DB_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="remote-db")


def db_async(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run ``fn(**kwargs)`` on the remote-calls database threads.

    ``database_sync_to_async`` closes and health-checks the connection around every call (one more
    round trip each with CONN_HEALTH_CHECKS); here a connection is replaced only when it fails,
    and the call is then retried once.
    """

    def run(**kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block:
                raise
            connection.close()
            return fn(**kwargs)

    return sync_to_async(run, thread_sensitive=False, executor=_DB_EXECUTOR)


def _taken(*, command_id: int) -> bool:
    """Has a consumer marked the command sent (or ended it)? Unknown counts as no."""
    try:
        return Command.objects.filter(pk=command_id).exclude(
            state__in=(CommandState.PENDING, CommandState.OFFLINE)).exists()
    except DatabaseError:  # e.g. SQLite's table lock held by the caller's open transaction
        return False


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


OPEN_STATES = (CommandState.PENDING, CommandState.SENT)


def _finish(*, prepared: _Prepared, outcome: _Outcome, wait: bool) -> Command:
    command = prepared.command
    if not outcome.acked:
        error = {"code": "NoAcknowledgement", "description": "the process holding the socket did not answer"}
        Command.objects.filter(pk=command.pk, state__in=OPEN_STATES).update(state=CommandState.OFFLINE, error=error)
        # The in-memory layer cannot reach another process: that says nothing about the charger.
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            raise ChargerOffline(
                _("No acknowledgement: with the in-memory channel layer only the server process itself "
                  "reaches its chargers (set REDIS_URL to command them from any process)."),
                command=command.pk,
            )
        # Marked disconnected, so the next calls fail at once. The channel name stays: a process
        # that was only stalled marks the station connected again with the charger's next frame
        # (``station_last_seen_bulk`` matches it); a new connection overwrites it.
        Station.objects.filter(pk=command.station_id, channel_name=prepared.channel_name).update(
            connected=False, disconnected_at=timezone.now(),
        )
        raise ChargerOffline(command=command.pk)
    if outcome.result is None:
        if not wait:
            command.refresh_from_db()
            return command
        Command.objects.filter(pk=command.pk, state__in=OPEN_STATES).update(
            state=CommandState.TIMEOUT, error={"code": "Timeout", "description": "no answer in time"},
        )
        raise ChargerTimeout(command=command.pk)
    result = outcome.result
    command.state = result["state"]
    command.response = result.get("response")
    command.error = result.get("error")
    command.sent_at = _from_epoch(result.get("sent_at"))
    command.answered_at = _from_epoch(result.get("answered_at"))
    if not result.get("recorded"):
        # The consumer could not write the outcome (its write failed, or could not see a row
        # still inside the caller's open transaction): the caller keeps the ledger true.
        Command.objects.filter(pk=command.pk, state__in=OPEN_STATES).update(
            state=command.state, response=command.response, error=command.error,
            sent_at=command.sent_at, answered_at=command.answered_at,
        )
    raise_for_state(command)
    return command


def raise_for_state(command: Command) -> None:
    """Map a finished command's state to the domain error callers get."""
    if command.state == CommandState.FAILED:
        error = command.error or {}
        raise ChargerCallError(
            _("The charger answered with %(code)s.") % {"code": error.get("code", "a CALLERROR")},
            command=command.pk, error=error,
        )
    if command.state == CommandState.TIMEOUT:
        raise ChargerTimeout(command=command.pk)
    if command.state == CommandState.OFFLINE:
        raise ChargerOffline(command=command.pk)


# --------------------------------------------------------------------------------------------
# Sync callers (views, tasks, management commands) run the exchange on one event loop of their
# own, in a thread, with a channel layer of their own: channels-redis lets a layer receive on one
# loop at a time, and ``async_to_sync`` would make a new loop per call (Celery, scripts).


class _LoopThread:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._layer: BaseChannelLayer | None = None
        self._pid = 0

    def run(self, make: Any) -> Any:
        loop, layer = self._start()
        return asyncio.run_coroutine_threadsafe(make(layer), loop).result()

    def _start(self) -> tuple[asyncio.AbstractEventLoop, BaseChannelLayer]:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child needs its own
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="remote-calls", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
                self._layer = channel_layers.make_backend("default")
            assert self._layer is not None
            return self._loop, self._layer


_loop_thread = _LoopThread()


def _run_exchange(prepared: _Prepared, wait: bool) -> _Outcome:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        # One process only: the consumer listens on the layer of the server's loop.
        return async_to_sync(_exchange)(layer, prepared, wait=wait)
    return _loop_thread.run(lambda own_layer: _exchange(own_layer, prepared, wait=wait))


def call(
    charge_point_id: str, action: str, payload: dict[str, Any], *, wait: bool = True,
    timeout: float | None = None, requested_by: User | None = None, source: str = "",
) -> Command:
    """Send one CSMS-initiated OCPP 1.6 call and record it in the command ledger.

    Returns the ``Command``: state ``answered`` with the charger's payload in ``response``, or with
    ``wait=False`` the row right after the consumer acknowledged it. Raises ``NotFound`` (unknown
    station or action), ``InvalidInput`` (payload breaks the schema; nothing sent; ``extra['errors']``
    names the fields), ``ChargerOffline``, ``ChargerTimeout``, ``ChargerCallError``.
    Call it outside ``transaction.atomic`` when ``wait=False``: the consumer writes the outcome to
    the row, which it can only see once committed.
    """
    prepared = _prepare(
        charge_point_id=charge_point_id, action=action, payload=payload, timeout=timeout,
        requested_by=requested_by, source=source,
    )
    if prepared.offline:
        raise ChargerOffline(command=prepared.command.pk)
    outcome = _run_exchange(prepared, wait)
    return _finish(prepared=prepared, outcome=outcome, wait=wait)


async def acall(
    charge_point_id: str, action: str, payload: dict[str, Any], *, wait: bool = True,
    timeout: float | None = None, requested_by: User | None = None, source: str = "",
) -> Command:
    """``call()`` for async code (consumers, async views); same arguments, result and errors."""
    prepared = await db_async(_prepare)(
        charge_point_id=charge_point_id, action=action, payload=payload, timeout=timeout,
        requested_by=requested_by, source=source,
    )
    if prepared.offline:
        raise ChargerOffline(command=prepared.command.pk)
    layer = get_channel_layer()
    assert layer is not None
    outcome = await _exchange(layer, prepared, wait=wait)
    return await db_async(_finish)(prepared=prepared, outcome=outcome, wait=wait)


__all__ = ["CSMS_ACTIONS", "acall", "call", "raise_for_state", "schema_errors", "validate_request"]
