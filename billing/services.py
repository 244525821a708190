"""Billing services: pricing sessions, the prepaid ledger and the limits.

Interface used by the other areas:

- ``session_start_pricing(transaction=)``: called inside ``transaction_start``'s atomic block on a
  newly created Transaction; sets tariff, tariff_snapshot and currency (saves the row).
- ``session_cost_update(transaction=, now=)``: called inside ``meter_values_record``'s atomic block
  after the running figures changed; updates cost and cost_items (saves the row), and asks for a
  remote stop (once, after commit) when a limit is reached. Cheap: no query at all for a tariff
  without time-of-use periods while no limit is near.
- ``session_settle(transaction_id=)``: called inside ``transaction_stop``'s atomic block once the
  transaction is stopped; final cost, line items, and the one ledger debit (safe on repeat).
- ``ledger_credit(user_id=, amount=, kind=, reason=, created_by=, transaction_id=, external_ref=)``:
  one balance change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection
from django.db import transaction as db_transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from billing.models import (
    LedgerEntry,
    LedgerKind,
    Payment,
    PaymentKind,
    PaymentStatus,
    SessionBilling,
    Tariff,
    TariffPeriod,
)
from billing.pricing import Period, Pricing, TariffSpec, price_session
from core import sql
from core.exceptions import InvalidInput, NotFound
from core.tasks import EnqueueOnCommit
from stations.models import ConnectorStatus, Station
from transactions.models import MeterValue, Transaction

logger = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"


# --- Tariffs ----------------------------------------------------------------------------------

def tariff_for_station(*, station: Station) -> Tariff | None:
    """The station's tariff, else the default tariff, else None (the station's price per kWh)."""
    if station.tariff_id is not None:
        return station.tariff
    return Tariff.objects.filter(is_default=True).first()


def _tariff_with_periods(*, station: Station) -> tuple[Tariff | None, list[TariffPeriod] | None]:
    """``tariff_for_station`` and the tariff's periods in one hand-written query (PostgreSQL;
    ``tariffs_with_periods_many`` for the one station). Elsewhere: the ORM, periods read by
    ``tariff_spec``."""
    if connection.vendor != "postgresql":
        return tariff_for_station(station=station), None
    return tariffs_with_periods_many(stations=[station])[station.tariff_id]


def tariffs_with_periods_many(*, stations: Sequence[Station]) -> dict[int | None, tuple[Tariff | None, list[TariffPeriod]]]:
    """``_tariff_with_periods`` for many stations in one statement (PostgreSQL; a batch of
    StartTransactions): keyed by the station's ``tariff_id``, None for the default tariff (or
    no tariff at all: ``(None, [])``)."""
    wanted = sorted({station.tariff_id for station in stations if station.tariff_id is not None})
    names, select = sql.columns(Tariff, "t")
    period_names, period_select = sql.columns(TariffPeriod, "p")
    table = Tariff._meta.db_table
    with sql.server_cursor() as cursor:
        cursor.execute(
            f'SELECT {select}, {period_select} FROM "{table}" t '
            f'LEFT JOIN "{TariffPeriod._meta.db_table}" p ON p.tariff_id = t.id '
            f"WHERE t.id = {sql.any_of('bigint')} "
            f'OR t.id = (SELECT id FROM "{table}" WHERE is_default LIMIT 1) ORDER BY t.id, p.start_time, p.id',
            [sql.json_list(wanted)],
        )
        rows = cursor.fetchall()
    count = len(names)
    found: dict[int, tuple[Tariff, list[TariffPeriod]]] = {}
    for row in rows:
        if row[0] not in found:
            found[row[0]] = (sql.instance(Tariff, names, row[:count]), [])
        if row[count] is not None:
            found[row[0]][1].append(sql.instance(TariffPeriod, period_names, row[count:]))
    by_station: dict[int | None, tuple[Tariff | None, list[TariffPeriod]]] = {
        tariff_id: found[tariff_id] for tariff_id in wanted if tariff_id in found
    }
    default = next((value for value in found.values() if value[0].is_default), None)
    by_station[None] = default if default is not None else (None, [])
    return by_station


def tariff_spec(*, station: Station, tariff: Tariff | None, periods: list[TariffPeriod] | None = None) -> TariffSpec:
    """What a session at this station would be priced with, as a snapshot-able value.
    ``periods``: the tariff's periods in order, when the caller read them already."""
    if tariff is None:
        return TariffSpec(
            name=str(_("Price per kWh")), currency=station.currency, price_per_kwh=station.price_per_kwh,
            time_zone=station.time_zone,
        )
    return TariffSpec(
        name=tariff.name,
        currency=tariff.currency,
        price_per_kwh=tariff.price_per_kwh,
        price_per_minute=tariff.price_per_minute,
        session_fee=tariff.session_fee,
        idle_fee_per_minute=tariff.idle_fee_per_minute,
        idle_grace_minutes=tariff.idle_grace_minutes,
        time_zone=station.time_zone,
        periods=tuple(
            Period(start=p.start_time, end=p.end_time, price_per_kwh=p.price_per_kwh,
                   weekdays=frozenset(int(d) for d in p.weekdays or ()), name=p.name)
            for p in (periods if periods is not None else tariff.periods.order_by("start_time", "pk"))
        ),
    )


