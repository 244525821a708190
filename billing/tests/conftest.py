from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from csms.celery import app as celery_app


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run Celery tasks in-process when sent (they are sent after commit, with ids)."""
    old = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


@pytest.fixture
def charger(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Stands in for the charger behind stations.protocol.remote.call: records calls, answers Accepted."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def call(charge_point_id: str, action: str, payload: dict[str, Any], **kwargs: Any) -> SimpleNamespace:
        calls.append((charge_point_id, action, payload))
        return SimpleNamespace(response={"status": calls_status[0]})

    calls_status = ["Accepted"]
    monkeypatch.setattr("billing.tasks.remote_call", call)
    calls.status = calls_status  # type: ignore[attr-defined]
    return calls


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Factories set passwords; PBKDF2's deliberate slowness buys nothing in these tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
