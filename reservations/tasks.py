from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task
def reservation_expire_due() -> int:
    """Expire due reservations (beat runs it every 30 s; safe to run twice)."""
    from reservations.services import reservation_expire_due as expire

    return expire(now=timezone.now())
