"""Test wiring shared by every app: service detection and a live daphne server.

Tests marked ``postgres``, ``redis`` or ``chromium`` need the real thing. Without it they are
skipped on a developer's machine; with ``CSMS_REQUIRE_SERVICES=1`` (set by .ci/run) they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.testing import (  # noqa: F401
    ROOT,
    free_port,
    server_env,
    stop_process,
    wait_for_port,
)

# A channel prefix of its own, so concurrent runs on one Redis never see each other's messages.
os.environ.setdefault("CSMS_CHANNEL_PREFIX", f"csmstest{uuid.uuid4().hex[:8]}")

REQUIRE_SERVICES = os.environ.get("CSMS_REQUIRE_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _missing(marker: str) -> str | None:
    from django.conf import settings

    if marker == "postgres" and not settings.DATABASE_IS_POSTGRES:
        return "DATABASE_URL is not a PostgreSQL database"
    if marker == "redis" and not settings.REDIS_URL:
        return "REDIS_URL is not set"
    if marker == "chromium" and not shutil.which(CHROMIUM):
        return f"{CHROMIUM} is not installed"
    return None


def pytest_configure(config: pytest.Config) -> None:
    # pytest-django may read the settings before this module sets the prefix: give the test
    # process's own channel layer the prefix its daphne servers get (server_env), so that
    # remote calls made from a test reach the consumers, and concurrent runs stay apart.
    from django.conf import settings

    layer_config = settings.CHANNEL_LAYERS["default"].get("CONFIG")
    if layer_config is not None:
        layer_config["prefix"] = os.environ["CSMS_CHANNEL_PREFIX"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("postgres", "redis", "chromium"):
        if item.get_closest_marker(marker) is None:
            continue
        reason = _missing(marker)
        if reason is None:
            continue
        if REQUIRE_SERVICES:
            pytest.fail(f"CSMS_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)


SERVER_COMMANDS = {
    "daphne": lambda port: [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "csms.asgi:application"],
    # The server the README recommends for production (measured faster than daphne).
    "uvicorn": lambda port: [sys.executable, "-m", "uvicorn", "csms.asgi:application", "--host", "127.0.0.1",
                             "--port", str(port), "--loop", "uvloop", "--ws", "websockets-sansio",
                             "--log-level", "warning", "--no-access-log", "--lifespan", "off"],
}


def _server_starter(kind: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(**extra_env: str) -> str:
        port = free_port()
        log = tmp_path / f"{kind}-{port}.log"
        proc = subprocess.Popen(
            SERVER_COMMANDS[kind](port), cwd=ROOT, env=server_env(**extra_env), stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append((proc, log))
        wait_for_port(port, proc)
        return f"127.0.0.1:{port}"

    yield start
    for proc, log in procs:
        stop_process(proc, log)


@pytest.fixture
def start_daphne(transactional_db: Any, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start real daphne processes on the test database; returns ``host:port``.

    The test must be ``django_db(transaction=True)`` (the fixture asks for it) so that the
    server process sees the rows the test writes, and the test sees the server's.
    """
    yield from _server_starter("daphne", tmp_path)


@pytest.fixture(params=sorted(SERVER_COMMANDS))
def start_server(request: Any, transactional_db: Any, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_daphne``, once with each ASGI server the project supports (daphne, uvicorn)."""
    yield from _server_starter(request.param, tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _close_background_connections(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Worker threads of the OCPP adapter and remote calls keep their own database connections;
    end them before pytest-django drops the test database, which it cannot do while they live."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()
