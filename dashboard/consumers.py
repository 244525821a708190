"""The dashboard's live channel: forwards domain events to operators' browsers.

Domain services publish ``{"type": "live.event", "event": {...}}`` to ``DASHBOARD_GROUP`` and to
``station_group(charge_point_id)`` after their transaction commits (core.events); the OCPP group
committer sends a batch's several events to one group as ``{"type": "live.events", "events":
[...]}``, forwarded one frame per event as before. This consumer only relays them; it decides
nothing and reads nothing but the user from the session.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.consumers import CancellableLayerReceiveMixin
from core.events import DASHBOARD_GROUP, station_group
from stations.models import CHARGE_POINT_ID_PATTERN

_CP_ID = re.compile(CHARGE_POINT_ID_PATTERN)
# Close codes in the 4000 range are the application's own: 4403 = not an operator.
CLOSE_FORBIDDEN = 4403


class DashboardConsumer(CancellableLayerReceiveMixin, AsyncJsonWebsocketConsumer):
    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.joined: set[str] = set()
        await self._join(DASHBOARD_GROUP)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        for cp_id in query.get("station", [])[:1]:
            if _CP_ID.match(cp_id):
                await self._join(station_group(cp_id))
        await self.accept()

    async def _join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # {"subscribe": "<charge_point_id>"}: also receive one station's meter values.
        cp_id = content.get("subscribe") if isinstance(content, dict) else None
        if isinstance(cp_id, str) and _CP_ID.match(cp_id) and len(self.joined) < 50:
            await self._join(station_group(cp_id))

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def live_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def live_events(self, message: dict[str, Any]) -> None:
        # Several events of one batch in one channel-layer message (stations.protocol.committer):
        # the browser still gets one frame per event, in order.
        for event in message["events"]:
            await self.send_json(event)
