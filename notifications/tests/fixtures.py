"""Fixtures shared by the notification and job tests (import them into a test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from csms.celery import app

# The app reads Django's settings with the CELERY_ namespace: those keys win over plain ones.
EAGER_KEYS = ("CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_EAGER_PROPAGATES")


@pytest.fixture
def celery_eager() -> Iterator[None]:
    """Tasks sent with ``.delay`` run at once, in the test's process (their errors propagate)."""
    old = {key: app.conf.get(key) for key in EAGER_KEYS}
    for key in EAGER_KEYS:
        app.conf[key] = True
    yield
    for key, value in old.items():
        app.conf[key] = value
