"""Helpers for the OCPP endpoint tests: a WebsocketCommunicator on the real application."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from csms.asgi import application

_ids = itertools.count(1)


class Charger:
    """A WebSocket client speaking raw OCPP-J frames to the consumer."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator

    async def call(self, action: str, payload: dict[str, Any], unique_id: str | None = None) -> list[Any]:
        uid = unique_id or f"m{next(_ids)}"
        await self.ws.send_to(text_data=json.dumps([2, uid, action, payload]))
        return await self.receive()

    async def send_raw(self, text: str) -> list[Any]:
        await self.ws.send_to(text_data=text)
        return await self.receive()

    async def receive(self, timeout: float = 5) -> list[Any]:
        return json.loads(await self.ws.receive_from(timeout=timeout))

    async def boot(self) -> list[Any]:
        return await self.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "W22"})

    async def close(self) -> None:
        await self.ws.disconnect()


def basic(charge_point_id: str, password: str) -> tuple[bytes, bytes]:
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
    return (b"authorization", f"Basic {token}".encode())


@pytest.fixture
async def open_charger() -> AsyncIterator[Callable[..., Any]]:
    """``await open_charger("CP-1", password=None, subprotocols=["ocpp1.6"])`` → (connected, detail, Charger)."""
    opened: list[WebsocketCommunicator] = []

    async def open_(charge_point_id: str, *, password: str | None = None, subprotocols: list[str] | None = None,
                    path: str | None = None) -> tuple[bool, Any, Charger]:
        headers = [basic(charge_point_id, password)] if password is not None else []
        communicator = WebsocketCommunicator(
            application, path or f"/ocpp/{charge_point_id}", headers=headers,
            subprotocols=["ocpp1.6"] if subprotocols is None else subprotocols,
        )
        connected, detail = await communicator.connect(timeout=10)
        opened.append(communicator)
        return connected, detail, Charger(communicator)

    yield open_
    for communicator in opened:
        try:
            await communicator.disconnect()
        except Exception:
            pass


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections() -> AsyncIterator[None]:
    """The ORM threads keep their connections (CONN_MAX_AGE); close them so the test database can go."""
    yield
    from channels.db import database_sync_to_async
    from django.db import connections

    from stations.protocol.committer import committer

    await committer().aclose()
    await database_sync_to_async(connections.close_all)()
