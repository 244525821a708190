"""The PostgreSQL pool's health check, for connections that sat idle only.

Django's ``CONN_HEALTH_CHECKS`` with the pool checks every connection it hands out: one more round
trip on every request and every database call from async code (half a millisecond on the project's
machine, a tenth of a plain API call). A connection handed out moments ago has just worked (one
that broke is closed by Django and dropped by the pool), so only one that has sat unused for
longer than ``IDLE_SECONDS`` is checked: after a database restart, the first use of each pooled
connection still finds it dead and gets a new one instead of failing. ``core.postgresql`` (the
settings' ENGINE with the pool) puts it in place of Django's check.
"""

from __future__ import annotations

import time
from typing import Any

from psycopg_pool import ConnectionPool

IDLE_SECONDS = 2.0


def check_if_idle(conn: Any) -> None:
    """A ``check`` for ``psycopg_pool.ConnectionPool``."""
    now = time.monotonic()
    last = getattr(conn, "_csms_handed_out", None)
    if last is None or now - last > IDLE_SECONDS:
        ConnectionPool.check_connection(conn)  # raises for a dead connection: the pool replaces it
    conn._csms_handed_out = now
