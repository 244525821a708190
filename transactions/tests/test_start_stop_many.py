"""A batch's Authorize, StartTransaction and StopTransaction messages in a few statements
(``id_tag_authorize.many``, ``transaction_start.many``, ``transaction_stop.many``: what the group
committer runs) decide, store and publish exactly what one call each does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.authorization import id_tag_authorize
from accounts.models import IdTagStatus, User
from accounts.tests.factories import IdTagFactory, UserFactory
from billing.models import LedgerEntry, SessionBilling, Tariff, TariffPeriod
from core.events import PublishOnCommit
from reservations.models import Reservation, ReservationStatus
from stations.tests.factories import ConnectorFactory
from transactions.models import MeterValue, Transaction
from transactions.services import transaction_start, transaction_stop
from transactions.tests.conftest import T0
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = T0 + timedelta(hours=2)


def tou_tariff(prefix: str) -> Tariff:
    tariff = Tariff.objects.create(name=f"{prefix} tou", price_per_kwh=Decimal("0.20"), session_fee=Decimal("0.50"))
    TariffPeriod.objects.create(tariff=tariff, start_time="00:00", end_time="23:59", price_per_kwh=Decimal("0.40"))
    return tariff


def strip(events: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Events without what differs between two scenes (ids, charge point ids)."""
    return [(group.split(".")[0], {k: v for k, v in event.items() if k not in ("id", "charge_point_id", "transaction_id")})
            for group, event in events]


def run(fn: Any, calls: list[dict[str, Any]], *, many: bool) -> tuple[list[Any], list[Any], int, list[Any]]:
    """The calls one by one or as one batch, in a transaction of their own (nested in the
    test's): results, the live events and the other after-commit callbacks they registered, and
    the statements run."""
    before = len(connection.run_on_commit)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        results = fn.many(calls) if many else [fn(**call) for call in calls]
    registered = [callback for _sids, callback, _robust in connection.run_on_commit[before:]]
    events = [(c.group, c.event) for c in registered if isinstance(c, PublishOnCommit)]
    return results, events, len(registered) - len(events), [q["sql"] for q in queries]


# --- Authorize ------------------------------------------------------------------------------


def authorize_scene(prefix: str) -> list[dict[str, Any]]:
    """Every decision: accepted, blocked, expired (by date), blocked user, blocked parent,
    unknown, concurrent (and the same tag with the session excluded, and not asked)."""
    parent = IdTagFactory(id_tag=f"{prefix}-PARENT", status=IdTagStatus.BLOCKED)
    IdTagFactory(id_tag=f"{prefix}-OK")
    IdTagFactory(id_tag=f"{prefix}-BLOCKED", status=IdTagStatus.BLOCKED)
    IdTagFactory(id_tag=f"{prefix}-OLD", expiry_date=T0 - timedelta(days=1))
    IdTagFactory(id_tag=f"{prefix}-USER", user=UserFactory(is_active=False))
    IdTagFactory(id_tag=f"{prefix}-CHILD", parent=parent)
    busy = TransactionFactory(tag=IdTagFactory(id_tag=f"{prefix}-BUSY"), started_at=T0,
                              connector__station__charge_point_id=f"{prefix}-CP")
    calls: list[dict[str, Any]] = [{"id_tag": f"{prefix}-{name}", "now": NOW}
                                   for name in ("OK", "BLOCKED", "OLD", "USER", "CHILD", "NOBODY", "BUSY")]
    calls.append({"id_tag": f"{prefix}-BUSY", "now": NOW, "exclude_transaction_id": busy.pk})
    calls.append({"id_tag": f"{prefix}-BUSY", "now": NOW, "check_concurrent": False})
    return calls


