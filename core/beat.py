"""The beat scheduler: django-celery-beat's, with settings as defaults that operators may edit.

django-celery-beat's ``DatabaseScheduler`` writes every ``CELERY_BEAT_SCHEDULE`` entry over its
database row at each start, so an operator's change in the admin (Periodic tasks) would be undone
by the next restart. Here the settings only create the rows that are missing; the database is
the truth from then on. ``manage.py beat_schedule --reset`` puts the settings' values back.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry


def beat_schedule_install(*, schedule: dict[str, dict[str, Any]], reset: bool = False) -> tuple[list[str], list[str]]:
    """Create the missing periodic tasks (``reset``: overwrite the existing ones too).

    Returns (created, reset) names. Safe to run twice. An operator's ``enabled`` choice is kept
    even on reset.
    """
    created: list[str] = []
    updated: list[str] = []
    with transaction.atomic():
        existing = set(PeriodicTask.objects.filter(name__in=list(schedule)).values_list("name", flat=True))
        for name, entry in schedule.items():
            if name in existing and not reset:
                continue
            fields = ModelEntry._unpack_fields(**entry)
            PeriodicTask.objects.update_or_create(name=name, defaults=fields)
            (updated if name in existing else created).append(name)
    return created, updated


class DefaultsOnlyDatabaseScheduler(DatabaseScheduler):
    def setup_schedule(self) -> None:
        self.install_default_entries(self.schedule)
        beat_schedule_install(schedule=dict(self.app.conf.beat_schedule))
