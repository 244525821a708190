"""End to end with a real Celery worker on Redis: beat's jobs run in another process, on the test
database, and their effects (rows, and a live push over the channel layer) reach this one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from core.tasks import command_expire_timed_out
from core.testing import celery_worker, redis_url_with_db
from csms.asgi import application
from csms.celery import app
from notifications.models import Notification, NotificationKind, NotificationPreference
from notifications.tasks import reservation_notify_due
from reservations.models import Reservation
from stations.models import Command, CommandState
from stations.tests.factories import StationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

BROKER_DB = 5  # a Redis database of its own, so no other run's worker takes our tasks


def broker_url() -> str:
    return redis_url_with_db(settings.REDIS_URL, BROKER_DB)


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path) -> Iterator[str]:
    """A ``celery -A csms worker`` consuming a queue named for this test run only."""
    queue = f"csms-test-{uuid.uuid4().hex[:12]}"
    env = {"CELERY_BROKER_URL": broker_url(), "CELERY_TASK_ALWAYS_EAGER": "0"}
    try:
        with celery_worker(tmp_path / "worker.log", env, queue=queue):
            yield queue
    finally:
        redis.Redis.from_url(broker_url()).delete(queue, f"_kombu.binding.{queue}")


def send(task: object, queue: str) -> None:
    """Send through the test run's own broker database and queue (the task takes no objects)."""
    with app.connection_for_write(broker_url()) as connection:
        task.apply_async(queue=queue, connection=connection)  # type: ignore[attr-defined]


async def wait_for(check: object, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = await sync_to_async(check)()  # type: ignore[arg-type]
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_jobs_run_by_a_real_worker_change_the_database_and_push_live(worker: str) -> None:
    def setup() -> tuple[object, int, int]:
        now = timezone.now()
        driver = UserFactory()
        # No e-mail: the worker would queue it on the default queue, which no test worker consumes.
        NotificationPreference.objects.create(
            user=driver, kind=NotificationKind.RESERVATION_EXPIRING, channel="email", enabled=False
        )
        station = StationFactory()
        reservation = Reservation.objects.create(
            user=driver, id_tag="TAG-W", station=station, expires_at=now + timedelta(minutes=3)
        )
        command = Command.objects.create(
            station=station, action="Reset", state=CommandState.SENT, timeout_at=now - timedelta(seconds=1)
        )
        return driver, reservation.pk, command.pk

    driver, reservation_id, command_id = await sync_to_async(setup)()
    token = await sync_to_async(lambda: str(RefreshToken.for_user(driver).access_token))()
    ws = WebsocketCommunicator(application, f"/ws/notifications/?token={token}")
    assert (await ws.connect(timeout=5))[0]
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"

    await sync_to_async(send)(command_expire_timed_out, worker)
    await sync_to_async(send)(reservation_notify_due, worker)

    state = await wait_for(lambda: Command.objects.get(pk=command_id).state == CommandState.TIMEOUT)
    assert state, "the worker did not time the command out"
    event = await ws.receive_json_from(timeout=30)
    assert event["type"] == "notification"
    assert event["notification"]["kind"] == NotificationKind.RESERVATION_EXPIRING
    assert event["notification"]["data"]["reservation_id"] == reservation_id

    # Run twice: nothing more happens. The solo worker takes its queue in order, so once a later
    # command has timed out, the repeated job has run.
    await sync_to_async(send)(reservation_notify_due, worker)
    marker = await sync_to_async(lambda: Command.objects.create(
        station=Command.objects.get(pk=command_id).station, action="Reset", state=CommandState.PENDING,
        timeout_at=timezone.now() - timedelta(seconds=1)).pk)()
    await sync_to_async(send)(command_expire_timed_out, worker)
    assert await wait_for(lambda: Command.objects.get(pk=marker).state == CommandState.TIMEOUT)
    count = await sync_to_async(Notification.objects.filter(user=driver).count)()
    assert count == 1
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()
