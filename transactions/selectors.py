"""Reads of charging sessions that are more than one filter."""

from __future__ import annotations

from django.db.models import QuerySet

from transactions.models import MeterValue, Transaction


def transaction_get(*, transaction_id: int) -> Transaction | None:
    return Transaction.objects.select_related("station", "connector", "user").filter(pk=transaction_id).first()


def transaction_active_for_connector(*, charge_point_id: str, connector_id: int) -> Transaction | None:
    return (
        Transaction.objects.select_related("station", "connector")
        .filter(station__charge_point_id=charge_point_id, connector__connector_id=connector_id, stopped_at__isnull=True)
        .order_by("-started_at").first()
    )


def transaction_meter_values(*, transaction_id: int, measurands: list[str] | None = None) -> QuerySet[MeterValue]:
    """A session's samples, oldest first, in one query (index transaction, timestamp)."""
    qs = MeterValue.objects.filter(transaction_id=transaction_id).order_by("timestamp", "id")
    if measurands:
        qs = qs.filter(measurand__in=measurands)
    return qs
