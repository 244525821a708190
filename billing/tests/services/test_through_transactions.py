"""Billing through the OCPP endpoint's domain functions (transactions.services): the real call path."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import IdTagFactory, UserFactory
from billing.models import LedgerEntry, LedgerKind
from billing.selectors import ledger_balance
from billing.services import ledger_credit, session_cost_update
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction
from transactions.services import meter_values_record, transaction_start, transaction_stop


def started(balance: str = "20.00") -> tuple[Transaction, object]:
    station = StationFactory(price_per_kwh=Decimal("0.40"))
    ConnectorFactory(station=station, connector_id=1)
    driver = UserFactory(balance=Decimal("0"))
    ledger_credit(user_id=driver.pk, amount=Decimal(balance), kind=LedgerKind.INITIAL)
    IdTagFactory(id_tag="TAG-TX", user=driver)
    now = timezone.now()
    result = transaction_start(charge_point_id=station.charge_point_id, connector_id=1, id_tag="TAG-TX",
                               meter_start_wh=1000, started_at=now - timedelta(minutes=30), now=now)
    return result.transaction, driver


def meter(tx: Transaction, wh: int, at) -> None:  # type: ignore[no-untyped-def]
    meter_values_record(
        charge_point_id=tx.station.charge_point_id, connector_id=1, transaction_id=tx.pk, now=at,
        meter_values=[{"timestamp": at.isoformat(), "sampled_value": [{"value": str(wh), "unit": "Wh"}]}],
    )


@pytest.mark.django_db
def test_meter_values_keep_the_running_cost(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    tx, _driver = started()
    at = tx.started_at + timedelta(minutes=5)
    meter(tx, 2000, at)
    meter(tx, 6000, at + timedelta(minutes=1))
    tx.refresh_from_db()
    assert (tx.energy_wh, tx.cost) == (5000, Decimal("2.00"))


@pytest.mark.django_db
def test_the_running_cost_update_is_cheap(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    tx, _driver = started()
    tx = Transaction.objects.select_related("connector", "station").get(pk=tx.pk)  # as the MeterValues hook loads it
    tx.energy_wh = 5000
    with django_assert_max_num_queries(2):  # the cost UPDATE, the balance for the limit
        session_cost_update(transaction=tx, now=tx.started_at + timedelta(minutes=6))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_stop_transactions_debit_once() -> None:
    tx, driver = started()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def stop() -> None:
        try:
            barrier.wait(timeout=10)
            now = timezone.now()
            transaction_stop(charge_point_id=tx.station.charge_point_id, transaction_id=tx.pk, meter_stop_wh=11000,
                             stopped_at=now, now=now, id_tag="TAG-TX", reason="Local")
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=stop) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert list(LedgerEntry.objects.filter(transaction_id=tx.pk).values_list("kind", "amount")) == [
        (LedgerKind.SESSION, Decimal("-4.00"))
    ]
    driver.refresh_from_db()  # type: ignore[attr-defined]
    assert driver.balance == Decimal("16.00") == ledger_balance(user_id=driver.pk)  # type: ignore[attr-defined]