def test_authorize_many_decides_as_one_call_each() -> None:
    one, _e, _c, _q = run(id_tag_authorize, authorize_scene("ONE"), many=False)
    many, _e, _c, queries = run(id_tag_authorize, authorize_scene("MANY"), many=True)
    assert [info.status for info in many] == [info.status for info in one] == [
        "Accepted", "Blocked", "Expired", "Blocked", "Blocked", "Invalid", "ConcurrentTx", "Accepted", "Accepted"]
    assert [(i.expiry_date, i.parent_id_tag and i.parent_id_tag.split("-", 1)[1], i.user_id is not None) for i in many] == \
        [(i.expiry_date, i.parent_id_tag and i.parent_id_tag.split("-", 1)[1], i.user_id is not None) for i in one]
    assert len(queries) == 1


# --- StartTransaction -----------------------------------------------------------------------


def start_scene(prefix: str) -> list[dict[str, Any]]:
    """Five chargers: a driver's tag, a blocked tag, an unknown tag (a guest), a tag busy
    elsewhere (ConcurrentTx), and a station with a time-of-use tariff."""
    tou = tou_tariff(prefix)
    IdTagFactory(id_tag=f"{prefix}-OK")
    IdTagFactory(id_tag=f"{prefix}-BLOCKED", status=IdTagStatus.BLOCKED)
    IdTagFactory(id_tag=f"{prefix}-TOU")
    TransactionFactory(tag=IdTagFactory(id_tag=f"{prefix}-BUSY"), started_at=T0,
                       connector__station__charge_point_id=f"{prefix}-ELSEWHERE")
    calls = []
    for n, tag in enumerate(("OK", "BLOCKED", "NOBODY", "BUSY", "TOU")):
        cp = f"{prefix}-{tag}"
        ConnectorFactory(station__charge_point_id=cp, connector_id=1,
                         station__tariff=tou if tag == "TOU" else None)
        calls.append({"charge_point_id": cp, "connector_id": 1, "id_tag": f"{prefix}-{tag}",
                      "meter_start_wh": 1000 * n, "started_at": T0 + timedelta(minutes=n), "now": NOW,
                      "reservation_id": None})
    return calls


def started(results: list[Any]) -> list[Any]:
    found = []
    for result in results:
        tx = Transaction.objects.select_related("user", "tariff").get(pk=result.transaction.pk)
        assert SessionBilling.objects.filter(transaction_id=tx.pk).exists()
        found.append((
            result.created, result.authorization.status, result.transaction.pk == tx.pk,
            tx.id_tag.split("-", 1)[1], tx.user is not None, tx.meter_start, tx.started_at, tx.currency,
            tx.tariff.name.split(" ", 1)[1] if tx.tariff else None,
            {k: v for k, v in tx.tariff_snapshot.items() if k != "name"}, tx.cost, tx.cost_items,
            tx.created_at, tx.stopped_at,
        ))
    return found


def test_start_many_matches_one_call_each() -> None:
    one, events_one, callbacks_one, _q = run(transaction_start, start_scene("ONE"), many=False)
    many, events_many, callbacks_many, queries = run(transaction_start, start_scene("MANY"), many=True)
    assert started(many) == started(one)
    assert [r.authorization.status for r in many] == ["Accepted", "Blocked", "Invalid", "ConcurrentTx", "Accepted"]
    assert started(many)[4][9]["periods"]  # the station's time-of-use tariff, read in the batch
    assert strip(events_many) == strip(events_one) and len(events_many) == 10
    assert callbacks_many == callbacks_one == 5  # the drivers' notices
    # lock the connectors, authorize, the tariffs, insert the sessions, their billing states
    # (and one payment-hold update for the guest)
    assert len(queries) == 6, [q[:80] for q in queries]
    assert sum(q.startswith(f'INSERT INTO "{Transaction._meta.db_table}"') for q in queries) == 1


