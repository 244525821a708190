from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

NON_NEGATIVE = MinValueValidator(Decimal("0"))


class Tariff(models.Model):
    """How a session is priced. Stations point at one; none set means the default tariff."""

    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    price_per_kwh = models.DecimalField(_("price per kWh"), max_digits=10, decimal_places=4, default=Decimal("0"), validators=[NON_NEGATIVE])
    price_per_minute = models.DecimalField(
        _("price per minute of charging"), max_digits=10, decimal_places=4, default=Decimal("0"),
        validators=[NON_NEGATIVE],
    )
    session_fee = models.DecimalField(_("session fee"), max_digits=10, decimal_places=2, default=Decimal("0"), validators=[NON_NEGATIVE])
    idle_fee_per_minute = models.DecimalField(
        _("idle fee per minute"), max_digits=10, decimal_places=4, default=Decimal("0"),
        validators=[NON_NEGATIVE],
    )
    idle_grace_minutes = models.PositiveIntegerField(_("idle grace period (min)"), default=0)
    is_default = models.BooleanField(_("default tariff"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="tariff_one_default"),
        ]

    def __str__(self) -> str:
        return self.name


class TariffPeriod(models.Model):
    """A time-of-use price per kWh on some weekdays between two local times (station's time zone)."""

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="periods")
    weekdays = models.JSONField(_("weekdays"), default=list, help_text=_("0 = Monday … 6 = Sunday; empty: every day."))
    start_time = models.TimeField(_("from"))
    end_time = models.TimeField(_("until"), help_text=_("Earlier than 'from' means past midnight."))
    price_per_kwh = models.DecimalField(_("price per kWh"), max_digits=10, decimal_places=4, validators=[NON_NEGATIVE])
    name = models.CharField(_("name"), max_length=50, blank=True, help_text=_("Shown on receipts, e.g. 'peak'."))

    class Meta:
        verbose_name = _("time-of-use period")
        verbose_name_plural = _("time-of-use periods")
        ordering = ["tariff", "start_time"]


class LedgerKind(models.TextChoices):
    INITIAL = "initial", _("Initial credit")
    TOPUP = "topup", _("Top-up")
    SESSION = "session", _("Session debit")
    REFUND = "refund", _("Refund")
    ADJUSTMENT = "adjustment", _("Admin adjustment")


class LedgerEntry(models.Model):
    """One change of a user's balance. The balance is always the sum of the entries."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(_("kind"), max_length=16, choices=LedgerKind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    balance_after = models.DecimalField(_("balance after"), max_digits=12, decimal_places=2)
    transaction = models.ForeignKey(
        "transactions.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    external_ref = models.CharField(_("external reference"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A session is debited exactly once, whatever resends or races.
            models.UniqueConstraint(
                fields=["transaction"], condition=models.Q(kind="session"), name="ledger_one_debit_per_session"
            ),
            models.UniqueConstraint(
                fields=["external_ref"], condition=~models.Q(external_ref=""), name="ledger_unique_external_ref"
            ),
        ]


class PaymentKind(models.TextChoices):
    TOPUP = "topup", _("Top-up")
    SESSION_HOLD = "session_hold", _("Session payment hold")


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("Created")
    AUTHORIZED = "authorized", _("Authorised")
    CAPTURED = "captured", _("Captured")
    SUCCEEDED = "succeeded", _("Succeeded")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


class Payment(models.Model):
    """A payment with a provider (Stripe): a top-up or a guest session's hold."""

    provider = models.CharField(max_length=16, default="stripe")
    kind = models.CharField(max_length=16, choices=PaymentKind.choices)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    transaction = models.ForeignKey(
        "transactions.Transaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    station = models.ForeignKey("stations.Station", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    connector_id = models.PositiveIntegerField(null=True, blank=True)
    id_tag = models.CharField(max_length=20, blank=True)
    email = models.EmailField(_("e-mail for the receipt"), blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    captured_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    provider_ref = models.CharField(max_length=200, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)


class ProviderEvent(models.Model):
    """A webhook event already processed: replays of the same event id change nothing."""

    provider = models.CharField(max_length=16, default="stripe")
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="provider_event_unique")]


class SessionBilling(models.Model):
    """Billing's own per-session state: a limit stop is requested once, a receipt e-mailed once."""

    transaction = models.OneToOneField(
        "transactions.Transaction", on_delete=models.CASCADE, primary_key=True, related_name="billing"
    )
    limit_stop_requested_at = models.DateTimeField(null=True, blank=True)
    limit_reason = models.CharField(max_length=32, blank=True)
    receipt_emailed_at = models.DateTimeField(null=True, blank=True)
    idle_seconds = models.PositiveIntegerField(
        _("idle time of ended idle periods (s)"), default=0,
        help_text=_("The current idle period is Transaction.idle_since; this keeps the earlier ones."),
    )

    class Meta:
        verbose_name = _("session billing state")
        verbose_name_plural = _("session billing states")
