"""Live notifications for logged-in users' apps and pages: ``/ws/notifications/``.

Authentication: the session cookie (pages; the route runs inside ``AuthMiddlewareStack``) or a
JWT access token in ``?token=`` (apps; checked by the API's own JWT authentication, so a token
from before a password change is refused). A browser's Origin must be an allowed host; apps send
none. Anonymous connections are closed with 4401.

The consumer joins ``core.events.user_group(user.id)`` and forwards every ``live.event`` (and
each event of a ``live.events`` batch, one frame each) as JSON: ``{"type": "notification",
"notification": {...}, "unread": n}`` when one arrives (the count as it was up to that one,
added here: the writer's push carries none), and ``{"type": "notification.read",
"ids": [...], "unread": n}`` when some were read elsewhere. On connect it sends
``{"type": "hello", "unread": n}``. Clients may send ``{"type": "read", "id": n}`` or
``{"type": "read_all"}``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host
from rest_framework.settings import api_settings

from core.consumers import CancellableLayerReceiveMixin
from core.events import user_group
from core.exceptions import NotFound

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403


def _user_from_token(raw: str) -> Any:
    """The active user a JWT access token belongs to, or None."""
    for auth_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        auth = auth_class()
        if not hasattr(auth, "get_validated_token"):
            continue
        try:
            user = auth.get_user(auth.get_validated_token(raw.encode()))
        except Exception:  # invalid, expired, stale after a password change, unknown user
            return None
        return user if user.is_active else None
    return None


class NotificationConsumer(CancellableLayerReceiveMixin, AsyncJsonWebsocketConsumer):
    # --- WebSocket ----------------------------------------------------------------------------

    async def connect(self) -> None:
        if not self._origin_allowed():
            await self.close(code=CLOSE_FORBIDDEN_ORIGIN)
            return
        self.user = await self._authenticate()
        if self.user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(self.user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "unread": await self._unread()})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_event(self, message: dict[str, Any]) -> None:
        await self._forward([message["event"]])

    async def live_events(self, message: dict[str, Any]) -> None:
        # Several events of one batch in one channel-layer message (stations.protocol.committer):
        # the browser still gets one frame per event, in order.
        await self._forward(message["events"])

    async def _forward(self, events: list[dict[str, Any]]) -> None:
        # A new notification's push leaves the writer without its unread count: it is counted
        # here, for the users who listen only, as it was up to that notification.
        ids = [e["notification"]["id"] for e in events if e.get("type") == "notification" and "unread" not in e]
        counts = await self._unread_up_to(ids) if ids else {}
        for event in events:
            if event.get("type") == "notification" and "unread" not in event:
                event = {**event, "unread": counts[event["notification"]["id"]]}
            await self.send_json(event)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "read" and isinstance(content.get("id"), int):
            await self._mark_read(content["id"])
        elif content.get("type") == "read_all":
            await self._mark_all_read()

    # --- helpers ----------------------------------------------------------------------------

    def _origin_allowed(self) -> bool:
        headers = dict(self.scope.get("headers", []))
        origin = headers.get(b"origin")
        if origin is None:  # not a browser: no cookie to abuse, the token decides
            return True
        host = urlparse(origin.decode("latin-1")).hostname or ""
        allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        return validate_host(host, allowed)

    async def _authenticate(self) -> Any:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        if token:
            return await database_sync_to_async(_user_from_token)(token)
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None

    @database_sync_to_async
    def _unread(self) -> int:
        from notifications.selectors import notification_unread_count

        return notification_unread_count(user=self.user)

    @database_sync_to_async
    def _unread_up_to(self, ids: list[int]) -> dict[int, int]:
        from notifications.selectors import notification_unread_counts_up_to

        return notification_unread_counts_up_to(user=self.user, ids=ids)

    @database_sync_to_async
    def _mark_read(self, notification_id: int) -> None:
        from notifications.services import notification_mark_read

        try:
            notification_mark_read(user=self.user, notification_id=notification_id)
        except NotFound:
            pass

    @database_sync_to_async
    def _mark_all_read(self) -> None:
        from notifications.services import notification_mark_all_read

        notification_mark_all_read(user=self.user)