def test_start_many_runs_one_by_one_when_the_calls_meet() -> None:
    """Two chargers starting with one tag: the second is ConcurrentTx, as one call each decides.
    A reservation, a resend and a new connector take the single call's way too."""
    calls = start_scene("MEET")
    calls[1]["id_tag"] = calls[0]["id_tag"]
    results, _e, _c, _q = run(transaction_start, calls, many=True)
    assert [r.authorization.status for r in results][:2] == ["Accepted", "ConcurrentTx"]

    calls = start_scene("RES")
    first = calls[0]
    connector = Transaction._meta.get_field("connector").related_model.objects.get(
        station__charge_point_id=first["charge_point_id"])
    reservation = Reservation.objects.create(
        user=User.objects.get(id_tags__id_tag=first["id_tag"]), id_tag=first["id_tag"], station=connector.station,
        connector=connector, expires_at=NOW + timedelta(minutes=15))
    first["reservation_id"] = reservation.pk
    calls[2]["connector_id"] = 2  # a connector the station never reported
    results, _e, _c, _q = run(transaction_start, calls, many=True)
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.USED
    assert Transaction.objects.get(pk=results[0].transaction.pk).reservation_id == reservation.pk
    assert Transaction.objects.get(pk=results[2].transaction.pk).connector.connector_id == 2

    again, _e, _c, _q = run(transaction_start, [{**call, "reservation_id": None} for call in calls], many=True)
    assert [r.created for r in again] == [False] * 5  # resent: the same sessions
    assert [r.transaction.pk for r in again] == [r.transaction.pk for r in results]


# --- StopTransaction ------------------------------------------------------------------------


def stop_scene(prefix: str) -> list[dict[str, Any]]:
    """Six chargers: a driver's session stopped with its tag, one with transactionData and a
    time-of-use tariff, a guest's session, an unknown transaction, one stopped already, and
    another station's session."""
    calls = []
    sessions = {}
    tou = {"price_per_kwh": "0.20", "currency": "EUR", "time_zone": "UTC", "session_fee": "0.50",
           "periods": [{"start": "00:00", "end": "23:59", "price_per_kwh": "0.40", "weekdays": []}]}
    for case in ("plain", "data", "guest", "unknown", "stopped", "foreign"):
        cp = f"{prefix}-{case}"
        connector = ConnectorFactory(station__charge_point_id=cp, connector_id=1)
        tag = IdTagFactory(id_tag=f"{prefix}-{case}"[:20], user=UserFactory(balance=Decimal("50.00")))
        tx = TransactionFactory(
            connector=connector, tag=tag, meter_start=1000, started_at=T0,
            tariff_snapshot=tou if case == "data" else {"price_per_kwh": "0.30", "currency": "EUR"},
            **({"user": None} if case == "guest" else {}), **({"stopped": True} if case == "stopped" else {}))
        sessions[case] = tx
        call: dict[str, Any] = {"charge_point_id": cp, "transaction_id": tx.pk, "meter_stop_wh": 11000,
                                "stopped_at": T0 + timedelta(hours=1), "now": NOW, "id_tag": tag.id_tag,
                                "reason": "EVDisconnected", "transaction_data": []}
        if case == "data":
            call["transaction_data"] = [{"timestamp": (T0 + timedelta(minutes=m)).isoformat(), "sampled_value": [
                {"value": str(1000 + 100 * m), "unit": "Wh", "context": "Sample.Periodic"}]} for m in (10, 50)]
        if case == "unknown":
            call["transaction_id"] = 999_999_999
        if case == "guest":
            call["id_tag"] = None
        calls.append(call)
    calls[-1]["transaction_id"] = sessions["foreign"].pk
    calls[-1]["charge_point_id"] = calls[0]["charge_point_id"]  # names another station's session
    return calls


