"""The payment-provider interface: what billing needs from Stripe or any other provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class WebhookSignatureError(Exception):
    """The webhook's signature is missing, wrong or too old: the request is not from the provider."""


@dataclass(frozen=True)
class CheckoutSession:
    provider_ref: str  # the provider's id of the checkout session
    url: str  # where to send the payer


@dataclass(frozen=True)
class PaymentHold:
    provider_ref: str  # the provider's id of the authorisation (PaymentIntent)
    client_secret: str  # for the payer's app to confirm the card
    status: str = ""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)  # the event's object
    payload: dict[str, Any] = field(default_factory=dict)  # the whole event as received


class PaymentProvider(Protocol):
    name: str

    def checkout_create(
        self, *, reference: str, amount: Decimal, currency: str, description: str, email: str,
        success_url: str, cancel_url: str,
    ) -> CheckoutSession: ...

    def hold_create(
        self, *, reference: str, amount: Decimal, currency: str, description: str, email: str,
    ) -> PaymentHold: ...

    def hold_capture(self, *, provider_ref: str, amount: Decimal, currency: str) -> str: ...

    def hold_cancel(self, *, provider_ref: str) -> str: ...

    def webhook_parse(self, *, payload: bytes, signature: str) -> WebhookEvent: ...
