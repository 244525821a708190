from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.api.fields import UtcModelSerializer

from transactions.models import MeterValue, Transaction


class TransactionSerializer(UtcModelSerializer):
    """CONTRACT.md's transaction. While active, ``energy_kwh`` and ``cost`` follow the latest meter value."""

    charge_point_id = serializers.CharField(source="station.charge_point_id", read_only=True)
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True)
    user = serializers.PrimaryKeyRelatedField(read_only=True)
    energy_kwh = serializers.SerializerMethodField()
    cost = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "charge_point_id", "connector_id", "id_tag", "user", "started_at", "stopped_at",
                  "meter_start", "meter_stop", "energy_kwh", "cost", "currency", "active", "stop_reason",
                  "power_w", "soc", "last_meter_at"]
        read_only_fields = fields

    def get_energy_kwh(self, tx: Transaction) -> str:
        return f"{Decimal(tx.energy_wh) / 1000:.3f}"


class CurrentSessionSerializer(TransactionSerializer):
    """The running session: live energy, power, state of charge and cost, and how long it runs."""

    duration_s = serializers.SerializerMethodField()
    cost_items = serializers.JSONField(read_only=True)

    class Meta(TransactionSerializer.Meta):
        fields = [*TransactionSerializer.Meta.fields, "duration_s", "cost_items"]
        read_only_fields = fields

    def get_duration_s(self, tx: Transaction) -> int:
        end = tx.stopped_at or self.context["now"]
        return max(int((end - tx.started_at).total_seconds()), 0)


class MeterValueSerializer(UtcModelSerializer):
    """One sample; ``value`` a JSON number, energy in Wh and power in W."""

    value = serializers.FloatField(read_only=True)

    class Meta:
        model = MeterValue
        fields = ["timestamp", "measurand", "phase", "location", "context", "value", "unit"]
        read_only_fields = fields


class StopResponseSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=_("The charger's answer, e.g. Accepted."))


class MonthSerializer(serializers.Serializer):
    month = serializers.IntegerField()
    sessions = serializers.IntegerField()
    energy_kwh = serializers.CharField()
    revenue = serializers.CharField()


class StationReportSerializer(serializers.Serializer):
    charge_point_id = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    sessions = serializers.IntegerField()
    energy_kwh = serializers.CharField()
    revenue = serializers.CharField()
    months = MonthSerializer(many=True)


class MonthlyReportSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    time_zone = serializers.CharField()
    currency = serializers.CharField(help_text=_("The currency of the totals (CSMS_CURRENCY)."))
    stations = StationReportSerializer(many=True)
    totals = MonthSerializer(many=True)
