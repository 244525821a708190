"""Celery tasks of sessions. Ids only in arguments; each is safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone


@shared_task
def transaction_watch() -> dict[str, Any]:
    """Every minute: end of charge (detect by power, then notify/stop/unlock after the delay),
    thresholds reached, idle fees started, balances running low."""
    from notifications.jobs import low_balance_during_sessions
    from transactions import end_of_charge

    now = timezone.now()
    return {
        "end_of_charge_detected": end_of_charge.end_of_charge_detect_power(now=now),
        "end_of_charge_acted": end_of_charge.end_of_charge_act_due(now=now),
        "thresholds": end_of_charge.threshold_notify(now=now),
        "idle_fee": end_of_charge.idle_fee_notify(now=now),
        "low_balance": low_balance_during_sessions(now=now),
    }


@shared_task
def transaction_flag_stale() -> dict[str, list[int]]:
    from transactions.jobs import transaction_flag_stale as flag

    result = flag(now=timezone.now())
    return {"silent": result.silent, "inferred_stopped": result.inferred_stopped, "revived": result.revived}
