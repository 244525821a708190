from __future__ import annotations

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection

from reservations.models import Reservation, ReservationStatus
from stations.protocol.committer import _execute, _Item
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


@pytest.mark.django_db(transaction=True)
def test_a_resend_racing_its_original_through_the_committer_gets_the_same_transaction(connector, id_tag) -> None:
    """Two lanes, each with one of the two copies: the second waits for the connector's lock, its
    statement cannot see the first one's session yet, its INSERT meets the unique start, and its
    batch runs again on its own: then it finds the session."""
    args = dict(charge_point_id="CP-1", connector_id=1, id_tag="TAG-1", meter_start_wh=1000, started_at=T0, now=T0)
    items = [_Item(transaction_start, dict(args), None), _Item(transaction_start, dict(args), None)]  # type: ignore[arg-type]
    first_locked, release_first = threading.Event(), threading.Event()

    def lane(item: _Item, hold: bool) -> None:
        try:
            if hold:  # the first copy: takes the connector's lock and holds it a moment
                original = transaction_start.__wrapped__  # type: ignore[attr-defined]

                def holding(**kwargs: object):
                    result = original(**kwargs)
                    first_locked.set()
                    release_first.wait(5)
                    return result

                holding.__wrapped__ = holding  # type: ignore[attr-defined]
                item.fn = holding
            else:
                first_locked.wait(5)
            _execute([item], [], [])
        finally:
            connection.close()

    threads = [threading.Thread(target=lane, args=(items[0], True)), threading.Thread(target=lane, args=(items[1], False))]
    for t in threads:
        t.start()
    first_locked.wait(5)
    time.sleep(0.3)  # the second copy's statement is now waiting for the connector's lock
    release_first.set()
    for t in threads:
        t.join(10)
    assert [i.ok for i in items] == [True, True], [i.result for i in items]
    assert items[0].result.transaction.pk == items[1].result.transaction.pk
    assert not items[1].result.created
    assert Transaction.objects.count() == 1
