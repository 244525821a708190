from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from csms.celery import app as celery_app


@pytest.fixture(autouse=True)
def eager_celery() -> Iterator[None]:
    """Run Celery tasks in-process when sent (they are sent after commit, with ids).

    Autouse: billing's tests never leave messages in a shared broker for someone else's worker.
    """
    # The app reads Django settings with the CELERY_ namespace: the keys carry the prefix.
    keys = ("CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_EAGER_PROPAGATES")
    old = {key: celery_app.conf.get(key) for key in keys}
    for key in keys:
        celery_app.conf[key] = True
    yield
    for key, value in old.items():
        celery_app.conf[key] = value


class FakeCharger(list):  # type: ignore[type-arg]
    """Records the calls sent to it; answers each with ``status``."""

    status = "Accepted"

    def call(self, charge_point_id: str, action: str, payload: dict[str, Any], **kwargs: Any) -> SimpleNamespace:
        self.append((charge_point_id, action, payload))
        return SimpleNamespace(response={"status": self.status})


@pytest.fixture
def charger(monkeypatch: pytest.MonkeyPatch) -> FakeCharger:
    """Stands in for the charger behind stations.protocol.remote.call (billing.tasks.remote_call)."""
    fake = FakeCharger()
    monkeypatch.setattr("billing.tasks.remote_call", fake.call)
    return fake


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Factories set passwords; PBKDF2's deliberate slowness buys nothing in these tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
