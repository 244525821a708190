from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from transactions.models import MeterValue, Transaction
from transactions.services import transaction_stop
from transactions.tests.conftest import T0
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
T_STOP = T0 + timedelta(hours=1)


@pytest.fixture
def tx(connector, id_tag) -> Transaction:
    return TransactionFactory(connector=connector, tag=id_tag, meter_start=1000, started_at=T0,
                              tariff_snapshot={"price_per_kwh": "0.30", "currency": "EUR"})


def stop(tx_id: int, **overrides: object):
    args = dict(charge_point_id="CP-1", transaction_id=tx_id, meter_stop_wh=11000, stopped_at=T_STOP, now=T_STOP,
                id_tag="TAG-1", reason="EVDisconnected")
    args.update(overrides)
    return transaction_stop(**args)  # type: ignore[arg-type]


def test_stop_closes_and_settles_the_session(tx, django_capture_on_commit_callbacks) -> None:
    with mock.patch("notifications.services.transaction_stopped") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            result = stop(tx.pk)
    tx.refresh_from_db()
    assert result.authorization is not None and result.authorization.status == "Accepted"
    assert (tx.meter_stop, tx.stopped_at, tx.stop_reason, tx.stop_id_tag) == (11000, T_STOP, "EVDisconnected", "TAG-1")
    assert tx.energy_wh == 10000 and str(tx.cost) == "3.00"
    notify.assert_called_once_with(transaction_id=tx.pk, tx=mock.ANY)
    assert notify.call_args.kwargs["tx"].pk == tx.pk


def test_resent_stop_changes_nothing(tx) -> None:
    stop(tx.pk)
    again = stop(tx.pk, meter_stop_wh=99999, stopped_at=T_STOP + timedelta(hours=1))
    assert again.already_stopped
    tx.refresh_from_db()
    assert (tx.meter_stop, tx.stopped_at) == (11000, T_STOP)


def test_stop_of_an_unknown_transaction_is_answered(tx) -> None:
    result = stop(987654)
    assert result.transaction is None
    assert result.authorization is not None and result.authorization.status == "Accepted"
    tx.refresh_from_db()
    assert tx.stopped_at is None


def test_stop_without_id_tag_has_no_id_tag_info_and_reason_defaults_to_local(tx) -> None:
    result = stop(tx.pk, id_tag=None, reason=None)
    assert result.authorization is None
    tx.refresh_from_db()
    assert tx.stop_reason == "Local"


def test_transaction_data_is_stored_like_meter_values(tx) -> None:
    data = [{"timestamp": (T0 + timedelta(minutes=m)).isoformat(), "sampled_value": [{"value": str(1000 + m * 100)}]}
            for m in (0, 30, 60)]
    stop(tx.pk, transaction_data=data)
    stop(tx.pk, transaction_data=data)
    assert MeterValue.objects.filter(transaction=tx).count() == 3


def test_meter_stop_below_the_last_reading_is_an_anomaly(tx) -> None:
    Transaction.objects.filter(pk=tx.pk).update(energy_wh=5000, last_meter_at=T0 + timedelta(minutes=50))
    stop(tx.pk, meter_stop_wh=2000)
    tx.refresh_from_db()
    assert tx.meter_anomaly and tx.energy_wh == 5000
