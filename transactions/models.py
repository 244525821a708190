from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Transaction(models.Model):
    """A charging session. Its pk is the OCPP transactionId given to the charger.

    Resent StartTransactions are absorbed by the unique constraint on what the charger repeats.
    ``energy_wh``/``cost`` follow the latest meter value while active and are final after stop.
    """

    # station and user lead the (…, -started_at) indexes below: no index of their own.
    station = models.ForeignKey(
        "stations.Station", on_delete=models.PROTECT, related_name="transactions", db_index=False
    )
    connector = models.ForeignKey("stations.Connector", on_delete=models.PROTECT, related_name="transactions")
    id_tag = models.CharField(_("id tag"), max_length=20)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions",
        db_index=False,
    )
    reservation = models.ForeignKey(
        "reservations.Reservation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    meter_start = models.BigIntegerField(_("meter start (Wh)"))
    meter_stop = models.BigIntegerField(_("meter stop (Wh)"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), db_index=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    stop_reason = models.CharField(_("stop reason"), max_length=32, null=True, blank=True)
    stop_id_tag = models.CharField(_("stopped by id tag"), max_length=20, blank=True)

    # Running figures, updated from meter values.
    energy_wh = models.BigIntegerField(_("energy (Wh)"), default=0)
    power_w = models.FloatField(_("power (W)"), null=True, blank=True)
    soc = models.FloatField(_("state of charge (%)"), null=True, blank=True)
    last_meter_at = models.DateTimeField(_("last meter value"), null=True, blank=True)
    meter_anomaly = models.BooleanField(
        _("meter anomaly"), default=False, help_text=_("The energy register went backwards at least once.")
    )

    # Pricing: the tariff in force at start is copied, so later edits do not change this session.
    tariff = models.ForeignKey("billing.Tariff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tariff_snapshot = models.JSONField(null=True, blank=True)
    cost = models.DecimalField(_("cost"), max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    cost_items = models.JSONField(_("line items"), default=list, blank=True)
    idle_since = models.DateTimeField(null=True, blank=True)

    # Operations.
    flagged = models.CharField(_("flag for operators"), max_length=64, blank=True)
    inferred_stopped_at = models.DateTimeField(
        _("inferred stopped"), null=True, blank=True,
        help_text=_("The charger was gone for long; reconciled when its StopTransaction arrives."),
    )
    end_of_charge_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "connector", "id_tag", "started_at"], name="transaction_unique_start"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-started_at"]),
            models.Index(fields=["station", "-started_at"]),
            models.Index(fields=["stopped_at"]),
            # Authorize's ConcurrentTx check: the open sessions of one id tag, however many are open.
            models.Index(fields=["id_tag"], condition=models.Q(stopped_at__isnull=True), name="transaction_open_id_tag"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.station_id}/{self.connector_id}"

    @property
    def active(self) -> bool:
        return self.stopped_at is None


class MeterValue(models.Model):
    """One sampled value. ``value`` is normalised (energy Wh, power W); ``raw_value``/``raw_unit`` as sent."""

    # Both foreign keys lead an index below (a session's curve, the resend constraint): every
    # sample written keeps two indexes up to date, not four.
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.CASCADE, related_name="meter_values", db_index=False
    )
    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="meter_values", db_index=False
    )
    connector_id = models.PositiveIntegerField()
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=48, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True, default="")
    location = models.CharField(max_length=8, blank=True, default="Outlet")
    context = models.CharField(max_length=24, blank=True, default="Sample.Periodic")
    unit = models.CharField(max_length=12, blank=True, default="Wh")
    value = models.FloatField()
    raw_value = models.CharField(max_length=64)
    raw_unit = models.CharField(max_length=12, blank=True)
    suspect = models.BooleanField(default=False, help_text="Register went backwards: stored, not trusted.")

    class Meta:
        verbose_name = _("meter value")
        verbose_name_plural = _("meter values")
        ordering = ["timestamp", "id"]
        constraints = [
            # A resent MeterValues (or StopTransaction's transactionData repeating samples) stores nothing new.
            models.UniqueConstraint(
                fields=["station", "connector_id", "timestamp", "measurand", "phase", "location", "context"],
                name="metervalue_unique_sample",
            ),
        ]
        indexes = [models.Index(fields=["transaction", "timestamp"])]
