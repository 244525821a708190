"""Payment providers behind one interface. ``get_provider()`` gives the configured one, or None."""

from __future__ import annotations

from django.conf import settings

from billing.providers.base import (
    CheckoutSession,
    PaymentHold,
    PaymentProvider,
    WebhookEvent,
    WebhookSignatureError,
)

__all__ = ["CheckoutSession", "PaymentHold", "PaymentProvider", "WebhookEvent", "WebhookSignatureError", "get_provider"]


def get_provider(name: str = "stripe") -> PaymentProvider | None:
    """The provider when its keys are configured (STRIPE_SECRET_KEY), else None: no online payments."""
    if name == "stripe" and settings.STRIPE_SECRET_KEY:
        from billing.providers.stripe import StripeProvider

        return StripeProvider(
            api_key=settings.STRIPE_SECRET_KEY, webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
            api_base=settings.STRIPE_API_BASE,
        )
    return None
