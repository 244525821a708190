"""Helpers for tests that start real server processes (imported by conftest.py and tests)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on {port} within {timeout}s")


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server process that shares the test database and channel layer."""
    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if settings.DATABASE_IS_POSTGRES:
        user = db.get("USER") or "postgres"
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    env["CSMS_CHANNEL_PREFIX"] = os.environ["CSMS_CHANNEL_PREFIX"]
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra)
    return env




def stop_process(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Stop a server or worker started by a test; print its log's end if it raised."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log.read_text(errors="replace")
    if "Traceback" in output:
        print(f"--- {log.name} ---\n{output[-5000:]}")


def redis_url_with_db(redis_url: str, db: int) -> str:
    """The same Redis server, another database number (a broker of a test's own)."""
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    return f"{base}/{db}"


@contextlib.contextmanager
def celery_worker(log: Path, env: dict[str, str], queue: str | None = None) -> Iterator[None]:
    """A real ``celery -A csms worker`` on the test database, ready when this enters."""
    args = [sys.executable, "-m", "celery", "-A", "csms", "worker", "--pool=solo", "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]
    if queue:
        args += ["-Q", queue]
    proc = subprocess.Popen(args, cwd=ROOT, env=server_env(**env), stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
        yield
    finally:
        stop_process(proc, log)
