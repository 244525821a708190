"""Celery tasks of notifications. Ids only in arguments; each is safe to run twice."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.utils import timezone


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=30, retry_backoff_max=1800, max_retries=8
)
def notification_email_send(notification_id: int) -> bool:
    """Send one notification's e-mail (once: the row's ``emailed_at`` is set under a lock).
    SMTP and network errors are transient: retried with backoff."""
    from notifications.services import notification_email_deliver

    return notification_email_deliver(notification_id=notification_id)


@shared_task
def notification_email_retry() -> list[int]:
    from notifications.jobs import notification_email_retry as retry

    return retry(now=timezone.now())


@shared_task
def reservation_notify_due() -> dict[str, list[int]]:
    from notifications.jobs import reservation_notify_due as notify

    return notify(now=timezone.now())


@shared_task
def daily_summary_send(day: str | None = None) -> list[int]:
    """The admins' summary of ``day`` (ISO date; default yesterday)."""
    from datetime import date

    from notifications.jobs import daily_summary_send as send

    sent = send(now=timezone.now(), day=date.fromisoformat(day) if day else None)
    return [n.pk for n in sent]
