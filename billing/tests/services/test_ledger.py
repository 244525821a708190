"""The prepaid ledger: every change an entry, the balance their sum, a session debited once."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from billing.models import LedgerEntry, LedgerKind
from billing.selectors import ledger_balance
from billing.services import ledger_credit, session_settle
from core.exceptions import InvalidInput, NotFound
from transactions.models import Transaction
from transactions.tests.factories import TransactionFactory


def stopped_session(balance: str = "10.00", energy_wh: int = 10000) -> Transaction:
    user = UserFactory(balance=Decimal("0"))
    ledger_credit(user_id=user.pk, amount=Decimal(balance), kind=LedgerKind.INITIAL)
    now = timezone.now()
    return TransactionFactory(
        tag__user=user, started_at=now - timedelta(hours=1), stopped_at=now, energy_wh=energy_wh,
        meter_stop=1000 + energy_wh, tariff_snapshot={"price_per_kwh": "0.30", "currency": "EUR"},
    )


@pytest.mark.django_db
def test_a_credit_is_an_entry_and_moves_the_balance() -> None:
    user = UserFactory(balance=Decimal("0"))
    entry = ledger_credit(user_id=user.pk, amount=Decimal("12.50"), kind=LedgerKind.TOPUP, reason="card")
    user.refresh_from_db()
    assert user.balance == Decimal("12.50") == entry.balance_after
    assert ledger_balance(user_id=user.pk) == user.balance


@pytest.mark.django_db
def test_an_entry_takes_the_currency_and_the_new_balance_from_the_user_row() -> None:
    user = UserFactory(balance=Decimal("4.00"), currency="CHF")
    first = ledger_credit(user_id=user.pk, amount=Decimal("1.25"), kind=LedgerKind.TOPUP)
    second = ledger_credit(user_id=user.pk, amount=Decimal("-2"), kind=LedgerKind.ADJUSTMENT)
    stored = {e.pk: (e.currency, e.amount, e.balance_after) for e in LedgerEntry.objects.filter(user=user)}
    assert stored == {first.pk: ("CHF", Decimal("1.25"), Decimal("5.25")),
                      second.pk: ("CHF", Decimal("-2.00"), Decimal("3.25"))}
    assert (first.currency, first.balance_after, second.balance_after) == ("CHF", Decimal("5.25"), Decimal("3.25"))


@pytest.mark.django_db
def test_an_unknown_kind_or_user_is_refused() -> None:
    user = UserFactory()
    with pytest.raises(InvalidInput):
        ledger_credit(user_id=user.pk, amount=Decimal("1"), kind="gift")
    with pytest.raises(NotFound):
        ledger_credit(user_id=user.pk + 1000, amount=Decimal("1"), kind=LedgerKind.TOPUP)


@pytest.mark.django_db
def test_settling_debits_the_session_cost() -> None:
    tx = stopped_session()
    session_settle(transaction_id=tx.pk)
    tx.user.refresh_from_db()
    assert tx.user.balance == Decimal("7.00")
    debit = LedgerEntry.objects.get(transaction=tx)
    assert (debit.kind, debit.amount) == (LedgerKind.SESSION, Decimal("-3.00"))


@pytest.mark.django_db
def test_a_resent_stop_debits_nothing_more() -> None:
    tx = stopped_session()
    session_settle(transaction_id=tx.pk)
    session_settle(transaction_id=tx.pk)
    tx.user.refresh_from_db()
    assert tx.user.balance == Decimal("7.00")
    assert LedgerEntry.objects.filter(transaction=tx).count() == 1


@pytest.mark.django_db
def test_a_reconciled_stop_books_only_the_difference() -> None:
    tx = stopped_session(energy_wh=10000)
    session_settle(transaction_id=tx.pk)
    Transaction.objects.filter(pk=tx.pk).update(energy_wh=12000)  # the late real StopTransaction
    session_settle(transaction_id=tx.pk)
    tx.user.refresh_from_db()
    assert tx.user.balance == Decimal("6.40")
    kinds = sorted(LedgerEntry.objects.filter(transaction=tx).values_list("kind", "amount"))
    assert kinds == [(LedgerKind.ADJUSTMENT, Decimal("-0.60")), (LedgerKind.SESSION, Decimal("-3.00"))]
    assert ledger_balance(user_id=tx.user.pk) == tx.user.balance


@pytest.mark.django_db
def test_the_external_reference_credits_once() -> None:
    from django.db import IntegrityError

    user = UserFactory()
    ledger_credit(user_id=user.pk, amount=Decimal("5"), kind=LedgerKind.TOPUP, external_ref="stripe:cs_1")
    with pytest.raises(IntegrityError):
        ledger_credit(user_id=user.pk, amount=Decimal("5"), kind=LedgerKind.TOPUP, external_ref="stripe:cs_1")


@pytest.mark.django_db
def test_a_first_settlement_reads_no_ledger_and_still_debits_once() -> None:
    tx = stopped_session()
    with CaptureQueriesContext(connection) as queries:
        session_settle(transaction_id=tx.pk, first=True)
    assert not any("SUM" in q["sql"] and "billing_ledgerentry" in q["sql"] for q in queries.captured_queries)
    # Called as a first settlement again by mistake: the unique debit per session holds.
    session_settle(transaction_id=tx.pk, first=True)
    tx.user.refresh_from_db()
    assert LedgerEntry.objects.filter(transaction=tx, kind=LedgerKind.SESSION).count() == 1
    assert tx.user.balance == Decimal("7.00") == ledger_balance(user_id=tx.user.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_stops_debit_the_session_once() -> None:
    tx = stopped_session()
    threads_n = 6
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def stop() -> None:
        try:
            barrier.wait(timeout=10)
            session_settle(transaction_id=tx.pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=stop) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    tx.user.refresh_from_db()
    assert LedgerEntry.objects.filter(transaction=tx, kind=LedgerKind.SESSION).count() == 1
    assert LedgerEntry.objects.filter(transaction=tx).count() == 1
    assert tx.user.balance == Decimal("7.00") == ledger_balance(user_id=tx.user.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_keep_the_balance_the_sum_of_entries() -> None:
    user = UserFactory(balance=Decimal("0"))
    barrier = threading.Barrier(4)

    def credit(amount: str) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(5):
                ledger_credit(user_id=user.pk, amount=Decimal(amount), kind=LedgerKind.ADJUSTMENT)
        finally:
            connection.close()

    threads = [threading.Thread(target=credit, args=(a,)) for a in ("1.10", "-0.35", "2.00", "0.01")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    user.refresh_from_db()
    assert user.balance == Decimal("13.80") == ledger_balance(user_id=user.pk)
    assert LedgerEntry.objects.filter(user=user).count() == 20


amounts = st.decimals(min_value=-1000, max_value=1000, places=2)
kinds = st.sampled_from([LedgerKind.INITIAL, LedgerKind.TOPUP, LedgerKind.REFUND, LedgerKind.ADJUSTMENT])


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(amounts, kinds), max_size=15), st.lists(st.integers(0, 40000), max_size=4))
def test_the_ledger_always_sums_to_the_balance(changes, sessions) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory(balance=Decimal("0"))
    for amount, kind in changes:
        ledger_credit(user_id=user.pk, amount=amount, kind=kind)
    now = timezone.now()
    for energy_wh in sessions:
        tx = TransactionFactory(
            tag__user=user, started_at=now - timedelta(hours=1), stopped_at=now, energy_wh=energy_wh,
            tariff_snapshot={"price_per_kwh": "0.3333", "session_fee": "0.50", "currency": "EUR"},
        )
        session_settle(transaction_id=tx.pk)
        session_settle(transaction_id=tx.pk)
    user.refresh_from_db()
    assert user.balance == ledger_balance(user_id=user.pk)
    entries = list(LedgerEntry.objects.filter(user=user).order_by("created_at", "id"))
    running = Decimal("0")
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running


@pytest.mark.django_db
def test_a_refund_gives_back_at_most_what_was_debited() -> None:
    from billing.services import session_refund

    tx = stopped_session()  # costs 3.00
    session_settle(transaction_id=tx.pk)
    session_refund(transaction_id=tx.pk, amount=Decimal("1.00"), reason="slow charger")
    with pytest.raises(InvalidInput):
        session_refund(transaction_id=tx.pk, amount=Decimal("2.01"))
    entry = session_refund(transaction_id=tx.pk)  # the rest
    assert entry.amount == Decimal("2.00")
    with pytest.raises(InvalidInput):
        session_refund(transaction_id=tx.pk)
    session_settle(transaction_id=tx.pk)  # a resent stop does not take the refund back
    tx.user.refresh_from_db()
    assert tx.user.balance == Decimal("10.00") == ledger_balance(user_id=tx.user.pk)


@pytest.mark.django_db
def test_a_running_session_cannot_be_refunded() -> None:
    from billing.services import session_refund

    with pytest.raises(InvalidInput):
        session_refund(transaction_id=TransactionFactory().pk, amount=Decimal("1"))
    with pytest.raises(NotFound):
        session_refund(transaction_id=999999)
