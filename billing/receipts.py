"""Receipts of finished sessions: the in-app notification and the e-mail.

Registered drivers get a Notification of kind ``receipt`` (dedup key: the transaction id, the same
key the notifications app uses, so whichever writes first wins and the driver gets one) and, if
their preferences allow, an e-mail. A guest gets the e-mail at the address given with the payment.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction as db_transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.models import Payment, PaymentKind, SessionBilling
from billing.selectors import receipt_get
from notifications.models import Notification, NotificationChannel, NotificationKind, NotificationPreference
from transactions.models import Transaction

logger = logging.getLogger(__name__)


def receipt_url(*, transaction: Transaction, payment: Payment | None = None) -> str:
    from billing.payments import guest_token

    base = settings.CSMS_PUBLIC_URL.rstrip("/")
    url = base + reverse("billing:receipt", args=[transaction.pk])
    if payment is not None:
        url += f"?token={guest_token(payment)}"
    return url


def _enabled(user_id: int, channel: str) -> bool:
    pref = NotificationPreference.objects.filter(
        user_id=user_id, kind=NotificationKind.RECEIPT, channel=channel
    ).values_list("enabled", flat=True).first()
    return pref is None or bool(pref)


def receipt_send(*, transaction_id: int) -> bool:
    """Send the receipt of a finished session once. Returns whether this call sent anything."""
    tx = Transaction.objects.select_related("station", "connector", "user").filter(pk=transaction_id).first()
    if tx is None or tx.stopped_at is None:
        return False
    payment = None
    if tx.user is None:
        payment = Payment.objects.filter(transaction=tx, kind=PaymentKind.SESSION_HOLD).first()
        if payment is None or not payment.email:
            return False
    receipt = receipt_get(transaction=tx)
    language = (tx.user.language if tx.user and tx.user.language else settings.LANGUAGE_CODE)
    with translation.override(language):
        context = {"receipt": receipt, "tx": tx, "url": receipt_url(transaction=tx, payment=payment)}
        subject = _("Receipt for charging session %(id)s") % {"id": tx.pk}
        body = render_to_string("billing/receipt_email.txt", context)
    with db_transaction.atomic():
        state, _created = SessionBilling.objects.get_or_create(transaction=tx)
        if tx.user is not None:
            notification, created = Notification.objects.get_or_create(
                user=tx.user, kind=NotificationKind.RECEIPT, dedup_key=str(tx.pk),
                defaults={"title": subject, "body": body, "data": {"transaction_id": tx.pk, **receipt.as_dict(),
                          "started_at": tx.started_at.isoformat(), "stopped_at": tx.stopped_at.isoformat()}},
            )
            if not created:
                return False  # already notified (by us, or by the notifications app)
            if not (_enabled(tx.user.pk, NotificationChannel.EMAIL) and tx.user.email):
                return True
            to = tx.user.email
        else:
            to = payment.email if payment else ""
        claimed = SessionBilling.objects.filter(pk=state.pk, receipt_emailed_at__isnull=True).update(
            receipt_emailed_at=timezone.now()
        )
        if not claimed:
            return False
        # Inside the block: a mail server refusing the message rolls the claim back, so a retry sends it.
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
        if tx.user is not None:
            Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
    return True
