"""Celery tasks for housekeeping: command timeouts and log retention. Safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task
def command_expire_timed_out() -> int:
    """Commands left ``pending`` or ``sent`` past their ``timeout_at`` end as ``timeout``."""
    from stations.jobs import command_expire_timed_out as expire

    return expire(now=timezone.now())


@shared_task
def message_log_purge() -> dict[str, int]:
    """The OCPP message log and the refused attempts past ``CSMS_MESSAGE_LOG_RETENTION_DAYS``
    (and the log beyond ``CSMS_MESSAGE_LOG_MAX_PER_STATION`` per station)."""
    from stations.jobs import refused_connection_purge
    from stations.services import message_log_purge as purge

    now = timezone.now()
    return {"messages": purge(now=now), "refused": refused_connection_purge(now=now)}
