from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.fields import UtcDateTimeField, UtcModelSerializer, utc_iso

from accounts.permissions import is_admin
from stations.models import CHARGE_POINT_ID_PATTERN, Connector, RegistrationStatus, Station, StationStatus
from stations.qr import connector_start_link

_CP_ID = re.compile(CHARGE_POINT_ID_PATTERN.rstrip("$") + r"\Z")


class ConnectorSerializer(UtcModelSerializer):
    max_power_kw = serializers.DecimalField(max_digits=6, decimal_places=1)
    start_link = serializers.SerializerMethodField(help_text=_("The link the connector's QR code holds."))

    class Meta:
        model = Connector
        fields = ["connector_id", "status", "error_code", "info", "connector_type", "max_power_kw",
                  "availability", "status_at", "start_link"]
        read_only_fields = fields

    def get_start_link(self, connector: Connector) -> str:
        return connector_start_link(charge_point_id=connector.station.charge_point_id,
                                    connector_id=connector.connector_id)


class ConnectorWriteSerializer(serializers.Serializer):
    connector_id = serializers.IntegerField(min_value=1, max_value=100)
    connector_type = serializers.CharField(max_length=32, required=False)
    max_power_kw = serializers.DecimalField(max_digits=6, decimal_places=1, min_value=Decimal("0"), required=False)


def _show_user_data(context: dict[str, Any], user_id: int | None) -> bool:
    request = context.get("request")
    user = getattr(request, "user", None)
    if is_admin(user):
        return True
    return bool(user is not None and user.is_authenticated and user_id is not None and user.pk == user_id)


class LastChargeSerializer(serializers.Serializer):
    """A station's most recent session. ``user`` and ``id_tag`` only for admins and the owner."""

    id = serializers.IntegerField()
    connector_id = serializers.IntegerField()
    started_at = UtcDateTimeField()
    stopped_at = UtcDateTimeField(allow_null=True)
    energy_kwh = serializers.CharField()
    active = serializers.BooleanField()
    user = serializers.IntegerField(allow_null=True, required=False)
    id_tag = serializers.CharField(required=False)


class LastReservationSerializer(serializers.Serializer):
    """A station's most recent reservation. ``user`` and ``id_tag`` only for admins and the owner."""

    id = serializers.IntegerField()
    connector_id = serializers.IntegerField()
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField()
    status = serializers.CharField()
    user = serializers.IntegerField(allow_null=True, required=False)
    id_tag = serializers.CharField(required=False)


def energy_kwh(energy_wh: int) -> str:
    return f"{Decimal(energy_wh) / 1000:.3f}"


