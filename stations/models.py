from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

CHARGE_POINT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,48}$"
charge_point_id_validator = RegexValidator(
    CHARGE_POINT_ID_PATTERN,
    _("1 to 48 characters of A-Z a-z 0-9 . _ - :"),
)


class RegistrationStatus(models.TextChoices):
    ACCEPTED = "Accepted", _("Accepted")
    PENDING = "Pending", _("Pending")
    REJECTED = "Rejected", _("Rejected")


class StationStatus(models.TextChoices):
    """The station-level status of CONTRACT.md, computed by ``Station.status``."""

    AVAILABLE = "available", _("Available")
    RESERVED = "reserved", _("Reserved")
    OCCUPIED = "occupied", _("Occupied")
    FAULTED = "faulted", _("Faulted")
    OFFLINE = "offline", _("Offline")
    DISMISSED = "dismissed", _("Dismissed")
    UNKNOWN = "unknown", _("Unknown")


class ConnectorStatus(models.TextChoices):
    """OCPP 1.6 ChargePointStatus."""

    AVAILABLE = "Available", _("Available")
    PREPARING = "Preparing", _("Preparing")
    CHARGING = "Charging", _("Charging")
    SUSPENDED_EVSE = "SuspendedEVSE", _("Suspended by the charger")
    SUSPENDED_EV = "SuspendedEV", _("Suspended by the car")
    FINISHING = "Finishing", _("Finishing")
    RESERVED = "Reserved", _("Reserved")
    UNAVAILABLE = "Unavailable", _("Unavailable")
    FAULTED = "Faulted", _("Faulted")


