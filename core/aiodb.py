"""Single PostgreSQL statements from async code, on the event loop: no thread hop.

The ORM is synchronous, so async code reaches it through a thread: a hop there and back, and in
a busy server process each side waits for the GIL (a remote command's answer spent more time on
that than on the statement). For a hot path that is one hand-written statement, ``fetchone``
runs it on an autocommit ``psycopg.AsyncConnection`` of the running event loop instead, with the
same database settings as Django's connection. Callers keep their thread path as the fallback
(SQLite, or this connection failing): ``fetchone`` raises ``Unavailable`` then.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)

# Keys of Django's connection parameters that are not libpq's.
_DJANGO_ONLY = ("cursor_factory", "context", "prepare_threshold", "server_side_binding")


class Unavailable(Exception):
    """No async connection (not PostgreSQL) or the statement failed on it."""


class _LoopConnection:
    """One connection per event loop, opened at first use, replaced when it breaks."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.lock = asyncio.Lock()


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnection] = weakref.WeakKeyDictionary()


def available() -> bool:
    return connection.vendor == "postgresql"


async def fetchone(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """Run one statement (autocommit) and return its first row."""
    if not available():
        raise Unavailable("not PostgreSQL")
    import psycopg

    loop = asyncio.get_running_loop()
    holder = _per_loop.get(loop)
    if holder is None:
        holder = _per_loop[loop] = _LoopConnection()
    async with holder.lock:  # one statement at a time on a connection
        try:
            if holder.conn is None or holder.conn.closed:
                params_ = {k: v for k, v in connection.get_connection_params().items() if k not in _DJANGO_ONLY}
                holder.conn = await psycopg.AsyncConnection.connect(**params_, autocommit=True)
            cursor = await holder.conn.execute(sql, params)
            return await cursor.fetchone()
        except psycopg.Error as exc:
            if holder.conn is not None and holder.conn.broken:
                await holder.conn.close()
                holder.conn = None
            raise Unavailable(str(exc)) from exc
