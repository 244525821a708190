"""The charger endpoint: ``/ocpp/<charge_point_id>`` (CONTRACT.md "OCPP endpoint").

The consumer does the handshake (id, subprotocol, Basic auth, unknown-charger policy, replacing an
older connection), frame size and presence; ``CentralSystemV16`` does the OCPP session. Writes go
through the process's group committer (``committer.py``).

Presence: the accepted consumer's ``channel_name`` is stored on the Station row (with this
process's ``SERVER_ID``). Any process reaches the socket with ``channel_layer.send(channel_name,
…)``: one key per connection, nothing to clean up in Redis after a mass disconnect (groups would
leave one entry per connection behind until ``group_expiry``) and no group_add round trip in a
boot storm. Rows left by a process that died are cleared at the next process's first connection
(``station_presence_cleanup``) or by the offline job (``station_mark_offline_stale``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import socket
import sys
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from core.consumers import CancellableLayerReceiveMixin
from core.gcpolicy import policy as gc_policy
from stations.models import Station
from stations.protocol import frames
from stations.protocol.commands import RemoteCommandsMixin
from stations.protocol.committer import committer
from stations.protocol.v16 import CentralSystemV16
from stations.services import (
    charge_point_id_is_valid,
    refused_connection_record,
    station_connect,
    station_disconnect,
    station_presence_cleanup,
)

logger = logging.getLogger(__name__)

SUBPROTOCOL_16 = "ocpp1.6"
HOST_PREFIX = socket.gethostname()[:40] + ":"
SERVER_ID = f"{HOST_PREFIX}{os.getpid()}:{uuid.uuid4().hex[:8]}"
REPLACED_CLOSE_CODE = 1000
TOO_BIG_CLOSE_CODE = 1009
TOO_BIG_FALLBACK_CLOSE_CODE = 4009

frames.precompile()


def _daphne_close_codes() -> None:
    """Let daphne send the protocol close codes (1009 "message too big") that CONTRACT.md asks for.

    daphne passes an application's ``websocket.close`` code to autobahn's ``sendClose``, which only
    takes 1000 and 3000-4999. daphne's own ``--websocket-max-message-size`` does not help either:
    autobahn drops the TCP connection (1006) instead of closing with 1009. So, only inside a daphne
    server, protocol codes 1001-1014 are sent as a close frame directly.
    """
    if "daphne.server" not in sys.modules:
        return
    from daphne.ws_protocol import WebSocketProtocol

    original = WebSocketProtocol.serverClose
    if getattr(original, "csms_close_codes", False):
        return

    def server_close(self: Any, code: int | None = None) -> None:
        if code is not None and 1001 <= code <= 1014 and code not in (1004, 1005, 1006):
            self.sendCloseFrame(code=code, isReply=False)
            return
        original(self, code)

    server_close.csms_close_codes = True  # type: ignore[attr-defined]
    WebSocketProtocol.serverClose = server_close


_daphne_close_codes()


def _autobahn_debug_line_on_demand() -> None:
    """Skip a debug line's formatting that autobahn (daphne's WebSocket layer) does for every new
    connection even when debug logging is off.

    ``WebSocketProtocol._connectionMade`` logs its configuration as ``pformat(list)`` at debug
    level, formatting it first either way: 13 % of daphne's event loop in a boot storm of 5,000
    chargers (py-spy). Below debug level, txaio drops the line, so the list is not formatted then.
    (The module's other ``pformat`` calls get dicts and are unchanged.)
    """
    if "daphne.server" not in sys.modules:
        return
    import txaio
    from autobahn.websocket import protocol

    original = protocol.pformat
    if getattr(original, "csms_on_demand", False):
        return

    def pformat(value: Any, *args: Any, **kwargs: Any) -> str:
        if isinstance(value, list) and txaio.get_global_log_level() not in ("debug", "trace"):
            return ""
        return original(value, *args, **kwargs)

    pformat.csms_on_demand = True  # type: ignore[attr-defined]
    protocol.pformat = pformat


_autobahn_debug_line_on_demand()

_process_started = False
_process_lock: asyncio.Lock | None = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cleanup_dead_servers_on_this_host() -> int:
    """Presence rows of this host whose server process is gone (a restart) are cleared."""
    # DISTINCT: a few server ids, not one row per station (thousands, at the start of a boot storm).
    ids = set(Station.objects.filter(server_id__startswith=HOST_PREFIX).order_by()
              .values_list("server_id", flat=True).distinct())
    alive = {SERVER_ID}
    for server_id in ids:
        try:
            pid = int(server_id[len(HOST_PREFIX):].split(":")[0])
        except ValueError:
            continue
        if _pid_alive(pid) and pid != os.getpid():
            alive.add(server_id)
    return station_presence_cleanup(server_ids_alive=alive, server_id_prefix=HOST_PREFIX, now=timezone.now())


async def _process_start() -> None:
    """Once per server process, at its first connection: clear stale presence, tune the GC."""
    global _process_started, _process_lock
    if _process_started:
        return
    if _process_lock is None:
        _process_lock = asyncio.Lock()
    async with _process_lock:
        if _process_started:
            return
        try:
            await database_sync_to_async(_cleanup_dead_servers_on_this_host)()
        except Exception:
            logger.exception("presence cleanup failed")
        # Thousands of long-lived consumers make the collector's passes slow (p99 spikes): what
        # outlives start-up and each burst of connections is frozen (core.gcpolicy).
        gc_policy.start()
        # The ORM lanes release the GIL for every database round trip; with the default 5 ms
        # switch interval each reacquisition can wait that long behind the busy event loop.
        sys.setswitchinterval(0.001)
        _process_started = True


def _basic_auth_password(scope: dict[str, Any], charge_point_id: str) -> str | None:
    """The password of ``Authorization: Basic base64(id:password)``; None without the header,
    "" when it is malformed or names another id (a wrong password)."""
    for name, value in scope.get("headers") or ():
        if name.lower() != b"authorization":
            continue
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return ""
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        user, sep, password = decoded.partition(":")
        if not sep or user != charge_point_id:
            return ""
        return password
    return None


class _Connection:
    """What the ``ocpp`` ChargePoint needs: ``async send(str)``."""

    __slots__ = ("consumer",)

    def __init__(self, consumer: OcppConsumer) -> None:
        self.consumer = consumer

    async def send(self, message: str) -> None:
        await self.consumer.send(text_data=message)


class OcppConsumer(CancellableLayerReceiveMixin, RemoteCommandsMixin, AsyncWebsocketConsumer):
    charge_point: CentralSystemV16
    charge_point_id: str
    ready: asyncio.Event
    station_id: int | None = None
    closing = False

    async def connect(self) -> None:
        self.charge_point_id = self.scope["url_route"]["kwargs"]["charge_point_id"]
        self.ready = asyncio.Event()
        client = self.scope.get("client") or ("", 0)
        self.remote_address = str(client[0] or "")
        now = timezone.now()
        if not charge_point_id_is_valid(self.charge_point_id):
            await self._refuse("invalid charge point id")
            return
        offered = self.scope.get("subprotocols") or []
        if SUBPROTOCOL_16 not in offered:
            await self._refuse(f"no supported subprotocol offered ({', '.join(offered)[:100] or 'none'})")
            return
        await _process_start()
        result = await committer().run_first(
            station_connect, charge_point_id=self.charge_point_id,
            password=_basic_auth_password(self.scope, self.charge_point_id), remote_address=self.remote_address,
            channel_name=self.channel_name, server_id=SERVER_ID, now=now,
        )
        if result.refused:
            await self.close()  # before accept: daphne answers 403
            return
        self.station_id = result.station_id
        if result.replaced_channel:
            try:
                await self.channel_layer.send(result.replaced_channel, {"type": "ocpp.replaced", "by": self.channel_name})
            except Exception:
                logger.exception("%s: could not tell the older connection to close", self.charge_point_id)
        self.charge_point = CentralSystemV16(
            self.charge_point_id, _Connection(self), run=committer().run, message_sink=self._log_message,
            on_boot_accepted=self._boot_accepted, response_timeout=settings.CSMS_CALL_TIMEOUT,
        )
        await self.accept(subprotocol=SUBPROTOCOL_16)
        gc_policy.connected()
        logger.info("%s connected from %s", self.charge_point_id, self.remote_address)
        if result.ready:
            await self._set_ready(power_limit=result.power_limit_w is not None)

    async def _refuse(self, reason: str) -> None:
        await database_sync_to_async(refused_connection_record)(
            charge_point_id=self.charge_point_id, remote_address=self.remote_address, reason=reason,
            unknown=False, now=timezone.now(),
        )
        await self.close()

    async def _set_ready(self, *, power_limit: bool = True) -> None:
        if not self.ready.is_set():
            self.ready.set()
            await self.commands_on_ready(power_limit=power_limit)

    async def _boot_accepted(self) -> None:
        # The boot's own statement said whether the station has a power limit to re-send: most
        # have none, and a boot storm then costs no extra query per charger.
        await self._set_ready(power_limit=self.charge_point.boot_power_limit_w is not None)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, through a hop to its
        # sync thread. This consumer's database work runs on threads that look after their own
        # connections (the group committer's, remote control's, ``database_sync_to_async``), so
        # no message pays that hop: not a charger's frame, not a remote command on its way.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.station_id is None:
            return
        if text_data is None:
            if bytes_data is None:
                return
            limit = settings.CSMS_OCPP_MAX_MESSAGE_BYTES
            if len(bytes_data) > limit:
                await self._too_big(len(bytes_data))
                return
            text_data = bytes_data.decode("utf-8", errors="replace")
        else:
            limit = settings.CSMS_OCPP_MAX_MESSAGE_BYTES
            if len(text_data) * 4 > limit and len(text_data.encode("utf-8")) > limit:
                await self._too_big(len(text_data.encode("utf-8")))
                return
        committer().seen(self.station_id, timezone.now(), self.channel_name)
        await self.charge_point.route_message(text_data)

    async def _too_big(self, size: int) -> None:
        logger.warning("%s: frame of %d bytes over the limit, closing with 1009", self.charge_point_id, size)
        self.closing = True
        try:
            await self.close(code=TOO_BIG_CLOSE_CODE)
        except Exception:  # a server that refuses protocol close codes (see _daphne_close_codes)
            await self.close(code=TOO_BIG_FALLBACK_CLOSE_CODE)

    def _log_message(self, direction: str, type_id: int, action: str, unique_id: str, payload: Any) -> None:
        committer().log((
            self.charge_point_id, self.station_id, direction, type_id, action[:64], unique_id, payload, timezone.now()
        ))

    async def ocpp_replaced(self, message: dict[str, Any]) -> None:
        """A newer connection with the same id took over: close this one."""
        logger.info("%s: replaced by a newer connection, closing", self.charge_point_id)
        self.closing = True
        await self.close(code=REPLACED_CLOSE_CODE)

    async def ocpp_close(self, message: dict[str, Any]) -> None:
        """Another process asks this connection to close, e.g. the offline job for a socket that
        stayed silent for three heartbeat intervals: ``{"type": "ocpp.close", "code": 4408}``."""
        logger.info("%s: closing (%s)", self.charge_point_id, message.get("reason") or "asked to")
        self.closing = True
        await self.close(code=int(message.get("code") or 1000))

    async def disconnect(self, code: int) -> None:
        if self.station_id is None:
            return
        gc_policy.disconnected()
        self.ready.clear()
        try:
            await self.commands_on_disconnect()
        finally:
            await committer().run(
                station_disconnect, station_id=self.station_id, channel_name=self.channel_name, now=timezone.now()
            )
