"""Payments with a provider: top-ups by Checkout, guest sessions by a card hold, webhooks.

Webhooks are the truth about money: a top-up is credited, and a guest hold counts as authorised,
only when the provider's signed event says so. Each event id is processed once (ProviderEvent).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core import signing
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import IdTag, IdTagStatus, User
from billing.models import (
    LedgerKind,
    Payment,
    PaymentKind,
    PaymentStatus,
    ProviderEvent,
)
from billing.providers import (
    PaymentProvider,
    WebhookEvent,
    WebhookSignatureError,
    get_provider,
)
from billing.providers.stripe import from_minor_units
from billing.services import ledger_credit
from core.exceptions import ChargerOffline, Conflict, ConnectorOccupied, DomainError, InvalidInput, NotFound
from stations.models import Connector, Station

logger = logging.getLogger(__name__)

GUEST_TOKEN_SALT = "billing.guest"


class PaymentsUnavailable(Conflict):
    code = "payments_unavailable"
    default_message = _("Online payments are not configured.")


def _provider() -> PaymentProvider:
    provider = get_provider()
    if provider is None:
        raise PaymentsUnavailable()
    return provider


def _amount(value: object, *, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput(_("Not an amount."), errors={field: [str(_("Not an amount."))]}) from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(_("Not an amount."), errors={field: [str(_("At most two decimal places."))]})
    return amount


# --- Top-up -----------------------------------------------------------------------------------

def topup_start(*, user: User, amount: object) -> Payment:
    """Open a Checkout session for a top-up; the balance moves only when the webhook confirms it."""
    value = _amount(amount, field="amount")
    if not settings.CSMS_TOPUP_MIN_AMOUNT <= value <= settings.CSMS_TOPUP_MAX_AMOUNT:
        message = _("A top-up is between %(min)s and %(max)s.") % {
            "min": settings.CSMS_TOPUP_MIN_AMOUNT, "max": settings.CSMS_TOPUP_MAX_AMOUNT}
        raise InvalidInput(message, errors={"amount": [message]})
    provider = _provider()
    payment = Payment.objects.create(
        provider=provider.name, kind=PaymentKind.TOPUP, user=user, amount=value, currency=user.currency,
    )
    base = settings.CSMS_PUBLIC_URL.rstrip("/")
    checkout = provider.checkout_create(
        reference=str(payment.pk), amount=value, currency=user.currency, description=str(_("Credit top-up")),
        email=user.email, success_url=f"{base}/billing/topup/done/?payment={payment.pk}",
        cancel_url=f"{base}/billing/topup/cancelled/?payment={payment.pk}",
    )
    payment.provider_ref = checkout.provider_ref
    payment.checkout_url = checkout.url
    payment.updated_at = timezone.now()
    payment.save(update_fields=["provider_ref", "checkout_url", "updated_at"])
    return payment


# --- Guest sessions ---------------------------------------------------------------------------

STRIPE_MINIMUM = Decimal("0.50")


def guest_hold_amount(*, station: Station) -> Decimal:
    """The session's maximum cost, held on the guest's card: CSMS_GUEST_HOLD_AMOUNT, or less when
    the station's energy limit bounds the cost (a tariff without time-based prices)."""
    from billing.pricing import currency_quantum
    from billing.services import tariff_for_station, tariff_spec

    amount: Decimal = settings.CSMS_GUEST_HOLD_AMOUNT
    spec = tariff_spec(station=station, tariff=tariff_for_station(station=station))
    max_wh = station.max_energy_per_session_wh or settings.CSMS_MAX_ENERGY_PER_SESSION_WH
    if max_wh and not (spec.price_per_minute or spec.idle_fee_per_minute):
        top = max([spec.price_per_kwh, *(p.price_per_kwh for p in spec.periods)])
        bound = (spec.session_fee + Decimal(max_wh) / 1000 * top).quantize(currency_quantum(spec.currency), ROUND_UP)
        amount = min(amount, max(bound, STRIPE_MINIMUM))
    return amount