# --- Sessions ---------------------------------------------------------------------------------

def session_start_pricing(
    *, transaction: Transaction, save: bool = True,
    tariff_periods: tuple[Tariff | None, list[TariffPeriod] | None] | None = None,
) -> None:
    """Copy the tariff in force onto a new session, so later tariff edits never change it.

    Also opens the session's billing state and ties an authorised guest payment hold (same id
    tag, not yet used) to the session. Runs inside the caller's atomic block. ``save=False``: on a
    session not inserted yet, only set its fields; the caller inserts the row, then calls
    ``session_billing_open``. ``tariff_periods``: the station's tariff and its periods, read
    already (``tariffs_with_periods_many``).
    """
    station = transaction.station
    tariff, periods = tariff_periods if tariff_periods is not None else _tariff_with_periods(station=station)
    spec = tariff_spec(station=station, tariff=tariff, periods=periods)
    transaction.tariff = tariff
    transaction.tariff_snapshot = {
        **spec.snapshot(),
        # The limit in force at start goes with the session, and saves a query per MeterValues.
        "max_energy_wh": station.max_energy_per_session_wh or settings.CSMS_MAX_ENERGY_PER_SESSION_WH or None,
    }
    transaction.currency = spec.currency
    pricing = _price(transaction, spec, end=transaction.started_at, with_samples=False)
    transaction.cost = pricing.total
    transaction.cost_items = pricing.items_as_dicts()
    if save:
        transaction.save(update_fields=["tariff", "tariff_snapshot", "currency", "cost", "cost_items"])
        session_billing_open(transaction=transaction)


def session_billing_open(*, transaction: Transaction) -> None:
    """The billing state of a new session, and a guest's payment hold tied to it."""
    if connection.vendor == "postgresql":
        sql.insert(SessionBilling(transaction_id=transaction.pk), on_conflict_nothing=True)
    else:
        SessionBilling.objects.get_or_create(transaction=transaction)
    if transaction.user_id is None and transaction.id_tag:
        _tie_payment_hold(transaction)


def _tie_payment_hold(transaction: Transaction) -> None:
    Payment.objects.filter(
        kind=PaymentKind.SESSION_HOLD, status=PaymentStatus.AUTHORIZED, transaction__isnull=True,
        id_tag=transaction.id_tag,
    ).update(transaction=transaction, updated_at=timezone.now())


def session_billing_open_many(*, transactions: Sequence[Transaction]) -> None:
    """``session_billing_open`` for many new sessions: their billing states in one statement
    (PostgreSQL; a batch of StartTransactions)."""
    sql.insert_many([SessionBilling(transaction_id=tx.pk) for tx in transactions], on_conflict_nothing=True)
    for tx in transactions:
        if tx.user_id is None and tx.id_tag:  # a guest: tie its payment hold (rare on this path)
            _tie_payment_hold(tx)


def session_cost_update(*, transaction: Transaction, now: datetime, save: bool = True) -> list[str]:
    """Keep the running cost and line items current; request a remote stop when a limit is hit.

    Runs inside the caller's atomic block on every MeterValues. The stop is requested once per
    session (a conditional update of its SessionBilling row) and sent by a Celery task after commit.
    Returns the fields it changed; with ``save=False`` the caller saves them (one UPDATE with its
    own changes).
    """
    if transaction.stopped_at is not None:
        return []  # a late MeterValues after the stop: the settled figures stand
    fields = session_idle_track(transaction=transaction, now=now, save=False)
    spec = TariffSpec.from_snapshot(transaction.tariff_snapshot)
    pricing = _price(transaction, spec, end=max(now, transaction.started_at))
    transaction.cost = pricing.total
    transaction.cost_items = pricing.items_as_dicts()
    fields += ["cost", "cost_items"]
    if save:
        transaction.save(update_fields=fields)
    reason = _limit_reached(transaction)
    if reason:
        _request_limit_stop(transaction=transaction, reason=reason, now=now)
    return fields


