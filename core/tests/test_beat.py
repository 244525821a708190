"""The beat schedule: every entry names a real task, and operators' edits survive a beat start."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.beat import DefaultsOnlyDatabaseScheduler, beat_schedule_install
from csms.celery import app

pytestmark = pytest.mark.django_db

OFFLINE = "stations: mark silent stations offline"


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


def test_the_command_installs_the_schedule_once(capsys):
    call_command("beat_schedule")
    assert set(PeriodicTask.objects.values_list("name", flat=True)) >= set(settings.CELERY_BEAT_SCHEDULE)
    call_command("beat_schedule")
    assert "0 created" in capsys.readouterr().out
    daily = PeriodicTask.objects.get(name="notifications: daily summary for admins")
    assert (daily.crontab.minute, daily.crontab.hour) == ("0", "6")


@pytest.mark.django_db(transaction=True)  # the scheduler closes old connections, as beat does
def test_an_operators_edit_survives_beat_starting_and_reset_restores_it():
    beat_schedule_install(schedule=settings.CELERY_BEAT_SCHEDULE)
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=600, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name=OFFLINE).update(interval=every_ten_minutes, enabled=False)

    scheduler = DefaultsOnlyDatabaseScheduler(app=app, lazy=True)
    scheduler.setup_schedule()

    task = PeriodicTask.objects.get(name=OFFLINE)
    assert (task.interval.every, task.enabled) == (600, False)

    call_command("beat_schedule", "--reset")
    task.refresh_from_db()
    assert (task.interval.every, task.enabled) == (30, False)
