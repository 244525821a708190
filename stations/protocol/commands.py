"""The consumer's side of remote control (filled by the remote-control work).

``RemoteCommandsMixin`` is mixed into ``OcppConsumer``. It needs from the consumer:
- ``self.charge_point_id``: str
- ``self.charge_point``: the ``CentralSystemV16`` (an ``ocpp`` v16 ChargePoint); use its ``call()``
- ``self.ready``: an ``asyncio.Event`` set once the charger may receive calls (its BootNotification
  was answered Accepted on this connection, or the station was already Accepted and booted before).
The consumer calls ``commands_on_ready()`` right after setting ``ready`` and
``commands_on_disconnect()`` when the socket closes.
"""

from __future__ import annotations

from typing import Any


class RemoteCommandsMixin:
    async def ocpp_command(self, message: dict[str, Any]) -> None:
        """Channel-layer handler for messages of type ``ocpp.command``."""

    async def commands_on_ready(self) -> None:
        """The charger may receive calls now (e.g. re-send the station's power limit after a boot)."""

    async def commands_on_disconnect(self) -> None:
        """The socket closed: calls queued here end (their rows say so)."""