def session_settle(
    *, transaction_id: int, locked: Transaction | None = None, save_fields: Sequence[str] = (), first: bool = False,
) -> Transaction:
    """Final cost and line items of a stopped session, and its one ledger debit.

    Locks the transaction row. Debits the driver exactly once: a repeat finds the debit and, if the
    final figures changed since (a late, reconciled StopTransaction), books only the difference as an
    adjustment; two racing stops are serialised by the row lock and, failing that, by the ledger's
    unique constraint. A guest session's payment hold is captured after commit instead.

    ``locked``: the caller (``transaction_stop``) holds the row locked and loaded with its connector
    already, and has changed ``save_fields`` on it: they are saved with the cost, in one UPDATE.
    ``first``: the session stops in this database transaction (the caller found it running), so
    nothing can have been debited for it yet and the ledger is not read; the unique debit per
    session still stands guard.
    """
    with db_transaction.atomic():
        if locked is not None:
            tx = locked
        else:
            tx = Transaction.objects.select_for_update(of=("self",)).select_related("station", "connector").get(
                pk=transaction_id
            )
        fields = _settled_fields(tx, save_fields)
        if connection.vendor == "postgresql":
            sql.update_fields(tx, fields)
        else:
            tx.save(update_fields=list(dict.fromkeys(fields)))
        if tx.user_id is not None:
            _debit_session(tx, first=first)
        else:
            _capture_hold_on_commit(tx)
        if connection.vendor == "postgresql":
            sql.insert(SessionBilling(transaction_id=tx.pk), on_conflict_nothing=True)
        else:
            SessionBilling.objects.get_or_create(transaction=tx)
        db_transaction.on_commit(EnqueueOnCommit(_enqueue, "receipt_send", tx.pk), robust=True)
        return tx


def session_settle_many(*, settled: Sequence[tuple[Transaction, Sequence[str]]]) -> None:
    """``session_settle(locked=…, save_fields=…, first=True)`` for many sessions stopping in this
    database transaction (PostgreSQL; a batch of StopTransactions): one UPDATE for the sessions,
    one statement for the drivers' debits, one for the billing states. The sessions must be
    locked and of different drivers (each driver's balance moves once in the statement)."""
    changes = [(tx, _settled_fields(tx, save_fields)) for tx, save_fields in settled]
    sql.update_many(Transaction, changes)
    _debit_sessions([tx for tx, _fields in changes if tx.user_id is not None])
    for tx, _fields in changes:
        if tx.user_id is None:
            _capture_hold_on_commit(tx)
    sql.insert_many([SessionBilling(transaction_id=tx.pk) for tx, _fields in changes], on_conflict_nothing=True)
    for tx, _fields in changes:
        db_transaction.on_commit(EnqueueOnCommit(_enqueue, "receipt_send", tx.pk), robust=True)


def _settled_fields(tx: Transaction, save_fields: Sequence[str]) -> list[str]:
    """The final cost and line items on a stopped session (and its idle time); the fields to save."""
    if tx.stopped_at is None:
        raise InvalidInput(_("The session has not stopped yet."))
    fields = [*save_fields, *session_idle_track(transaction=tx, now=tx.stopped_at, save=False)]
    spec = TariffSpec.from_snapshot(tx.tariff_snapshot)
    pricing = _price(tx, spec, end=tx.stopped_at)
    tx.cost = pricing.total
    tx.cost_items = pricing.items_as_dicts()
    return [*fields, "cost", "cost_items"]


def _capture_hold_on_commit(tx: Transaction) -> None:
    """A guest session's authorised payment hold is captured after commit."""
    hold = Payment.objects.filter(transaction=tx, kind=PaymentKind.SESSION_HOLD).first()
    if hold is not None and hold.status == PaymentStatus.AUTHORIZED:
        db_transaction.on_commit(EnqueueOnCommit(_enqueue, "payment_capture", hold.pk), robust=True)