class Station(models.Model):
    """One OCPP charge point."""

    charge_point_id = models.CharField(
        _("charge point id"), max_length=48, unique=True, validators=[charge_point_id_validator]
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    notes = models.TextField(_("operator notes"), blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=settings.TIME_ZONE,
        help_text=_("Used for time-of-use prices and local times."),
    )
    price_per_kwh = models.DecimalField(
        _("price per kWh"), max_digits=8, decimal_places=2, default=Decimal("0.30")
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    tariff = models.ForeignKey(
        "billing.Tariff", null=True, blank=True, on_delete=models.SET_NULL, related_name="stations",
        verbose_name=_("tariff"), help_text=_("Empty: the default tariff, else the price per kWh."),
    )
    max_energy_per_session_wh = models.PositiveIntegerField(
        _("maximum energy per session (Wh)"), null=True, blank=True
    )
    power_limit_w = models.PositiveIntegerField(
        _("power limit (W)"), null=True, blank=True,
        help_text=_("Sent to the charger as a ChargePointMaxProfile, and again after each reboot."),
    )

    # What the charger tells about itself (BootNotification).
    vendor = models.CharField(_("vendor"), max_length=50, blank=True)
    model = models.CharField(_("model"), max_length=50, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=50, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=50, blank=True)
    iccid = models.CharField(max_length=20, blank=True)
    imsi = models.CharField(max_length=20, blank=True)
    meter_type = models.CharField(_("meter type"), max_length=25, blank=True)
    meter_serial_number = models.CharField(_("meter serial number"), max_length=25, blank=True)
    ocpp_version = models.CharField(_("OCPP version"), max_length=16, blank=True)

    registration_status = models.CharField(
        _("registration"), max_length=16, choices=RegistrationStatus.choices,
        default=RegistrationStatus.ACCEPTED,
    )
    heartbeat_interval = models.PositiveIntegerField(_("heartbeat interval (s)"), default=60)
    password_hash = models.CharField(_("Basic-auth password"), max_length=128, blank=True, editable=False)
    dismissed = models.BooleanField(_("dismissed"), default=False, help_text=_("Hidden from drivers."))

    # Charger-level status (StatusNotification on connector 0).
    charger_status = models.CharField(_("charger status"), max_length=16, blank=True)
    charger_error_code = models.CharField(_("charger error code"), max_length=32, blank=True)

    # Presence: the consumer holding the socket. ``channel_name`` is how any process reaches it.
    connected = models.BooleanField(_("connected"), default=False)
    channel_name = models.CharField(max_length=200, blank=True, editable=False)
    server_id = models.CharField(max_length=64, blank=True, editable=False)
    connected_at = models.DateTimeField(_("connected since"), null=True, blank=True)
    disconnected_at = models.DateTimeField(_("disconnected at"), null=True, blank=True)
    remote_address = models.CharField(_("remote address"), max_length=64, blank=True)
    last_boot_at = models.DateTimeField(_("last boot"), null=True, blank=True)
    last_heartbeat = models.DateTimeField(_("last message"), null=True, blank=True)

    local_list_version = models.IntegerField(_("local list version"), default=0)
    firmware_status = models.CharField(_("firmware status"), max_length=32, blank=True)
    diagnostics_status = models.CharField(_("diagnostics status"), max_length=32, blank=True)
    faulted_since = models.DateTimeField(_("faulted since"), null=True, blank=True)
    # End of charge (Open e-Mobility style).
    eoc_power_threshold_w = models.PositiveIntegerField(_("end-of-charge power threshold (W)"), default=0)
    eoc_minutes = models.PositiveIntegerField(_("end-of-charge after minutes below threshold"), default=5)
    eoc_notify_delay_minutes = models.PositiveIntegerField(_("end-of-charge notification delay (min)"), default=0)
    eoc_stop_transaction = models.BooleanField(_("stop the transaction at end of charge"), default=False)
    eoc_unlock_connector = models.BooleanField(_("unlock the connector at end of charge"), default=False)

    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("station")
        verbose_name_plural = _("stations")
        ordering = ["charge_point_id"]
        indexes = [models.Index(fields=["latitude", "longitude"])]

    def __str__(self) -> str:
        return self.name or self.charge_point_id

    def set_password(self, raw_password: str | None) -> None:
        self.password_hash = make_password(raw_password) if raw_password else ""

    def check_password(self, raw_password: str) -> bool:
        return bool(self.password_hash) and check_password(raw_password, self.password_hash)

    def is_offline(self, now: datetime | None = None) -> bool:
        """No message for three heartbeat intervals, or no socket."""
        if not self.connected or self.last_heartbeat is None:
            return True
        now = now or timezone.now()
        return now - self.last_heartbeat > timedelta(seconds=3 * max(self.heartbeat_interval, 1))

    def compute_status(self, connectors: list[Connector], now: datetime | None = None) -> str:
        """The one place the station-level status is decided (CONTRACT.md).

        ``connectors`` are the station's numbered connectors (not 0); pass them prefetched.
        """
        if self.dismissed:
            return StationStatus.DISMISSED
        if self.last_boot_at is None and self.last_heartbeat is None:
            return StationStatus.UNKNOWN
        if self.is_offline(now):
            return StationStatus.OFFLINE
        if self.charger_status == ConnectorStatus.FAULTED:
            return StationStatus.FAULTED
        statuses = [c.status for c in connectors if c.connector_id > 0]
        if any(s == ConnectorStatus.AVAILABLE for s in statuses):
            return StationStatus.AVAILABLE
        if statuses and all(s == ConnectorStatus.FAULTED for s in statuses):
            return StationStatus.FAULTED
        if any(s == ConnectorStatus.RESERVED for s in statuses):
            return StationStatus.RESERVED
        if statuses and all(s in OCCUPIED_STATUSES for s in statuses):
            return StationStatus.OCCUPIED
        if not statuses:
            return StationStatus.AVAILABLE
        return StationStatus.FAULTED if ConnectorStatus.FAULTED in statuses else StationStatus.OCCUPIED

    @property
    def status(self) -> str:
        return self.compute_status(list(self.connectors.all()))


OCCUPIED_STATUSES = (
    ConnectorStatus.PREPARING,
    ConnectorStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EV,
    ConnectorStatus.SUSPENDED_EVSE,
    ConnectorStatus.FINISHING,
    ConnectorStatus.UNAVAILABLE,
)


class Connector(models.Model):
    """A numbered connector (socket) of a station; 1..n. Connector 0 lives on the Station."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField(_("connector number"))
    status = models.CharField(
        _("status"), max_length=16, choices=ConnectorStatus.choices, default=ConnectorStatus.AVAILABLE
    )
    error_code = models.CharField(_("error code"), max_length=32, default="NoError")
    info = models.CharField(_("info"), max_length=50, blank=True)
    vendor_id = models.CharField(_("vendor id"), max_length=255, blank=True)
    vendor_error_code = models.CharField(_("vendor error code"), max_length=50, blank=True)
    status_at = models.DateTimeField(_("status time"), null=True, blank=True)
    availability = models.CharField(
        _("availability"), max_length=16, default="Operative",
        choices=[("Operative", _("Operative")), ("Inoperative", _("Inoperative"))],
    )
    connector_type = models.CharField(_("type"), max_length=32, blank=True, default="Type2")
    max_power_kw = models.DecimalField(_("maximum power (kW)"), max_digits=6, decimal_places=1, default=Decimal("22.0"))

    class Meta:
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")
        ordering = ["station", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "connector_id"], name="connector_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.station.charge_point_id}/{self.connector_id}"

    @property
    def is_free(self) -> bool:
        return self.status in (ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING) and self.availability == "Operative"


class MessageDirection(models.TextChoices):
    IN = "in", _("charger → CSMS")
    OUT = "out", _("CSMS → charger")


class OcppMessage(models.Model):
    """The OCPP message log, per station, bounded by retention (see the purge job)."""

    # Both lead an index below (a charger's latest messages): every row keeps three indexes
    # up to date, not five.
    charge_point_id = models.CharField(max_length=48)
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=3, choices=MessageDirection.choices)
    message_type = models.PositiveSmallIntegerField(help_text="2 CALL, 3 CALLRESULT, 4 CALLERROR")
    action = models.CharField(max_length=64, blank=True)
    unique_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("OCPP message")
        verbose_name_plural = _("OCPP messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["station", "-created_at"]),
            models.Index(fields=["charge_point_id", "-created_at"], name="ocppmessage_cp_latest"),
            models.Index(fields=["created_at"]),
        ]


class RefusedConnection(models.Model):
    """A handshake the CSMS refused, with the reason (shown to operators)."""

    charge_point_id = models.CharField(max_length=200, db_index=True)
    remote_address = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("refused connection")
        verbose_name_plural = _("refused connections")
        ordering = ["-created_at"]


class CommandState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    ANSWERED = "answered", _("Answered")
    FAILED = "failed", _("Failed (CALLERROR)")
    TIMEOUT = "timeout", _("Timed out")
    OFFLINE = "offline", _("Charger offline")


class Command(models.Model):
    """The ledger of CSMS-initiated calls. The row is the truth; messages only wake consumers."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(_("action"), max_length=64)
    request = models.JSONField(_("request"), default=dict)
    state = models.CharField(_("state"), max_length=16, choices=CommandState.choices, default=CommandState.PENDING)
    response = models.JSONField(_("response"), null=True, blank=True)
    error = models.JSONField(_("error"), null=True, blank=True)
    unique_id = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(_("source"), max_length=32, blank=True, help_text=_("api, admin, task, command…"))
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    timeout_at = models.DateTimeField(_("times out"), null=True, blank=True)

    class Meta:
        verbose_name = _("command")
        verbose_name_plural = _("commands")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "timeout_at"])]

    def __str__(self) -> str:
        return f"{self.action} → {self.station.charge_point_id} ({self.state})"


