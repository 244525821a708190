from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    USED = "used", _("Used")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class Reservation(models.Model):
    """A reservation; its pk is the OCPP reservationId. ``connector`` empty means any connector."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reservations"
    )
    id_tag = models.CharField(_("id tag"), max_length=20)
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="reservations")
    connector = models.ForeignKey(
        "stations.Connector", null=True, blank=True, on_delete=models.SET_NULL, related_name="reservations"
    )
    expires_at = models.DateTimeField(_("expires"))
    status = models.CharField(
        _("status"), max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.ACTIVE
    )
    charger_status = models.CharField(_("charger's answer"), max_length=16, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(status="active"), name="reservation_one_active_per_user"
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.id_tag}"

    @property
    def connector_number(self) -> int:
        return self.connector.connector_id if self.connector_id and self.connector else 0
