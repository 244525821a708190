"""Django's PostgreSQL backend, with the pool checking only connections that sat idle.

``ENGINE = "core.postgresql"`` (settings do it when the pool is on). See ``core.dbpool``.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

from core.dbpool import check_if_idle


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool
        # Django hands the pool ``check_connection`` when CONN_HEALTH_CHECKS is on, and takes no
        # ``check`` of its own in the pool options; psycopg_pool keeps it in ``_check``.
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = check_if_idle
        return pool
