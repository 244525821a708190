from __future__ import annotations

from typing import Any

from django.db import transaction as db_transaction
from rest_framework import serializers

from billing.models import LedgerEntry, Payment, Tariff, TariffPeriod


class TariffPeriodSerializer(serializers.ModelSerializer[TariffPeriod]):
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), required=False)

    class Meta:
        model = TariffPeriod
        fields = ["name", "weekdays", "start_time", "end_time", "price_per_kwh"]


class TariffSerializer(serializers.ModelSerializer[Tariff]):
    """A tariff with its time-of-use periods; writing ``periods`` replaces them all."""

    periods = TariffPeriodSerializer(many=True, required=False)

    class Meta:
        model = Tariff
        fields = [
            "id", "name", "currency", "price_per_kwh", "price_per_minute", "session_fee",
            "idle_fee_per_minute", "idle_grace_minutes", "is_default", "periods", "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_is_default(self, value: bool) -> bool:
        others = Tariff.objects.filter(is_default=True)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if value and others.exists():
            raise serializers.ValidationError("Another tariff is the default.")
        return value

    @db_transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> Tariff:
        periods = validated_data.pop("periods", [])
        tariff = Tariff.objects.create(**validated_data)
        for period in periods:
            TariffPeriod.objects.create(tariff=tariff, **period)
        return tariff

    @db_transaction.atomic
    def update(self, instance: Tariff, validated_data: dict[str, Any]) -> Tariff:
        periods = validated_data.pop("periods", None)
        instance = super().update(instance, validated_data)
        if periods is not None:
            instance.periods.all().delete()
            for period in periods:
                TariffPeriod.objects.create(tariff=instance, **period)
        return instance


class LedgerEntrySerializer(serializers.ModelSerializer[LedgerEntry]):
    transaction_id = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = LedgerEntry
        fields = ["id", "kind", "amount", "currency", "balance_after", "transaction_id", "reason", "created_at"]


class TopupSerializer(serializers.Serializer[Any]):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class PaymentSerializer(serializers.ModelSerializer[Payment]):
    class Meta:
        model = Payment
        fields = ["id", "kind", "status", "amount", "captured_amount", "currency", "checkout_url", "created_at"]


class GuestSessionCreateSerializer(serializers.Serializer[Any]):
    charge_point_id = serializers.CharField(max_length=48)
    connector_id = serializers.IntegerField(min_value=1)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class StatementQuerySerializer(serializers.Serializer[Any]):
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    month = serializers.IntegerField(min_value=1, max_value=12)
    id_tag = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    user = serializers.IntegerField(required=False, help_text="Admins: another driver's statement.")


class RevenueQuerySerializer(serializers.Serializer[Any]):
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    station = serializers.CharField(required=False, help_text="A charge point id.")


class LineItemSerializer(serializers.Serializer[Any]):
    code = serializers.ChoiceField(choices=["session_fee", "energy", "energy_tou", "time", "idle"])
    label = serializers.CharField()
    quantity = serializers.CharField()
    unit = serializers.CharField()
    unit_price = serializers.CharField()
    amount = serializers.CharField()


class ReceiptSerializer(serializers.Serializer[Any]):
    """Output only: a finished session's receipt; the items add up to ``total`` exactly."""

    transaction_id = serializers.IntegerField()
    charge_point_id = serializers.CharField()
    station = serializers.CharField()
    connector_id = serializers.IntegerField()
    id_tag = serializers.CharField()
    started_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField()
    energy_kwh = serializers.CharField()
    duration_minutes = serializers.IntegerField()
    tariff = serializers.CharField()
    items = LineItemSerializer(many=True)
    total = serializers.CharField()
    currency = serializers.CharField()


class StatementSerializer(serializers.Serializer[Any]):
    year = serializers.IntegerField()
    month = serializers.IntegerField()
    id_tag = serializers.CharField()
    user = serializers.IntegerField(allow_null=True)
    sessions = serializers.IntegerField()
    energy_kwh = serializers.CharField()
    total = serializers.CharField()
    currency = serializers.CharField()
    transactions = ReceiptSerializer(many=True)


class RevenueMonthSerializer(serializers.Serializer[Any]):
    month = serializers.IntegerField()
    sessions = serializers.IntegerField()
    energy_wh = serializers.IntegerField()
    energy_kwh = serializers.CharField()
    revenue = serializers.CharField()


class RevenueSerializer(serializers.Serializer[Any]):
    year = serializers.IntegerField()
    months = RevenueMonthSerializer(many=True)


class RefundSerializer(serializers.Serializer[Any]):
    transaction_id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, help_text="Absent: all that is left.")
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
