"""Billing services. Interface used by transactions services (implemented by the billing work):

- ``session_start_pricing(transaction=)``: called inside ``transaction_start``'s atomic block on a
  newly created Transaction; sets tariff, tariff_snapshot and currency (saves the row).
- ``session_cost_update(transaction=, now=)``: called inside ``meter_values_record``'s atomic block
  after the running figures changed; updates cost and cost_items (saves the row). Must be cheap.
- ``ledger_credit(user_id=, amount=, kind=, reason=, created_by=)``: one balance change.
- ``session_settle(transaction_id=)``: called inside ``transaction_stop``'s atomic block once the
  transaction is stopped; final cost, line items, and the one ledger debit (safe on repeat).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction as db_transaction
from django.db.models import F

from accounts.models import User
from billing.models import LedgerEntry
from transactions.models import Transaction


def session_start_pricing(*, transaction: Transaction) -> None:
    station = transaction.station
    transaction.currency = station.currency
    transaction.tariff_snapshot = {"price_per_kwh": str(station.price_per_kwh), "currency": station.currency}
    transaction.save(update_fields=["currency", "tariff_snapshot"])


def _energy_cost(transaction: Transaction) -> Decimal:
    price = Decimal((transaction.tariff_snapshot or {}).get("price_per_kwh", "0"))
    return (Decimal(transaction.energy_wh) / 1000 * price).quantize(Decimal("0.01"), ROUND_HALF_UP)


def session_cost_update(*, transaction: Transaction, now: datetime) -> None:
    transaction.cost = _energy_cost(transaction)
    transaction.save(update_fields=["cost"])


def session_settle(*, transaction_id: int) -> None:
    transaction = Transaction.objects.select_for_update().get(pk=transaction_id)
    transaction.cost = _energy_cost(transaction)
    transaction.save(update_fields=["cost"])



@db_transaction.atomic
def ledger_credit(
    *, user_id: int, amount: Decimal, kind: str, reason: str = "", created_by: User | None = None,
    transaction_id: int | None = None, external_ref: str = "",
) -> LedgerEntry:
    """Add one ledger entry (negative amount: a debit) and move the cached balance with it.

    Locks the user row, so concurrent entries serialise and the balance stays the sum of entries.
    """
    user = User.objects.select_for_update().get(pk=user_id)
    amount = Decimal(amount).quantize(Decimal("0.01"))
    User.objects.filter(pk=user.pk).update(balance=F("balance") + amount)
    user.refresh_from_db(fields=["balance"])
    return LedgerEntry.objects.create(
        user=user, kind=kind, amount=amount, currency=user.currency, balance_after=user.balance,
        transaction_id=transaction_id, reason=reason, external_ref=external_ref, created_by=created_by,
    )
