"""The dashboard socket: operators only, and it relays what services publish."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from accounts.models import Role, User
from core.events import DASHBOARD_GROUP, station_group
from csms.asgi import application
from dashboard.tests.conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_cookie(user: User) -> tuple[bytes, bytes]:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode())


_opened: list[WebsocketCommunicator] = []


@pytest.fixture(autouse=True)
async def _disconnect_every_socket() -> Any:
    """Every communicator is disconnected at the end of the test, a refused one too: until the app
    gets ``websocket.disconnect`` the consumer still runs its Redis receive, and the event loop's
    teardown would have to cancel it from under a Redis command (see core.consumers)."""
    yield
    while _opened:
        communicator = _opened.pop()
        if not communicator.future.done():
            await communicator.disconnect(timeout=5)


async def open_socket(user: User | None, path: str = "/ws/dashboard/", origin: tuple[bytes, bytes] = ORIGIN) -> tuple[bool, Any, WebsocketCommunicator]:
    headers = [origin]
    if user is not None:
        headers.append(await sync_to_async(session_cookie)(user))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    _opened.append(communicator)
    connected, code = await communicator.connect(timeout=5)
    return connected, code, communicator


async def test_an_operator_receives_published_events() -> None:
    operator = await sync_to_async(make_user)("op@example.com", Role.ADMIN)
    connected, _code, ws = await open_socket(operator, "/ws/dashboard/?station=CP-1")
    assert connected
    event = {"type": "connector", "charge_point_id": "CP-1", "connector_id": 1, "status": "Charging",
             "error_code": "NoError"}
    await get_channel_layer().group_send(DASHBOARD_GROUP, {"type": "live.event", "event": event})
    assert await ws.receive_json_from(timeout=5) == event
    meter = {"type": "meter", "transaction_id": 7, "timestamp": "2026-11-21T10:00:00Z", "energy_wh": 10,
             "power_w": 7000.0, "soc": None}
    await get_channel_layer().group_send(station_group("CP-1"), {"type": "live.event", "event": meter})
    assert await ws.receive_json_from(timeout=5) == meter
    await ws.disconnect()


async def test_a_batch_of_events_reaches_the_browser_one_frame_each_in_order() -> None:
    from stations.protocol.committer import _send_events

    operator = await sync_to_async(make_user)("op@example.com", Role.ADMIN)
    connected, _code, ws = await open_socket(operator, "/ws/dashboard/?station=CP-1")
    assert connected
    events = [{"type": "transaction", "id": n, "charge_point_id": f"CP-{n}", "connector_id": 1, "active": True}
              for n in (1, 2, 3)]
    await get_channel_layer().group_send(DASHBOARD_GROUP, {"type": "live.events", "events": events})
    assert [await ws.receive_json_from(timeout=5) for _ in events] == events
    assert await ws.receive_nothing(timeout=0.2)

    # As the OCPP group committer sends them: one message per group, the station's group too.
    meter = {"type": "meter", "transaction_id": 1, "timestamp": "2026-11-21T10:00:00Z", "energy_wh": 10,
             "power_w": 7000.0, "soc": None}
    await _send_events([(DASHBOARD_GROUP, events[0]), (station_group("CP-1"), events[0]),
                        (DASHBOARD_GROUP, meter), (station_group("CP-1"), meter),
                        (station_group("CP-2"), events[1])])
    received = [await ws.receive_json_from(timeout=5) for _ in range(4)]
    assert await ws.receive_nothing(timeout=0.2)  # not CP-2's group
    # Each group's events in order; the two groups' messages may arrive either way round.
    assert [e for e in received if e["type"] == "transaction"] == [events[0], events[0]]
    assert received.index(events[0]) < received.index(meter)
    assert received.count(meter) == 2
    await ws.disconnect()


@pytest.mark.parametrize("role", [Role.DRIVER, Role.DEMO])
async def test_drivers_and_demo_users_are_refused(role: str) -> None:
    user = await sync_to_async(make_user)("someone@example.com", role)
    connected, code, _ws = await open_socket(user)
    assert not connected and code == 4403


async def test_anonymous_visitors_are_refused() -> None:
    connected, _code, _ws = await open_socket(None)
    assert not connected


async def test_a_foreign_origin_is_refused() -> None:
    operator = await sync_to_async(make_user)("op@example.com", Role.ADMIN)
    connected, _code, _ws = await open_socket(operator, origin=(b"origin", b"http://evil.example"))
    assert not connected
