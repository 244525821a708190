"""Single statements on the event loop (``core.aiodb``) against the real PostgreSQL."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from core import aiodb
from stations.models import Station
from stations.tests.factories import StationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


async def test_a_statement_runs_on_the_loop_and_commits() -> None:
    station = await database_sync_to_async(StationFactory)(name="before")
    row = await aiodb.fetchone('UPDATE "stations_station" SET name = %s WHERE id = %s RETURNING name', ["after", station.pk])
    assert row == ("after",)
    assert (await database_sync_to_async(Station.objects.get)(pk=station.pk)).name == "after"  # committed


async def test_a_broken_connection_raises_unavailable_then_is_replaced() -> None:
    (pid,) = await aiodb.fetchone("SELECT pg_backend_pid()", [])

    def kill() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    await database_sync_to_async(kill)()
    with pytest.raises(aiodb.Unavailable):
        await aiodb.fetchone("SELECT 1", [])
    (new_pid,) = await aiodb.fetchone("SELECT pg_backend_pid()", [])
    assert new_pid != pid


async def test_a_failing_statement_raises_unavailable() -> None:
    with pytest.raises(aiodb.Unavailable):
        await aiodb.fetchone("SELECT * FROM no_such_table", [])
    assert await aiodb.fetchone("SELECT 2", []) == (2,)  # the connection still serves
