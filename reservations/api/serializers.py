from __future__ import annotations

from rest_framework import serializers

from accounts.api.fields import UtcModelSerializer

from reservations.models import Reservation, ReservationStatus


class ReservationSerializer(UtcModelSerializer):
    """CONTRACT.md: ``{id, charge_point_id, connector_id, id_tag, user, expires_at, status, created_at}``;
    ``id`` is the reservationId given to the charger; ``connector_id`` 0 means any connector."""

    charge_point_id = serializers.CharField(source="station.charge_point_id", read_only=True)
    connector_id = serializers.IntegerField(source="connector_number", read_only=True)
    user = serializers.PrimaryKeyRelatedField(read_only=True)
    status = serializers.ChoiceField(choices=ReservationStatus.choices, read_only=True)

    class Meta:
        model = Reservation
        fields = ["id", "charge_point_id", "connector_id", "id_tag", "user", "expires_at", "status",
                  "created_at", "ended_at", "charger_status"]
        read_only_fields = fields
