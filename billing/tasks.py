"""Billing jobs. They take ids, are sent after commit, and are safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from core.exceptions import DomainError

logger = logging.getLogger(__name__)


def remote_call(charge_point_id: str, action: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    """The one door to the charger (stations.protocol.remote.call), imported when needed."""
    from stations.protocol import remote

    return remote.call(charge_point_id, action, payload, **kwargs)


@shared_task
def session_stop_over_limit(transaction_id: int, reason: str = "") -> str:
    """Send RemoteStopTransaction to a session that reached a limit (balance, hold, max energy).

    Does nothing when the session already stopped (a second run, or the charger stopped first).
    Does not wait for the answer: the command ledger (stations.Command) records it, and the stop
    itself arrives as the charger's StopTransaction.
    """
    from transactions.models import Transaction

    tx = Transaction.objects.select_related("station").filter(pk=transaction_id).first()
    if tx is None or tx.stopped_at is not None:
        return "stopped"
    try:
        command = remote_call(
            tx.station.charge_point_id, "RemoteStopTransaction", {"transactionId": tx.pk},
            wait=False, source="billing",
        )
    except DomainError as exc:
        # Offline (or the call was refused): forget the request, so the session's next MeterValues,
        # or the periodic refresh, asks again once the charger is back.
        from billing.models import SessionBilling

        SessionBilling.objects.filter(transaction_id=transaction_id).update(limit_stop_requested_at=None)
        logger.warning("limit stop of session %s (%s) failed: %s", transaction_id, reason, exc)
        return exc.code
    logger.info("limit stop of session %s (%s): command %s", transaction_id, reason, getattr(command, "pk", None))
    return "sent"


@shared_task
def session_costs_refresh() -> int:
    from django.utils import timezone

    from billing.services import session_costs_refresh as refresh

    return refresh(now=timezone.now())


@shared_task
def payment_release_unused() -> int:
    from django.utils import timezone

    from billing.payments import payment_release_unused as release

    return len(release(now=timezone.now()))


@shared_task
def receipt_send(transaction_id: int) -> bool:
    from billing.receipts import receipt_send as send

    return send(transaction_id=transaction_id)


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def payment_capture(payment_id: int) -> str:
    from billing.payments import payment_capture as capture

    return capture(payment_id=payment_id).status


@shared_task
def guest_session_start(payment_id: int) -> str:
    from billing.payments import guest_session_start as start

    return start(payment_id=payment_id)
