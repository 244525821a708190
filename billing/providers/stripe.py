"""Stripe: Checkout for top-ups, a manual-capture PaymentIntent for guest sessions, signed webhooks.

Amounts go to Stripe in the currency's minor unit (cents; yen as they are), as Stripe documents.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import stripe

from billing.pricing import currency_places
from billing.providers.base import (
    CheckoutSession,
    PaymentHold,
    WebhookEvent,
    WebhookSignatureError,
)


def to_minor_units(amount: Decimal, currency: str) -> int:
    return int((amount * (Decimal(10) ** currency_places(currency))).to_integral_value())


def from_minor_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-currency_places(currency))


class StripeProvider:
    name = "stripe"
    # The HTTP client Stripe's library talks through; None: its default. Tests put a fake here, so
    # only the outgoing HTTP calls are replaced and the library still builds and parses them.
    default_http_client: Any = None

    def __init__(self, *, api_key: str, webhook_secret: str, http_client: Any = None, api_base: str = "") -> None:
        self.webhook_secret = webhook_secret
        self.client = stripe.StripeClient(
            api_key, http_client=http_client or self.default_http_client, max_network_retries=2,
            base_addresses={"api": api_base} if api_base else {},
        )

    def checkout_create(
        self, *, reference: str, amount: Decimal, currency: str, description: str, email: str,
        success_url: str, cancel_url: str,
    ) -> CheckoutSession:
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": reference,
            "metadata": {"payment": reference},
            "payment_intent_data": {"metadata": {"payment": reference}},
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": to_minor_units(amount, currency),
                    "product_data": {"name": description},
                },
            }],
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if email:
            params["customer_email"] = email
        session = self.client.v1.checkout.sessions.create(
            params=params, options={"idempotency_key": f"checkout-{reference}"}  # type: ignore[arg-type]
        )
        return CheckoutSession(provider_ref=session.id, url=session.url or "")

    def hold_create(
        self, *, reference: str, amount: Decimal, currency: str, description: str, email: str,
    ) -> PaymentHold:
        params: dict[str, Any] = {
            "amount": to_minor_units(amount, currency),
            "currency": currency.lower(),
            "capture_method": "manual",
            "description": description,
            "metadata": {"payment": reference},
            "automatic_payment_methods": {"enabled": True},
        }
        if email:
            params["receipt_email"] = email
        intent = self.client.v1.payment_intents.create(
            params=params, options={"idempotency_key": f"hold-{reference}"}  # type: ignore[arg-type]
        )
        return PaymentHold(provider_ref=intent.id, client_secret=intent.client_secret or "", status=intent.status)

    def hold_capture(self, *, provider_ref: str, amount: Decimal, currency: str) -> str:
        """Capture the actual cost; Stripe releases the rest of the authorisation."""
        intent = self.client.v1.payment_intents.capture(
            provider_ref, params={"amount_to_capture": to_minor_units(amount, currency)},
            options={"idempotency_key": f"capture-{provider_ref}"},
        )
        return str(intent.status)

    def hold_cancel(self, *, provider_ref: str) -> str:
        intent = self.client.v1.payment_intents.cancel(
            provider_ref, options={"idempotency_key": f"cancel-{provider_ref}"}
        )
        return str(intent.status)

    def webhook_parse(self, *, payload: bytes, signature: str) -> WebhookEvent:
        """Check the ``Stripe-Signature`` header (HMAC-SHA256 of ``t.payload``, 5 minutes' tolerance)."""
        if not self.webhook_secret:
            raise WebhookSignatureError("STRIPE_WEBHOOK_SECRET is not configured")
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, self.webhook_secret, 300)
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            raise WebhookSignatureError(str(exc)) from exc
        try:
            event = json.loads(payload)
            return WebhookEvent(
                id=str(event["id"]), type=str(event["type"]), data=dict(event["data"]["object"]), payload=event
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookSignatureError(f"not a Stripe event: {exc}") from exc