def guest_session_create(*, charge_point_id: str, connector_id: int, email: str = "") -> tuple[Payment, str]:
    """A guest's card hold for the session's maximum, before anything is started.

    Creates a one-off id tag that expires after CSMS_GUEST_ID_TAG_MINUTES and a Payment in state
    ``created``; returns it with the provider's client secret for the payer's card confirmation.
    The remote start is sent when the provider reports the hold authorised (webhook).
    """
    station = Station.objects.filter(charge_point_id=charge_point_id, dismissed=False).first()
    if station is None:
        raise NotFound(_("Unknown station."))
    connector = Connector.objects.filter(station=station, connector_id=connector_id).first()
    if connector is None:
        raise NotFound(_("Unknown connector."))
    provider = _provider()
    # Nothing is held on a card for a charger that cannot start now.
    if station.is_offline():
        raise ChargerOffline()
    if not connector.is_free:
        raise ConnectorOccupied()
    now = timezone.now()
    with db_transaction.atomic():
        tag = IdTag.objects.create(
            id_tag="G" + secrets.token_hex(8).upper(), user=None, status=IdTagStatus.ACCEPTED,
            expiry_date=now + timedelta(minutes=settings.CSMS_GUEST_ID_TAG_MINUTES),
            description=str(_("Guest session by QR code")),
        )
        payment = Payment.objects.create(
            provider=provider.name, kind=PaymentKind.SESSION_HOLD, station=station, connector_id=connector_id,
            id_tag=tag.id_tag, email=email, amount=guest_hold_amount(station=station), currency=station.currency,
        )
    hold = provider.hold_create(
        reference=str(payment.pk), amount=payment.amount, currency=payment.currency,
        description=str(_("Charging at %(station)s")) % {"station": station}, email=email,
    )
    payment.provider_ref = hold.provider_ref
    payment.updated_at = timezone.now()
    payment.save(update_fields=["provider_ref", "updated_at"])
    return payment, hold.client_secret


def guest_token(payment: Payment) -> str:
    """A token that lets the guest (who has no account) follow their session and see the receipt."""
    return signing.dumps(payment.pk, salt=GUEST_TOKEN_SALT)


def guest_payment_from_token(token: str) -> Payment:
    try:
        pk = signing.loads(token, salt=GUEST_TOKEN_SALT, max_age=90 * 86400)
    except signing.BadSignature:
        raise NotFound() from None
    payment = Payment.objects.select_related("transaction", "station").filter(pk=pk).first()
    if payment is None:
        raise NotFound()
    return payment


def guest_session_start(*, payment_id: int) -> str:
    """Send RemoteStartTransaction for an authorised hold; a refused start releases the hold."""
    from billing.tasks import remote_call

    payment = Payment.objects.select_related("station").get(pk=payment_id)
    if payment.status != PaymentStatus.AUTHORIZED or payment.transaction_id is not None:
        return "skipped"
    try:
        command = remote_call(
            payment.station.charge_point_id, "RemoteStartTransaction",
            {"connectorId": payment.connector_id, "idTag": payment.id_tag}, wait=True, source="billing",
        )
        status = str((getattr(command, "response", None) or {}).get("status", ""))
    except DomainError as exc:
        status = exc.code
    if status != "Accepted":
        logger.info("guest start for payment %s refused (%s): releasing the hold", payment_id, status)
        payment_release(payment_id=payment_id)
    return status


def payment_release(*, payment_id: int) -> Payment:
    """Cancel an unused hold with the provider and retire its guest id tag."""
    with db_transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in (PaymentStatus.CREATED, PaymentStatus.AUTHORIZED) or payment.transaction_id:
            return payment  # already closed, or its session started meanwhile: captured at the stop
        if payment.provider_ref:
            _provider().hold_cancel(provider_ref=payment.provider_ref)
        payment.status = PaymentStatus.CANCELLED
        payment.updated_at = timezone.now()
        payment.save(update_fields=["status", "updated_at"])
        IdTag.objects.filter(id_tag=payment.id_tag, user__isnull=True).update(status=IdTagStatus.EXPIRED)
        return payment


def payment_release_unused(*, now: datetime) -> list[int]:
    """Release guest holds whose session never started within CSMS_GUEST_ID_TAG_MINUTES.

    A hold authorised (or still waiting for the card) but with no session when its id tag expired
    blocks the guest's money for nothing: cancel it. Safe to run twice. Returns the payments released.
    """
    cutoff = now - timedelta(minutes=settings.CSMS_GUEST_ID_TAG_MINUTES)
    stale = list(
        Payment.objects.filter(
            kind=PaymentKind.SESSION_HOLD, transaction__isnull=True, created_at__lt=cutoff,
            status__in=[PaymentStatus.CREATED, PaymentStatus.AUTHORIZED],
        ).values_list("pk", flat=True)
    )
    for pk in stale:
        payment_release(payment_id=pk)
    return stale