def stopped(calls: list[dict[str, Any]], results: list[Any]) -> list[Any]:
    found = []
    for call, result in zip(calls, results):
        info = result.authorization.status if result.authorization else None
        tx = Transaction.objects.filter(station__charge_point_id=call["charge_point_id"]).first()
        figures = None
        if tx is not None:
            ledger = list(LedgerEntry.objects.filter(transaction=tx).values_list("kind", "amount", "currency", "balance_after", "reason"))
            balance = User.objects.get(pk=tx.user_id).balance if tx.user_id else None
            figures = (tx.meter_stop, tx.stopped_at, tx.stop_reason, tx.stop_id_tag.split("-", 1)[-1], tx.energy_wh,
                       tx.cost, tx.cost_items, tx.meter_anomaly, tx.power_w, balance,
                       [(k, a, c, b, r.split("#")[0]) for k, a, c, b, r in ledger],
                       MeterValue.objects.filter(transaction=tx).count(),
                       SessionBilling.objects.filter(transaction=tx).exists())
        found.append((result.transaction is not None, result.already_stopped, info, figures))
    return found


def test_stop_many_matches_one_call_each() -> None:
    calls_one, calls_many = stop_scene("ONE"), stop_scene("MANY")
    one, events_one, callbacks_one, _q = run(transaction_stop, calls_one, many=False)
    many, events_many, callbacks_many, queries = run(transaction_stop, calls_many, many=True)
    assert stopped(calls_many, many) == stopped(calls_one, one)
    outcome = stopped(calls_many, many)
    assert [(found, already) for found, already, _i, _f in outcome] == [
        (True, False), (True, False), (True, False), (False, False), (True, True), (False, False)]
    plain, data = outcome[0][3], outcome[1][3]
    assert plain[5] == Decimal("3.00") and plain[9] == Decimal("47.00")  # 10 kWh at 0.30, debited once
    assert data[11] == 2 and data[5] == Decimal("4.50")  # the samples stored; 10 kWh at 0.40 + the fee
    assert strip(events_many) == strip(events_one) and len(events_many) == 6
    assert callbacks_many == callbacks_one == 6  # the notices and the receipts
    # authorize, lock, the samples, the sessions' UPDATE, the debits, the billing states, and a
    # guest's payment hold looked up; time of use reads the samples and the idle time
    assert len(queries) <= 9, [q[:80] for q in queries]


def test_stop_many_runs_one_by_one_when_a_session_repeats() -> None:
    calls = stop_scene("TWICE")
    calls[1] = {**calls[0], "meter_stop_wh": 99_999}  # a resend meeting its original in the batch
    results, _e, _c, _q = run(transaction_stop, calls, many=True)
    assert [r.already_stopped for r in results[:2]] == [False, True]
    tx = Transaction.objects.get(pk=calls[0]["transaction_id"])
    assert tx.meter_stop == 11000 and LedgerEntry.objects.filter(transaction=tx).count() == 1


def test_a_committer_batch_of_starts_and_stops_runs_them_together() -> None:
    from stations.protocol.committer import _execute, _Item

    starts = start_scene("BATCH")
    stops = stop_scene("BSTOP")
    items = [_Item(transaction_start, call, None) for call in starts]  # type: ignore[arg-type]
    items += [_Item(transaction_stop, call, None) for call in stops]  # type: ignore[arg-type]
    items += [_Item(id_tag_authorize, {"id_tag": call["id_tag"], "now": NOW}, None) for call in starts]  # type: ignore[arg-type]
    with CaptureQueriesContext(connection) as queries:
        _execute(items, [], [])
    assert all(item.ok for item in items), [item.result for item in items if not item.ok]
    assert [item.result.authorization.status for item in items[:5]] == [
        "Accepted", "Blocked", "Invalid", "ConcurrentTx", "Accepted"]
    # the authorizations see the sessions the batch opened (they run after the starts)
    assert [item.result.status for item in items[-5:]] == ["ConcurrentTx", "Blocked", "Invalid", "ConcurrentTx", "ConcurrentTx"]
    sqls = [q["sql"] for q in queries]
    assert sum(q.startswith(f'INSERT INTO "{Transaction._meta.db_table}"') for q in sqls) == 1
    assert sum(q.startswith(f'UPDATE "{Transaction._meta.db_table}" SET "meter_stop"') for q in sqls) == 1
    assert Transaction.objects.filter(station__charge_point_id__in=[call["charge_point_id"] for call in starts]).count() == 5
