"""The pool's health check on a real PostgreSQL: idle connections are checked, busy ones are not."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from core import dbpool

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _pool() -> ConnectionPool:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return ConnectionPool(kwargs={**params, "autocommit": True}, min_size=1, max_size=1,
                          check=dbpool.check_if_idle, open=True, timeout=5)


def _kill(conn: psycopg.Connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])


def test_a_dead_connection_that_sat_idle_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbpool, "IDLE_SECONDS", 0.0)  # every connection counts as idle
    with _pool() as pool:
        with pool.connection() as conn:
            dead_pid = conn.info.backend_pid
            _kill(conn)
        with pool.connection() as conn:  # the check found it dead: a new one, working
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != dead_pid


def test_a_connection_handed_out_moments_ago_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbpool, "IDLE_SECONDS", 60.0)
    with _pool() as pool:
        with pool.connection() as conn:  # first hand-out: checked, and the time kept
            conn.execute("SELECT 1")
            _kill(conn)
        # Within IDLE_SECONDS the pool hands the same connection out without a round trip, so
        # the dead backend shows only on use (Django then closes it and the pool drops it).
        with pytest.raises(psycopg.OperationalError):
            with pool.connection() as conn:
                conn.execute("SELECT 1")
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_project_pool_uses_it() -> None:
    assert connection.settings_dict["ENGINE"] == "core.postgresql"
    assert connection.pool._check is dbpool.check_if_idle
    connection.ensure_connection()
    assert connection.connection._csms_handed_out > 0  # the check ran on the hand-out


def test_a_statement_run_twice_on_a_connection_is_prepared_on_the_server() -> None:
    # DATABASE_PREPARED_STATEMENTS (default on): parameters bound on the server, and the hot
    # paths' statements parsed and planned once per connection.
    from stations.models import Station

    statement = 'SELECT count(*) FROM "stations_station" WHERE charge_point_id = %s'
    with connection.cursor() as cursor:
        for value in ("A", "B", "C"):
            cursor.execute(statement, [value])
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("charge_point_id = $1" in text for text in prepared), prepared
    assert Station.objects.filter(charge_point_id="A").count() == 0  # and the ORM's queries run as before