def payment_capture(*, payment_id: int) -> Payment:
    """Capture a guest session's actual cost (never more than the hold); Stripe releases the rest.

    A free session cancels the hold instead. Locks the payment; a repeat finds it captured.
    """
    with db_transaction.atomic():
        payment = Payment.objects.select_for_update(of=("self",)).select_related("transaction").get(pk=payment_id)
        if payment.status != PaymentStatus.AUTHORIZED or payment.transaction is None:
            return payment
        if payment.transaction.stopped_at is None:
            raise Conflict(_("The session is still running."))
        amount = min(payment.transaction.cost, payment.amount)
        provider = _provider()
        if amount <= 0:
            provider.hold_cancel(provider_ref=payment.provider_ref)
            payment.status = PaymentStatus.CANCELLED
        else:
            provider.hold_capture(provider_ref=payment.provider_ref, amount=amount, currency=payment.currency)
            payment.status = PaymentStatus.CAPTURED
        payment.captured_amount = max(amount, Decimal("0"))
        payment.updated_at = timezone.now()
        payment.save(update_fields=["status", "captured_amount", "updated_at"])
        IdTag.objects.filter(id_tag=payment.id_tag, user__isnull=True).update(status=IdTagStatus.EXPIRED)
        return payment


# --- Webhooks ---------------------------------------------------------------------------------

def payment_webhook(*, provider_name: str, payload: bytes, signature: str) -> str:
    """Process one signed provider event, once per event id. Returns what was done.

    Raises WebhookSignatureError for a request not signed by the provider (the view answers 400).
    A replayed event id changes nothing and returns "duplicate".
    """
    provider = get_provider(provider_name)
    if provider is None:
        raise WebhookSignatureError("payments are not configured")
    event = provider.webhook_parse(payload=payload, signature=signature)
    try:
        with db_transaction.atomic():
            ProviderEvent.objects.create(
                provider=provider.name, event_id=event.id, event_type=event.type, payload=event.payload,
            )
            return _dispatch(event)
    except IntegrityError:
        if ProviderEvent.objects.filter(provider=provider.name, event_id=event.id).exists():
            return "duplicate"
        raise


def _payment_for(obj: dict[str, object], kind: str) -> Payment | None:
    metadata = obj.get("metadata") or {}
    ref = (metadata.get("payment") if isinstance(metadata, dict) else None) or obj.get("client_reference_id")
    qs = Payment.objects.select_for_update().filter(kind=kind)
    if ref and str(ref).isdigit():
        return qs.filter(pk=int(str(ref))).first()
    return qs.filter(provider_ref=str(obj.get("id", ""))).first()


def _dispatch(event: WebhookEvent) -> str:
    obj = event.data
    if event.type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        payment = _payment_for(obj, PaymentKind.TOPUP)
        if payment is None:
            return "unknown payment"
        if obj.get("payment_status") != "paid":
            return "not paid yet"
        return _topup_succeeded(payment, obj)
    if event.type in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        payment = _payment_for(obj, PaymentKind.TOPUP)
        if payment is not None and payment.status == PaymentStatus.CREATED:
            _set_status(payment, PaymentStatus.FAILED if "failed" in event.type else PaymentStatus.CANCELLED)
        return "closed"
    if event.type == "payment_intent.amount_capturable_updated":
        payment = _payment_for(obj, PaymentKind.SESSION_HOLD)
        if payment is None:
            return "unknown payment"
        if payment.status != PaymentStatus.CREATED or obj.get("status") != "requires_capture":
            return "ignored"
        capturable = obj.get("amount_capturable")
        if isinstance(capturable, int) and from_minor_units(capturable, payment.currency) < payment.amount:
            return "hold too small"
        _set_status(payment, PaymentStatus.AUTHORIZED)
        pk = payment.pk
        db_transaction.on_commit(lambda: _start_guest(pk), robust=True)
        return "authorized"
    if event.type in ("payment_intent.canceled", "payment_intent.payment_failed"):
        payment = _payment_for(obj, PaymentKind.SESSION_HOLD)
        if payment is not None and payment.status in (PaymentStatus.CREATED, PaymentStatus.AUTHORIZED):
            _set_status(payment, PaymentStatus.CANCELLED if event.type.endswith("canceled") else PaymentStatus.FAILED)
        return "closed"
    return "ignored"


def _start_guest(payment_id: int) -> None:
    from billing.tasks import guest_session_start as task

    task.delay(payment_id)


def _topup_succeeded(payment: Payment, obj: dict[str, object]) -> str:
    if payment.status == PaymentStatus.SUCCEEDED:
        return "already credited"
    if payment.user_id is None:
        return "no user"
    paid = obj.get("amount_total")
    amount = from_minor_units(paid, payment.currency) if isinstance(paid, int) else payment.amount
    ledger_credit(
        user_id=payment.user_id, amount=amount, kind=LedgerKind.TOPUP, reason=str(_("Top-up by card")),
        external_ref=f"{payment.provider}:{payment.provider_ref or obj.get('id')}",
    )
    payment.captured_amount = amount
    _set_status(payment, PaymentStatus.SUCCEEDED)
    return "credited"


def _set_status(payment: Payment, status: str) -> None:
    payment.status = status
    payment.updated_at = timezone.now()
    payment.save(update_fields=["status", "captured_amount", "updated_at"])