def session_costs_refresh(*, now: datetime) -> int:
    """Bring the running cost of time-priced sessions up to ``now`` (and check their limits).

    A per-minute price or an idle fee grows with time even when no MeterValues arrive (a car that
    sits idle, a charger that samples rarely): the periodic job calls this. Each session is locked
    and updated in its own database transaction. Returns how many sessions were updated.
    """
    active = Transaction.objects.filter(stopped_at__isnull=True).values_list("pk", "tariff_snapshot")
    due = [pk for pk, snapshot in active if _prices_time(snapshot)]
    for pk in due:
        with db_transaction.atomic():
            tx = (
                Transaction.objects.select_for_update(of=("self",)).select_related("connector", "station")
                .filter(pk=pk, stopped_at__isnull=True).first()
            )
            if tx is not None:
                session_cost_update(transaction=tx, now=now)
    return len(due)


def _prices_time(snapshot: dict[str, object] | None) -> bool:
    s = snapshot or {}
    return any(Decimal(str(s.get(key) or "0")) > 0 for key in ("price_per_minute", "idle_fee_per_minute"))


IDLE_STATUSES = (ConnectorStatus.SUSPENDED_EV, ConnectorStatus.FINISHING)


def session_idle_track(*, transaction: Transaction, now: datetime, save: bool = True) -> list[str]:
    """Keep ``Transaction.idle_since``: when the car stopped drawing power but stays plugged in.

    Read from the connector's OCPP status (SuspendedEV, Finishing) and the time the charger gave
    for it; Charging again clears it. Called from the MeterValues and stop hooks, whose callers
    load the connector with the session, so it costs no query; saves only when it changes.
    SuspendedEV before the first Wh is a car not ready yet, not an idle one. Returns the fields
    it changed (``save=False``: the caller saves them).
    """
    connector = transaction.connector
    if connector.status_at is not None and connector.status_at < transaction.started_at:
        return []  # a status from before this session (a charger that never reported Charging)
    idle = connector.status in IDLE_STATUSES and (
        connector.status == ConnectorStatus.FINISHING or transaction.energy_wh > 0
    )
    if idle and transaction.idle_since is None:
        since = connector.status_at or now
        transaction.idle_since = min(max(since, transaction.started_at), max(now, transaction.started_at))
    elif connector.status == ConnectorStatus.CHARGING and transaction.idle_since is not None:
        # The car draws power again: the idle period ends and is kept for the idle fee.
        ended = min(max(connector.status_at or now, transaction.idle_since), max(now, transaction.idle_since))
        seconds = int((ended - transaction.idle_since).total_seconds())
        state, _created = SessionBilling.objects.get_or_create(transaction=transaction)
        SessionBilling.objects.filter(pk=state.pk).update(idle_seconds=F("idle_seconds") + seconds)
        transaction.idle_since = None
    else:
        return []
    if save:
        transaction.save(update_fields=["idle_since"])
    return ["idle_since"]


def _debit_session(tx: Transaction, *, first: bool = False) -> None:
    # What the session itself cost the driver so far; refunds are a separate decision and stay.
    charged, debited = (None, False) if first else _charged(tx.pk)
    if not debited:
        try:
            ledger_credit(
                user_id=tx.user_id, amount=-tx.cost, kind=LedgerKind.SESSION, transaction_id=tx.pk,
                reason=f"Session #{tx.pk}",
            )
        except IntegrityError:
            # Another stop debited this session between our check and our insert: nothing to do.
            logger.info("session %s was debited concurrently", tx.pk)
        return
    difference = -tx.cost - (charged or Decimal("0"))
    if difference:
        ledger_credit(
            user_id=tx.user_id, amount=difference, kind=LedgerKind.ADJUSTMENT, transaction_id=tx.pk,
            reason=f"Session #{tx.pk} re-priced",
        )


