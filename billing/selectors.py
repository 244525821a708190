"""Billing reads: receipts, statements, the ledger, revenue."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import ExtractMonth
from django.utils.translation import gettext as _

from accounts.models import User
from billing.models import LedgerEntry
from core.exceptions import InvalidInput
from transactions.models import Transaction

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def ledger_list(*, user: User) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(user=user).select_related("transaction").order_by("-created_at", "-id")


def ledger_balance(*, user_id: int) -> Decimal:
    """The sum of the user's ledger entries: what ``User.balance`` must always equal."""
    total = LedgerEntry.objects.filter(user_id=user_id).aggregate(s=Sum("amount"))["s"]
    # Entries are whole cents, and so is their sum; SQLite adds them as binary floats
    # (-99.9900000000001), which the quantization takes back to the cent.
    return Decimal(total).quantize(CENT) if total is not None else ZERO


@dataclass(frozen=True)
class Receipt:
    transaction: Transaction
    items: list[dict[str, Any]]
    total: Decimal
    currency: str
    energy_kwh: Decimal
    duration_minutes: int
    tariff_name: str

    def as_dict(self) -> dict[str, Any]:
        tx = self.transaction
        return {
            "transaction_id": tx.pk,
            "charge_point_id": tx.station.charge_point_id,
            "station": str(tx.station),
            "connector_id": tx.connector.connector_id,
            "id_tag": tx.id_tag,
            "started_at": tx.started_at,
            "stopped_at": tx.stopped_at,
            "energy_kwh": f"{self.energy_kwh:.3f}",
            "duration_minutes": self.duration_minutes,
            "tariff": self.tariff_name,
            "items": self.items,
            "total": f"{self.total:.2f}",
            "currency": self.currency,
        }


def item_label(item: dict[str, Any]) -> str:
    """A line item's label in the active language (stored items carry an English label and a code)."""
    code = item.get("code")
    if code == "energy_tou":
        label = str(item.get("label", ""))
        name = label[label.find("(") + 1:label.rfind(")")] if "(" in label else ""
        if name and name != "time of use":
            return _("Energy (%(period)s)") % {"period": name}
        return str(_("Energy (time of use)"))
    labels = {"session_fee": _("Session fee"), "energy": _("Energy"), "time": _("Charging time"), "idle": _("Idle fee")}
    return str(labels.get(str(code), item.get("label", "")))


def receipt_get(*, transaction: Transaction) -> Receipt:
    """The receipt of a finished session: its stored line items and total (nothing re-priced)."""
    if transaction.stopped_at is None:
        raise InvalidInput("The session has not finished.")
    duration = transaction.stopped_at - transaction.started_at
    return Receipt(
        transaction=transaction,
        items=[{**item, "label": item_label(item)} for item in transaction.cost_items or []],
        total=transaction.cost,
        currency=transaction.currency,
        energy_kwh=Decimal(transaction.energy_wh) / 1000,
        duration_minutes=max(int(duration.total_seconds() // 60), 0),
        tariff_name=str((transaction.tariff_snapshot or {}).get("name", "")),
    )


def _month_bounds(year: int, month: int, tz_name: str) -> tuple[datetime, datetime]:
    if not (1 <= month <= 12 and 2000 <= year <= 2100):
        raise InvalidInput("Unknown month.", errors={"month": ["Unknown month."]})
    zone = ZoneInfo(tz_name)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start, end


@dataclass(frozen=True)
class Statement:
    year: int
    month: int
    user: User | None
    id_tag: str
    transactions: list[Transaction]
    energy_wh: int
    total: Decimal
    currency: str

    @property
    def month_name(self) -> str:
        return f"{calendar.month_name[self.month]} {self.year}"


def statement_get(*, year: int, month: int, user: User | None = None, id_tag: str = "", tz_name: str = "") -> Statement:
    """A monthly statement of finished sessions, for a driver (all their id tags) and/or one id tag.

    The month is taken in ``tz_name`` (default the site's time zone); sessions count by their stop.
    """
    if user is None and not id_tag:
        raise InvalidInput("A statement is for a driver or an id tag.")
    start, end = _month_bounds(year, month, tz_name or (user.time_zone if user and user.time_zone else settings.TIME_ZONE))
    qs = Transaction.objects.filter(stopped_at__gte=start, stopped_at__lt=end).select_related("station", "connector")
    if user is not None:
        qs = qs.filter(user=user)
    if id_tag:
        qs = qs.filter(id_tag=id_tag)
    transactions = list(qs.order_by("stopped_at", "pk"))
    currency = transactions[0].currency if transactions else (user.currency if user else settings.CSMS_CURRENCY)
    return Statement(
        year=year, month=month, user=user, id_tag=id_tag, transactions=transactions,
        energy_wh=sum(t.energy_wh for t in transactions),
        total=sum((t.cost for t in transactions), ZERO),
        currency=currency,
    )


def revenue_by_month(*, year: int, station_id: int | None = None, tz_name: str = "") -> list[dict[str, Any]]:
    """Energy and revenue per month of a year: the sum of the finished sessions' costs.

    Twelve rows ``{month, sessions, energy_wh, revenue}`` (revenue a Decimal). A session counts in
    the month it started, in ``tz_name`` (default the site's time zone), as the admin's report
    (transactions.reports) counts it; a session still running has no revenue yet and is left out.
    """
    zone = ZoneInfo(tz_name or settings.TIME_ZONE)
    start = datetime(year, 1, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone)
    qs = Transaction.objects.filter(started_at__gte=start, started_at__lt=end, stopped_at__isnull=False)
    if station_id is not None:
        qs = qs.filter(station_id=station_id)
    rows = {
        r["month"]: r
        for r in qs.annotate(month=ExtractMonth("started_at", tzinfo=zone))
        .values("month")
        .annotate(sessions=Count("pk"), energy_wh=Sum("energy_wh"), revenue=Sum("cost"))
        .order_by("month")
    }
    return [
        {
            "month": m,
            "sessions": rows[m]["sessions"] if m in rows else 0,
            "energy_wh": int(rows[m]["energy_wh"] or 0) if m in rows else 0,
            "revenue": (rows[m]["revenue"] or ZERO) if m in rows else ZERO,
        }
        for m in range(1, 13)
    ]
