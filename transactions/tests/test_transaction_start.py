from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from reservations.models import Reservation, ReservationStatus
from transactions.models import Transaction
from transactions.services import transaction_start
from transactions.tests.conftest import T0

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def start(**overrides: object):
    args = dict(charge_point_id="CP-1", connector_id=1, id_tag="TAG-1", meter_start_wh=1000, started_at=T0, now=T0)
    args.update(overrides)
    return transaction_start(**args)  # type: ignore[arg-type]


def test_start_opens_a_priced_session_of_the_tag_owner(connector, id_tag, django_capture_on_commit_callbacks) -> None:
    with mock.patch("notifications.services.transaction_started") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            started = start()
    tx = Transaction.objects.get()
    assert started.created and started.authorization.status == "Accepted"
    assert started.transaction.pk == tx.pk
    assert (tx.user_id, tx.meter_start, tx.started_at, tx.connector_id) == (id_tag.user_id, 1000, T0, connector.pk)
    assert tx.tariff_snapshot is not None  # billing priced it
    notify.assert_called_once_with(transaction_id=tx.pk, tx=mock.ANY)
    assert notify.call_args.kwargs["tx"].pk == tx.pk


def test_resent_start_returns_the_same_transaction(connector, id_tag) -> None:
    first = start()
    again = start()
    assert again.transaction.pk == first.transaction.pk and not again.created
    assert again.authorization.status == "Accepted"  # not ConcurrentTx with itself
    assert Transaction.objects.count() == 1


def test_unknown_tag_still_gets_a_transaction_id_but_invalid(connector) -> None:
    started = start(id_tag="WHO")
    assert started.authorization.status == "Invalid"
    assert Transaction.objects.get().user_id is None


def test_second_session_of_the_same_tag_is_concurrent_tx(connector, id_tag) -> None:
    start()
    other = start(connector_id=2, started_at=T0 + timedelta(minutes=1))
    assert other.authorization.status == "ConcurrentTx"
    assert Transaction.objects.count() == 2  # connector 2 appeared on the fly


def test_reservation_id_consumes_the_reservation(connector, id_tag) -> None:
    reservation = Reservation.objects.create(
        user=id_tag.user, id_tag="TAG-1", station=connector.station, connector=connector,
        expires_at=T0 + timedelta(minutes=15),
    )
    started = start(reservation_id=reservation.pk)
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.USED
    assert Transaction.objects.get(pk=started.transaction.pk).reservation_id == reservation.pk


def test_unknown_reservation_id_is_ignored(connector, id_tag) -> None:
    started = start(reservation_id=424242)
    assert started.created and Transaction.objects.get().reservation_id is None
