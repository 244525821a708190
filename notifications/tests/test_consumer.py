"""The live push at /ws/notifications/ through real WebSockets on the Redis channel layer."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from csms.asgi import application
from notifications.models import Notification, NotificationKind
from notifications.services import notification_mark_read, notification_send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def token_for(user):
    return str(RefreshToken.for_user(user).access_token)


@sync_to_async
def make_user(**fields):
    return UserFactory(**fields)


@sync_to_async
def notify(user, key="a"):
    with transaction.atomic():  # the push leaves when this commits
        return notification_send(user=user, kind=NotificationKind.LOW_BALANCE, dedup_key=key,
                                 params={"balance": "1.00", "currency": "EUR"})


@pytest.fixture
async def connect():
    """Open a socket: ``communicator, connected, close_code``. Every communicator is disconnected
    at the end of the test, a refused one too: until the app gets ``websocket.disconnect`` the
    consumer is still running, with its channel layer's Redis receive, and the event loop's
    teardown would have to cancel it from under a Redis command."""
    opened = []

    async def open_socket(path, headers=()):
        communicator = WebsocketCommunicator(application, path, headers=list(headers))
        opened.append(communicator)
        connected, code = await communicator.connect(timeout=5)
        return communicator, connected, code

    yield open_socket
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect(timeout=5)


async def test_an_app_with_a_token_gets_its_notifications_live(connect):
    user, other = await make_user(), await make_user()
    ws, connected, _ = await connect(f"/ws/notifications/?token={await sync_to_async(token_for)(user)}")
    assert connected
    assert await ws.receive_json_from(timeout=5) == {"type": "hello", "unread": 0}

    await notify(other)
    notification = await notify(user)

    event = await ws.receive_json_from(timeout=5)
    assert event["type"] == "notification"
    assert event["notification"]["id"] == notification.pk
    assert event["notification"]["title"] == "Low balance"
    assert event["unread"] == 1
    assert await ws.receive_nothing(timeout=0.3)  # the other user's notification is not ours

    await sync_to_async(notification_mark_read)(user=user, notification_id=notification.pk)
    assert await ws.receive_json_from(timeout=5) == {"type": "notification.read", "ids": [notification.pk],
                                                     "unread": 0}
    await ws.disconnect()


async def test_a_page_with_the_session_cookie_is_pushed_to_and_may_mark_read(connect):
    user = await make_user(email="page@example.com")
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    ws, connected, _ = await connect(
        "/ws/notifications/", headers=[(b"cookie", cookie), (b"origin", b"http://127.0.0.1:8000")]
    )
    assert connected
    await ws.receive_json_from(timeout=5)
    notification = await notify(user)
    assert (await ws.receive_json_from(timeout=5))["notification"]["id"] == notification.pk

    await ws.send_json_to({"type": "read", "id": notification.pk})
    assert (await ws.receive_json_from(timeout=5))["type"] == "notification.read"
    read_at = await sync_to_async(lambda: Notification.objects.get(pk=notification.pk).read_at)()
    assert read_at is not None
    await ws.disconnect()


@pytest.mark.parametrize("query", ["", "?token=not-a-jwt"])
async def test_anonymous_or_a_bad_token_is_refused(connect, query):
    _, connected, code = await connect(f"/ws/notifications/{query}")
    assert not connected
    assert code == 4401


async def test_a_token_from_before_a_password_change_is_refused(connect):
    user = await make_user()
    token = await sync_to_async(token_for)(user)
    await asyncio.sleep(1.1)  # token times have one-second resolution

    def change_password():
        user.set_password("another-pass-word-456")
        user.save()

    await sync_to_async(change_password)()
    _, connected, code = await connect(f"/ws/notifications/?token={token}")
    assert not connected and code == 4401


async def test_a_foreign_origin_is_refused_even_with_a_session(connect):
    user = await make_user()
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    _, connected, code = await connect(
        "/ws/notifications/", headers=[(b"cookie", cookie), (b"origin", b"https://evil.example")]
    )
    assert not connected and code == 4403


async def test_a_batch_of_events_is_forwarded_one_frame_each_in_order(connect):
    from channels.layers import get_channel_layer

    from core.events import user_group

    user = await make_user()
    ws, connected, _ = await connect(f"/ws/notifications/?token={await sync_to_async(token_for)(user)}")
    assert connected
    assert await ws.receive_json_from(timeout=5) == {"type": "hello", "unread": 0}
    events = [{"type": "notification", "notification": {"id": 1}, "unread": 1},
              {"type": "notification", "notification": {"id": 2}, "unread": 2},
              {"type": "notification.read", "ids": [1, 2], "unread": 0}]
    await get_channel_layer().group_send(user_group(user.pk), {"type": "live.events", "events": events})
    assert [await ws.receive_json_from(timeout=5) for _ in events] == events
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


async def test_a_batch_of_new_notifications_is_forwarded_with_the_unread_count_up_to_each(connect):
    from channels.layers import get_channel_layer

    from core.events import user_group
    from notifications.services import notification_payload

    user = await make_user()
    ws, connected, _ = await connect(f"/ws/notifications/?token={await sync_to_async(token_for)(user)}")
    assert connected
    assert await ws.receive_json_from(timeout=5) == {"type": "hello", "unread": 0}

    @sync_to_async
    def stored_pushes():
        # Three stored without a push of their own, the middle one read already: what the writer
        # hands the channel layer for a batch (``notifications_send_many``).
        made = [Notification.objects.create(user=user, kind=NotificationKind.LOW_BALANCE, dedup_key=key,
                                            title="Low balance", in_app=True) for key in "xyz"]
        Notification.objects.filter(pk=made[1].pk).update(read_at=made[1].created_at)
        return [{"type": "notification", "notification": notification_payload(n)} for n in made]

    pushes = await stored_pushes()
    await get_channel_layer().group_send(user_group(user.pk), {"type": "live.events", "events": pushes})
    forwarded = [await ws.receive_json_from(timeout=5) for _ in pushes]
    assert await ws.receive_nothing(timeout=0.2)
    assert [(e["notification"]["id"], e["unread"]) for e in forwarded] == [
        (pushes[0]["notification"]["id"], 1), (pushes[1]["notification"]["id"], 1),
        (pushes[2]["notification"]["id"], 2)]
    await ws.disconnect()