class ConfigurationKey(models.Model):
    """A configuration key as last read with GetConfiguration (or set with ChangeConfiguration)."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="configuration")
    key = models.CharField(max_length=50)
    value = models.TextField(blank=True, null=True)
    readonly = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["station", "key"]
        constraints = [models.UniqueConstraint(fields=["station", "key"], name="configuration_unique_key")]


class ChargingProfile(models.Model):
    """A charging profile sent with SetChargingProfile, kept so it can be sent again."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="charging_profiles")
    connector_id = models.PositiveIntegerField(default=0)
    profile_id = models.IntegerField()
    purpose = models.CharField(max_length=32)
    stack_level = models.IntegerField(default=0)
    profile = models.JSONField()
    status = models.CharField(max_length=16, blank=True, help_text=_("The charger's answer."))
    is_power_limit = models.BooleanField(default=False, help_text=_("The operator's station power limit."))
    created_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["station", "-created_at"]


class CompositeSchedule(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="composite_schedules")
    connector_id = models.PositiveIntegerField(default=0)
    schedule = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["station", "-fetched_at"]


class FirmwareFile(models.Model):
    """A firmware image uploaded by an operator, served to chargers for UpdateFirmware."""

    name = models.CharField(max_length=200)
    file = models.FileField(upload_to="firmware/")
    sha256 = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class DiagnosticsFile(models.Model):
    """A diagnostics file a charger uploaded to the CSMS after GetDiagnostics."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="diagnostics")
    file = models.FileField(upload_to="diagnostics/")
    status = models.CharField(max_length=32, blank=True, help_text=_("Last DiagnosticsStatusNotification."))
    created_at = models.DateTimeField(default=timezone.now)