def _debit_sessions(txs: Sequence[Transaction]) -> None:
    """``_debit_session(tx, first=True)`` for sessions of different drivers in one statement: each
    driver's balance moves by its session's cost and the entries record the balances after."""
    if len(txs) <= 1 or len({tx.user_id for tx in txs}) != len(txs):
        for tx in txs:
            _debit_session(tx, first=True)
        return
    users, ledger = User._meta.db_table, LedgerEntry._meta.db_table
    rows = [(tx.user_id, -Decimal(tx.cost).quantize(Decimal("0.01")), tx.pk, f"Session #{tx.pk}") for tx in txs]
    with sql.server_cursor() as cursor:
        cursor.execute(
            f"WITH v(user_id, amount, tx, reason) AS ({sql.json_rows_select(('bigint', 'numeric', 'bigint', 'text'), len(rows))}), "
            f'u AS (UPDATE "{users}" SET balance = balance + v.amount FROM v WHERE "{users}".id = v.user_id '
            f'RETURNING "{users}".id, balance, currency) '
            f'INSERT INTO "{ledger}" (user_id, kind, amount, currency, balance_after, transaction_id, reason, '
            "external_ref, created_by_id, created_at) "
            "SELECT v.user_id, %s, v.amount, u.currency, u.balance, v.tx, v.reason, '', NULL, %s "
            "FROM v JOIN u ON u.id = v.user_id",
            [sql.json_rows(rows), LedgerKind.SESSION.value, timezone.now()],
        )
        if cursor.rowcount != len(rows):  # a driver gone: the batch runs again, one session at a time
            raise NotFound(_("Unknown user."))


def _charged(transaction_id: int) -> tuple[Decimal | None, bool]:
    """What the session's debit and adjustments add up to, and whether it was debited."""
    kinds = [LedgerKind.SESSION.value, LedgerKind.ADJUSTMENT.value]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT SUM(amount) FILTER (WHERE kind = {sql.any_of('text')}), COALESCE(BOOL_OR(kind = %s), FALSE) "
                f'FROM "{LedgerEntry._meta.db_table}" WHERE transaction_id = %s',
                [sql.json_list(kinds), LedgerKind.SESSION.value, transaction_id],
            )
            charged, debited = cursor.fetchone()
        return charged, bool(debited)
    entries = LedgerEntry.objects.filter(transaction_id=transaction_id)
    charged = entries.filter(kind__in=kinds).aggregate(s=Sum("amount"))["s"]
    return charged, entries.filter(kind=LedgerKind.SESSION).exists()


def _price(tx: Transaction, spec: TariffSpec, *, end: datetime, with_samples: bool = True) -> Pricing:
    samples: list[tuple[datetime, float]] = []
    if spec.periods and with_samples:
        # Time of use needs the energy per period: from the register samples (one indexed query).
        samples = list(
            MeterValue.objects.filter(
                transaction_id=tx.pk, measurand=ENERGY_REGISTER, phase="", suspect=False,
            ).exclude(location__in=["Inlet", "EV"]).values_list("timestamp", "value")
        )
    idle_before = 0
    if with_samples and (spec.idle_fee_per_minute or spec.price_per_minute):
        # Earlier idle periods: only tariffs that price time need them (one primary-key read).
        idle_before = SessionBilling.objects.filter(transaction_id=tx.pk).values_list("idle_seconds", flat=True).first() or 0
    return price_session(
        spec, started_at=tx.started_at, end=end, meter_start_wh=tx.meter_start, energy_wh=tx.energy_wh,
        samples=samples, idle_since=tx.idle_since, idle_seconds_before=idle_before,
    )


# --- Limits -----------------------------------------------------------------------------------

def _limit_reached(tx: Transaction) -> str:
    """Which limit the running session reached: "max_energy", "balance", "hold", or ""."""
    snapshot = tx.tariff_snapshot or {}
    if "max_energy_wh" in snapshot:
        max_wh = snapshot["max_energy_wh"]
    else:  # a session priced before the limit was snapshotted
        max_wh = tx.station.max_energy_per_session_wh or settings.CSMS_MAX_ENERGY_PER_SESSION_WH
    if max_wh and tx.energy_wh >= max_wh:
        return "max_energy"
    if tx.user_id is not None:
        if settings.CSMS_STOP_AT_BALANCE and tx.cost > 0:
            # The hot path (MeterValues) reads the balance with the session row.
            balance = getattr(tx, "user_balance", None)
            if balance is None:
                balance = User.objects.filter(pk=tx.user_id).values_list("balance", flat=True).first()
            if balance is not None and tx.cost >= balance:
                return "balance"
        return ""
    hold = Payment.objects.filter(
        transaction_id=tx.pk, kind=PaymentKind.SESSION_HOLD, status=PaymentStatus.AUTHORIZED
    ).values_list("amount", flat=True).first()
    if hold is not None and tx.cost >= hold:
        return "hold"
    return ""


def _request_limit_stop(*, transaction: Transaction, reason: str, now: datetime) -> None:
    state, _created = SessionBilling.objects.get_or_create(transaction=transaction)
    claimed = SessionBilling.objects.filter(pk=state.pk, limit_stop_requested_at__isnull=True).update(
        limit_stop_requested_at=now, limit_reason=reason
    )
    if claimed:
        db_transaction.on_commit(
            EnqueueOnCommit(_enqueue, "session_stop_over_limit", transaction.pk, reason), robust=True
        )