class StationSerializer(UtcModelSerializer):
    """A station as CONTRACT.md shows it, plus its last charge and last reservation."""

    status = serializers.SerializerMethodField()
    connectors = serializers.SerializerMethodField()
    last_charge = serializers.SerializerMethodField()
    last_reservation = serializers.SerializerMethodField()
    distance_km = serializers.SerializerMethodField()

    class Meta:
        model = Station
        fields = ["charge_point_id", "name", "description", "address", "latitude", "longitude", "price_per_kwh",
                  "currency", "status", "connected", "heartbeat_interval", "last_heartbeat", "connectors",
                  "last_charge", "last_reservation", "distance_km"]
        read_only_fields = fields

    def _connectors(self, station: Station) -> list[Connector]:
        listed = getattr(station, "listed_connectors", None)
        if listed is None:
            listed = list(station.connectors.filter(connector_id__gt=0).order_by("connector_id"))
            station.listed_connectors = listed
        return listed

    @extend_schema_field(serializers.ChoiceField(choices=StationStatus.choices))
    def get_status(self, station: Station) -> str:
        return str(station.compute_status(self._connectors(station), now=self.context.get("now")))

    @extend_schema_field(ConnectorSerializer(many=True))
    def get_connectors(self, station: Station) -> list[dict[str, Any]]:
        connectors = self._connectors(station)
        for connector in connectors:
            connector.station = station  # no query per connector for the link
        return list(ConnectorSerializer(connectors, many=True).data)

    @extend_schema_field(LastChargeSerializer(allow_null=True))
    def get_last_charge(self, station: Station) -> dict[str, Any] | None:
        rows = getattr(station, "last_transactions", None)
        if rows is None:
            rows = list(station.transactions.select_related("connector").order_by("-started_at", "-id")[:1])
        if not rows:
            return None
        tx = rows[0]
        out: dict[str, Any] = {
            "id": tx.pk, "connector_id": tx.connector.connector_id,
            "started_at": utc_iso(tx.started_at),
            "stopped_at": utc_iso(tx.stopped_at),
            "energy_kwh": energy_kwh(tx.energy_wh), "active": tx.stopped_at is None,
        }
        if _show_user_data(self.context, tx.user_id):
            out.update(user=tx.user_id, id_tag=tx.id_tag)
        return out

    @extend_schema_field(LastReservationSerializer(allow_null=True))
    def get_last_reservation(self, station: Station) -> dict[str, Any] | None:
        rows = getattr(station, "last_reservations", None)
        if rows is None:
            rows = list(station.reservations.select_related("connector").order_by("-created_at", "-id")[:1])
        if not rows:
            return None
        res = rows[0]
        out: dict[str, Any] = {
            "id": res.pk, "connector_id": res.connector.connector_id if res.connector else 0,
            "created_at": utc_iso(res.created_at),
            "expires_at": utc_iso(res.expires_at),
            "status": res.status,
        }
        if _show_user_data(self.context, res.user_id):
            out.update(user=res.user_id, id_tag=res.id_tag)
        return out

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_distance_km(self, station: Station) -> float | None:
        value = getattr(station, "distance_km", None)
        return None if value is None else round(float(value), 3)


class StationAdminSerializer(StationSerializer):
    """What admins see in addition."""

    has_password = serializers.SerializerMethodField()

    class Meta(StationSerializer.Meta):
        fields = [*StationSerializer.Meta.fields, "notes", "time_zone", "dismissed", "registration_status",
                  "vendor", "model", "serial_number", "firmware_version", "ocpp_version", "last_boot_at",
                  "max_energy_per_session_wh", "has_password", "created_at"]
        read_only_fields = fields

    def get_has_password(self, station: Station) -> bool:
        return bool(station.password_hash)


class StationWriteSerializer(serializers.Serializer):
    """Create (``charge_point_id`` required) or update a station. ``password`` is write-only:
    it sets the charger's Basic-auth password (empty string: none)."""

    charge_point_id = serializers.CharField(max_length=48, trim_whitespace=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=Decimal("-90"),
                                        max_value=Decimal("90"), required=False, allow_null=True)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, min_value=Decimal("-180"),
                                         max_value=Decimal("180"), required=False, allow_null=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    price_per_kwh = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0"), required=False)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    heartbeat_interval = serializers.IntegerField(min_value=1, max_value=86400, required=False)
    max_energy_per_session_wh = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    dismissed = serializers.BooleanField(required=False)
    registration_status = serializers.ChoiceField(choices=RegistrationStatus.choices, required=False)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=128,
                                     trim_whitespace=False)
    connectors = ConnectorWriteSerializer(many=True, required=False)

    def validate_charge_point_id(self, value: str) -> str:
        if not _CP_ID.match(value):
            raise serializers.ValidationError(_("1 to 48 characters of A-Z a-z 0-9 . _ - :"))
        return value

    def validate_time_zone(self, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(_("Unknown time zone.")) from None
        return value

    def validate_connectors(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        numbers = [c["connector_id"] for c in value]
        if len(numbers) != len(set(numbers)):
            raise serializers.ValidationError(_("Connector numbers repeat."))
        return value


class StationUpdateSerializer(StationWriteSerializer):
    charge_point_id = None  # type: ignore[assignment]  # the id is the URL; it never changes


class ConnectorRequestSerializer(serializers.Serializer):
    connector_id = serializers.IntegerField(min_value=1)


class ReserveRequestSerializer(serializers.Serializer):
    connector_id = serializers.IntegerField(min_value=0, required=False, default=0,
                                            help_text=_("0 or absent: any connector."))


class StatusSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=_("The charger's answer, e.g. Accepted."))
