"""Install the beat schedule of the settings as periodic tasks operators can edit in the admin."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from core.beat import beat_schedule_install


class Command(BaseCommand):
    help = "Create the periodic tasks of CELERY_BEAT_SCHEDULE that are missing (--reset: restore all of them)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="Overwrite operators' edits with the settings.")

    def handle(self, *args: Any, reset: bool, **options: Any) -> None:
        created, updated = beat_schedule_install(schedule=settings.CELERY_BEAT_SCHEDULE, reset=reset)
        for name in created:
            self.stdout.write(f"created: {name}")
        for name in updated:
            self.stdout.write(f"reset: {name}")
        kept = len(settings.CELERY_BEAT_SCHEDULE) - len(created) - len(updated)
        self.stdout.write(f"{len(created)} created, {len(updated)} reset, {kept} kept as operators left them")