def _enqueue(task_name: str, *args: object) -> None:
    from billing import tasks
    from core.tasks import enqueue

    enqueue(getattr(tasks, task_name), *args)


# --- Refunds ----------------------------------------------------------------------------------

@db_transaction.atomic
def session_refund(
    *, transaction_id: int, amount: Decimal | None = None, reason: str = "", created_by: User | None = None,
) -> LedgerEntry:
    """Give back (part of) what a session cost its driver: a ``refund`` entry on the session.

    ``amount`` None: everything not yet refunded. Locks the session row, so two refunds cannot
    together exceed what was debited. Raises NotFound (unknown session), InvalidInput (a running
    session, a guest's session, nothing left to refund, an amount not positive or too large).
    """
    tx = Transaction.objects.select_for_update(of=("self",)).filter(pk=transaction_id).first()
    if tx is None:
        raise NotFound(_("Unknown session."))
    if tx.stopped_at is None or tx.user_id is None:
        raise InvalidInput(_("Only a finished session of a driver with a balance can be refunded."))
    totals = dict(
        LedgerEntry.objects.filter(transaction=tx).values_list("kind").annotate(s=Sum("amount")).values_list("kind", "s")
    )
    debited = -(totals.get(LedgerKind.SESSION, Decimal("0")) + totals.get(LedgerKind.ADJUSTMENT, Decimal("0")))
    refundable = debited - totals.get(LedgerKind.REFUND, Decimal("0"))
    value = refundable if amount is None else Decimal(amount).quantize(Decimal("0.01"))
    if value <= 0 or value > refundable:
        message = _("At most %(amount)s can be refunded.") % {"amount": f"{max(refundable, Decimal('0')):.2f}"}
        raise InvalidInput(message, errors={"amount": [message]})
    return ledger_credit(
        user_id=tx.user_id, amount=value, kind=LedgerKind.REFUND, transaction_id=tx.pk,
        reason=reason or f"Refund of session #{tx.pk}", created_by=created_by,
    )


# --- Ledger -----------------------------------------------------------------------------------

@db_transaction.atomic
def ledger_credit(
    *, user_id: int, amount: Decimal, kind: str, reason: str = "", created_by: User | None = None,
    transaction_id: int | None = None, external_ref: str = "",
) -> LedgerEntry:
    """Add one ledger entry (negative amount: a debit) and move the cached balance with it.

    Locks the user row, so concurrent entries serialise and the balance stays the sum of entries.
    Raises NotFound for an unknown user, InvalidInput for an unknown kind; IntegrityError when the
    entry would debit a session twice or reuse an external reference (the caller's idempotency).
    """
    if kind not in LedgerKind.values:
        raise InvalidInput(_("Unknown ledger entry kind."), errors={"kind": [str(_("Unknown kind."))]})
    amount = Decimal(amount).quantize(Decimal("0.01"))
    if connection.vendor == "postgresql":
        # One statement: the UPDATE locks the user row (entries serialise) and hands the new
        # balance and the currency to the entry's INSERT. No user: no row, nothing written.
        entry = LedgerEntry(
            user_id=user_id, kind=kind, amount=amount, currency="", balance_after=Decimal("0"),
            transaction_id=transaction_id, reason=reason, external_ref=external_ref, created_by=created_by,
        )
        row = sql.insert_with(
            entry, f'WITH u AS (UPDATE "{User._meta.db_table}" SET balance = balance + %s WHERE id = %s '
            "RETURNING balance, currency)", [amount, user_id], {"currency": "u.currency", "balance_after": "u.balance"},
        )
        if row is None:
            raise NotFound(_("Unknown user."))
        entry.currency, entry.balance_after = row
        return entry
    try:
        user = User.objects.select_for_update().get(pk=user_id)
    except User.DoesNotExist:
        raise NotFound(_("Unknown user.")) from None
    User.objects.filter(pk=user.pk).update(balance=F("balance") + amount)
    user.refresh_from_db(fields=["balance"])
    return LedgerEntry.objects.create(
        user=user, kind=kind, amount=amount, currency=user.currency, balance_after=user.balance,
        transaction_id=transaction_id, reason=reason, external_ref=external_ref, created_by=created_by,
    )
