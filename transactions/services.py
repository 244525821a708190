"""Charging sessions: start, meter values, stop. Resends from chargers are absorbed here.

Chargers queue messages while offline and resend what was not answered; every function here is
keyed on what the charger repeats (see each docstring), so a resend changes nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from accounts.authorization import IdTagInfo, id_tag_authorize
from accounts.models import User
from core import sql
from core.events import publish_station_on_commit
from stations.models import Connector, Station
from transactions.models import MeterValue, Transaction

logger = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"
SOC = "SoC"

# Unit normalisation: kilo-units to base units; ``unit`` stored is the base unit.
_UNIT_SCALE = {"kWh": ("Wh", 1000.0), "kW": ("W", 1000.0), "kvarh": ("varh", 1000.0),
               "kvar": ("var", 1000.0), "kVA": ("VA", 1000.0)}
_DEFAULT_UNITS = {
    "Energy.Active.Export.Register": "Wh", "Energy.Active.Import.Register": "Wh",
    "Energy.Reactive.Export.Register": "varh", "Energy.Reactive.Import.Register": "varh",
    "Energy.Active.Export.Interval": "Wh", "Energy.Active.Import.Interval": "Wh",
    "Energy.Reactive.Export.Interval": "varh", "Energy.Reactive.Import.Interval": "varh",
    "Power.Active.Export": "W", "Power.Active.Import": "W", "Power.Offered": "W",
    "Power.Reactive.Export": "var", "Power.Reactive.Import": "var",
    "Current.Export": "A", "Current.Import": "A", "Current.Offered": "A", "Voltage": "V",
    "Frequency": "", "Power.Factor": "", "RPM": "", "SoC": "Percent", "Temperature": "Celsius",
}


# --- Events ---------------------------------------------------------------------------------


def transaction_event(tx: Transaction, connector_number: int, charge_point_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "transaction",
        "id": tx.pk,
        "charge_point_id": charge_point_id or tx.station.charge_point_id,
        "connector_id": connector_number,
        "energy_wh": tx.energy_wh,
        "power_w": tx.power_w,
        "soc": tx.soc,
        "cost": str(tx.cost),
        "active": tx.stopped_at is None,
    }


def _iso_z(value: datetime) -> str:
    """UTC with a ``Z``, as every time the CSMS sends."""
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Sample parsing -------------------------------------------------------------------------


@dataclass
class Sample:
    timestamp: datetime
    measurand: str
    phase: str
    location: str
    context: str
    unit: str
    value: float
    raw_value: str
    raw_unit: str


def parse_ocpp_datetime(value: str | datetime) -> datetime:
    """An OCPP timestamp as an aware datetime (naive ones are taken as UTC)."""
    if isinstance(value, datetime):
        parsed: datetime | None = value
    else:
        parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a date-time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    return parsed


def samples_parse(meter_values: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """Flatten OCPP ``meterValue`` entries (snake_case keys) into normalised samples.

    Every 1.6 measurand, phase, location, context and unit is kept as sent; kWh/kW (and kvarh,
    kvar, kVA) become Wh/W (varh, var, VA). Non-numeric values (``SignedData``, ``NaN``, infinities)
    are skipped.
    """
    samples: list[Sample] = []
    for entry in meter_values:
        when = parse_ocpp_datetime(entry["timestamp"])
        for sv in entry.get("sampled_value") or ():
            raw_value = str(sv.get("value", ""))
            try:
                number = float(raw_value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):  # "NaN" and "inf" parse as floats, and would poison the totals
                logger.info("skipping non-numeric sampled value %r (format %s)", raw_value[:40], sv.get("format"))
                continue
            measurand = sv.get("measurand") or ENERGY_REGISTER
            raw_unit = sv.get("unit") or ""
            unit = raw_unit or _DEFAULT_UNITS.get(measurand, "")
            if unit in _UNIT_SCALE:
                unit, scale = _UNIT_SCALE[unit]
                number *= scale
            samples.append(Sample(
                timestamp=when, measurand=measurand, phase=sv.get("phase") or "",
                location=sv.get("location") or "Outlet", context=sv.get("context") or "Sample.Periodic",
                unit=unit, value=number, raw_value=raw_value[:64], raw_unit=raw_unit,
            ))
    return samples


@dataclass
class _Figures:
    energy_register: float | None = None
    energy_at: datetime | None = None
    power_w: float | None = None
    power_phases: dict[str, float] = field(default_factory=dict)
    power_at: datetime | None = None
    soc: float | None = None
    soc_at: datetime | None = None
    latest: datetime | None = None
    suspect: bool = False


def _apply_samples(tx: Transaction | None, samples: Sequence[Sample]) -> tuple[list[bool], _Figures]:
    """Decide which samples are suspect and the newest running figures.

    An energy register lower than the highest trusted reading before it (the meter start, then
    each newer sample) went backwards: stored, flagged ``suspect``, not used. Samples older than
    the transaction's last meter time (late offline queues) are stored but change no figure.
    """
    figures = _Figures()
    flags = [False] * len(samples)
    if tx is None:
        return flags, figures
    trusted = float(tx.meter_start + tx.energy_wh) if tx.last_meter_at else float(tx.meter_start)
    since = tx.last_meter_at
    order = sorted(range(len(samples)), key=lambda i: samples[i].timestamp)
    for i in order:
        s = samples[i]
        if s.timestamp < tx.started_at and s.context != "Transaction.Begin":
            continue
        fresh = since is None or s.timestamp > since
        if s.measurand == ENERGY_REGISTER and s.phase == "":
            if s.value < trusted if fresh else s.value < tx.meter_start:
                flags[i] = True
                figures.suspect = True
                continue
            if fresh:
                trusted = s.value
                figures.energy_register = s.value
                figures.energy_at = s.timestamp
        if not fresh:
            continue
        if s.measurand == POWER_IMPORT and s.location in ("Outlet", "Cable", "EV", "Inlet"):
            if figures.power_at is None or s.timestamp > figures.power_at:
                figures.power_at = s.timestamp
                figures.power_w = None
                figures.power_phases = {}
            if s.phase:
                figures.power_phases[s.phase] = s.value
            else:
                figures.power_w = s.value
        elif s.measurand == SOC:
            figures.soc = s.value
            figures.soc_at = s.timestamp
        if figures.latest is None or s.timestamp > figures.latest:
            figures.latest = s.timestamp
    if figures.power_w is None and figures.power_phases:
        # Per-phase only: the total is the sum of the line (or line-to-neutral) phases.
        lines = [v for k, v in figures.power_phases.items() if k in ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N")]
        figures.power_w = sum(lines) if lines else None
    return flags, figures


_SAMPLE_COLUMNS = ("transaction_id", "station_id", "connector_id", "timestamp", "measurand", "phase", "location",
                   "context", "unit", "value", "raw_value", "raw_unit", "suspect")
_SAMPLE_TYPES = ("bigint", "bigint", "integer", "timestamptz", "text", "text", "text", "text", "text", "float8",
                 "text", "text", "boolean")


def _sample_rows(
    *, tx_id: int | None, station_id: int, connector_number: int, samples: Sequence[Sample], flags: Sequence[bool]
) -> list[tuple[Any, ...]]:
    return [
        (tx_id, station_id, connector_number, s.timestamp, s.measurand[:48], s.phase[:8], s.location[:8],
         s.context[:24], s.unit[:12], s.value, s.raw_value, s.raw_unit[:12], flag)
        for s, flag in zip(samples, flags)
    ]


def _insert_sample_rows(rows: Sequence[tuple[Any, ...]]) -> None:
    """One INSERT … ON CONFLICT DO NOTHING for all samples (the hot path: compiled once, by hand)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        MeterValue.objects.bulk_create(
            [MeterValue(**dict(zip(_SAMPLE_COLUMNS, row))) for row in rows], ignore_conflicts=True
        )
        return
    sql.insert_rows(MeterValue._meta.db_table, _SAMPLE_COLUMNS, _SAMPLE_TYPES, rows, on_conflict_nothing=True)


def _store_samples(
    *, station_id: int, connector_number: int, tx: Transaction | None, samples: Sequence[Sample],
    dirty: list[str] | None = None, rows: list[tuple[Any, ...]] | None = None,
) -> _Figures:
    """Insert the samples (or add their rows to ``rows``, for the caller's one INSERT) and move
    the session's running figures on; the changed fields are saved now, or appended to
    ``dirty`` for the caller's one UPDATE."""
    flags, figures = _apply_samples(tx, samples)
    if samples:
        # A resent MeterValues (or transactionData repeating samples) hits the unique constraint.
        new_rows = _sample_rows(tx_id=tx.pk if tx is not None else None, station_id=station_id,
                                connector_number=connector_number, samples=samples, flags=flags)
        if rows is not None:
            rows.extend(new_rows)
        else:
            _insert_sample_rows(new_rows)
    if tx is not None:
        fields: list[str] = []
        if figures.energy_register is not None:
            tx.energy_wh = max(0, int(round(figures.energy_register - tx.meter_start)))
            fields.append("energy_wh")
        if figures.power_w is not None:
            tx.power_w = figures.power_w
            fields.append("power_w")
        if figures.soc is not None:
            tx.soc = figures.soc
            fields.append("soc")
        if figures.latest is not None:
            tx.last_meter_at = figures.latest
            fields.append("last_meter_at")
        if figures.suspect and not tx.meter_anomaly:
            tx.meter_anomaly = True
            fields.append("meter_anomaly")
            logger.warning("transaction %s: energy register went backwards", tx.pk)
        if dirty is not None:
            dirty.extend(fields)
        elif fields:
            _save_fields(tx, fields)
    return figures


def _save_fields(tx: Transaction, fields: list[str]) -> None:
    """``tx.save(update_fields=fields)`` as a hand-written UPDATE (every MeterValues runs it)."""
    if connection.vendor != "postgresql":
        tx.save(update_fields=fields)
        return
    sql.update_fields(tx, fields)


# --- Start ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionStarted:
    transaction: Transaction
    authorization: IdTagInfo
    created: bool


@transaction.atomic
def transaction_start(
    *,
    charge_point_id: str,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    started_at: datetime,
    now: datetime,
    reservation_id: int | None = None,
) -> TransactionStarted:
    """Open a session on a connector (a StartTransaction). Locks the connector row.

    A resent StartTransaction (same connector, id tag and start time) returns the session it
    opened. The charger always gets a transactionId; ``authorization`` says whether the tag may
    charge (not Accepted: the charger ends the session). Prices the session (billing) and
    consumes the reservation it names.
    """
    from billing.services import session_billing_open, session_start_pricing
    from notifications import services as notifications
    from reservations.models import Reservation
    from reservations.services import reservation_use

    connector, may_be_resend = _connector_locked(
        charge_point_id=charge_point_id, connector_id=connector_id, id_tag=id_tag, started_at=started_at
    )
    if connector is None:
        station = Station.objects.get(charge_point_id=charge_point_id)
        connector, created_connector = Connector.objects.get_or_create(station=station, connector_id=connector_id)
        if not created_connector:
            connector = Connector.objects.select_for_update(no_key=True).get(pk=connector.pk)
    else:
        station = connector.station
    existing = _started_transaction(
        station_id=station.pk, connector_pk=connector.pk, id_tag=id_tag, started_at=started_at
    ) if may_be_resend else None
    if existing is not None:
        info = id_tag_authorize(id_tag=id_tag, now=now, exclude_transaction_id=existing.pk)
        return TransactionStarted(transaction=existing, authorization=info, created=False)

    info = id_tag_authorize(id_tag=id_tag, now=now)
    tx = Transaction(
        station=station, connector=connector, id_tag=id_tag, user_id=info.user_id,
        meter_start=meter_start_wh, started_at=started_at, currency=station.currency, created_at=now,
    )
    if connection.vendor == "postgresql":
        session_start_pricing(transaction=tx, save=False)  # priced before the one INSERT
        sql.insert(tx)
        session_billing_open(transaction=tx)
    else:
        tx.save(force_insert=True)
        session_start_pricing(transaction=tx)
    if reservation_id is not None:
        if Reservation.objects.filter(pk=reservation_id, station=station).exists():
            reservation_use(reservation_id=reservation_id, transaction=tx)
            Transaction.objects.filter(pk=tx.pk).update(reservation_id=reservation_id)
            tx.reservation_id = reservation_id
        else:
            logger.warning("%s: StartTransaction names unknown reservation %s", charge_point_id, reservation_id)
    publish_station_on_commit(charge_point_id, transaction_event(tx, connector_id))
    transaction.on_commit(notifications.SessionNotice(tx, stopped=False))
    return TransactionStarted(transaction=tx, authorization=info, created=True)


def _transaction_start_many(calls: Sequence[Mapping[str, Any]]) -> list[TransactionStarted]:
    """``transaction_start`` for many StartTransactions of different chargers (the group
    committer's batch), same rules and results: one statement locks their connectors (and looks
    for resends), one authorizes their id tags, one reads their stations' tariffs, one inserts
    the sessions and one opens their billing states. PostgreSQL.

    Run one by one instead, in order, when a call names a reservation, when two calls share a
    connector or an id tag (the second would see the first's session), and when a connector is
    new or a resend may be among them: rare cases the single call handles.
    """
    from billing.services import session_billing_open_many, session_start_pricing, tariffs_with_periods_many
    from notifications import services as notifications

    connectors = [(call["charge_point_id"], call["connector_id"]) for call in calls]
    tags = [call["id_tag"] for call in calls]
    if (any(call.get("reservation_id") is not None for call in calls) or len(set(connectors)) != len(calls)
            or len(set(tags)) != len(calls)):
        return [_unwrapped_start(**call) for call in calls]
    found = _connectors_locked_many(calls)
    if any(connector is None or may_be_resend for connector, may_be_resend in found):
        return [_unwrapped_start(**call) for call in calls]
    infos = id_tag_authorize.many([{"id_tag": call["id_tag"], "now": call["now"]} for call in calls])  # type: ignore[attr-defined]
    tariffs = tariffs_with_periods_many(stations=[connector.station for connector, _resend in found])
    txs = []
    for call, (connector, _resend), info in zip(calls, found, infos):
        station = connector.station
        tx = Transaction(
            station=station, connector=connector, id_tag=call["id_tag"], user_id=info.user_id,
            meter_start=call["meter_start_wh"], started_at=call["started_at"], currency=station.currency,
            created_at=call["now"],
        )
        session_start_pricing(transaction=tx, save=False, tariff_periods=tariffs[station.tariff_id])
        txs.append(tx)
    _insert_transactions(txs)
    session_billing_open_many(transactions=txs)
    for call, tx in zip(calls, txs):
        publish_station_on_commit(call["charge_point_id"], transaction_event(tx, call["connector_id"]))
        transaction.on_commit(notifications.SessionNotice(tx, stopped=False))
    return [TransactionStarted(transaction=tx, authorization=info, created=True) for tx, info in zip(txs, infos)]


def _unwrapped_start(**kwargs: Any) -> TransactionStarted:
    return transaction_start.__wrapped__(**kwargs)  # type: ignore[attr-defined, no-any-return]


def _insert_transactions(txs: Sequence[Transaction]) -> None:
    """New sessions in one INSERT, each given its id (matched by connector: a batch opens at
    most one session per connector)."""
    ids = dict((connector, pk) for pk, connector in sql.insert_many(txs, returning='"id", "connector_id"'))
    for tx in txs:
        tx.pk = ids[tx.connector_id]
        tx._state.adding = False
        tx._state.db = connection.alias


def _connectors_locked_many(calls: Sequence[Mapping[str, Any]]) -> list[tuple[Connector | None, bool]]:
    """``_connector_locked`` for many calls in one statement (rows locked in id order)."""
    names, select = sql.columns(Connector, "c")
    station_names, station_select = sql.columns(Station, "s")
    values = sql.json_rows_select(("integer", "text", "integer", "text", "timestamptz"), len(calls))
    with sql.server_cursor() as cursor:
        # The stations first, by charge point id: joined to the connectors by number alone, the
        # planner made every connector numbered 1 meet every call (33 ms for 35 calls).
        cursor.execute(
            f"WITH v AS MATERIALIZED (SELECT v.*, s.id AS station_id FROM ({values}) v(i, cp, connector, tag, at) "
            f'JOIN "{Station._meta.db_table}" s ON s.charge_point_id = v.cp) '
            f'SELECT v.i, {select}, {station_select}, EXISTS (SELECT 1 FROM "{Transaction._meta.db_table}" t '
            "WHERE t.station_id = s.id AND t.connector_id = c.id AND t.id_tag = v.tag AND t.started_at = v.at) "
            f'FROM v JOIN "{Station._meta.db_table}" s ON s.id = v.station_id '
            f'JOIN "{Connector._meta.db_table}" c ON c.station_id = v.station_id AND c.connector_id = v.connector '
            "ORDER BY c.id FOR NO KEY UPDATE OF c",
            [sql.json_rows([
                (i, call["charge_point_id"], call["connector_id"], call["id_tag"], call["started_at"])
                for i, call in enumerate(calls)
            ])],
        )
        rows = cursor.fetchall()
    found: list[tuple[Connector | None, bool]] = [(None, True)] * len(calls)
    for row in rows:
        if found[row[0]][0] is not None:  # two connector rows for one number: the single call decides
            return [(None, True)] * len(calls)
        connector = sql.instance(Connector, names, row[1: 1 + len(names)])
        Connector.station.field.set_cached_value(connector, sql.instance(Station, station_names, row[1 + len(names):-1]))
        found[row[0]] = (connector, bool(row[-1]))
    return found


# The group committer runs a batch's StartTransactions through this (PostgreSQL only).
transaction_start.many = _transaction_start_many  # type: ignore[attr-defined]


def _connector_locked(
    *, charge_point_id: str, connector_id: int, id_tag: str, started_at: datetime
) -> tuple[Connector | None, bool]:
    """The connector row, locked (FOR NO KEY UPDATE), with its station; and whether a session
    with this id tag and start time may exist on it already (a resent StartTransaction): False
    only when the same query looked and found none.

    One hand-written statement on PostgreSQL (every StartTransaction runs it). Its look for the
    session sees what was committed when the statement began: a StartTransaction waiting for the
    connector's lock behind its own resend's batch finds nothing, and its INSERT then meets the
    unique start constraint, and the batch runs again, each item on its own: then it is found.
    """
    if connection.vendor != "postgresql":
        connector = (
            Connector.objects.select_for_update(no_key=True, of=("self",)).select_related("station")
            .filter(station__charge_point_id=charge_point_id, connector_id=connector_id).order_by("pk").first()
        )
        return connector, True
    names, select = sql.columns(Connector, "c")
    station_names, station_select = sql.columns(Station, "s")
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT {select}, {station_select}, EXISTS (SELECT 1 FROM "{Transaction._meta.db_table}" t '
            "WHERE t.station_id = s.id AND t.connector_id = c.id AND t.id_tag = %s AND t.started_at = %s) "
            f'FROM "{Connector._meta.db_table}" c JOIN "{Station._meta.db_table}" s ON s.id = c.station_id '
            "WHERE s.charge_point_id = %s AND c.connector_id = %s ORDER BY c.id LIMIT 1 FOR NO KEY UPDATE OF c",
            [id_tag, started_at, charge_point_id, connector_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None, True
    connector = sql.instance(Connector, names, row[: len(names)])
    Connector.station.field.set_cached_value(connector, sql.instance(Station, station_names, row[len(names):-1]))
    return connector, bool(row[-1])


def _started_transaction(*, station_id: int, connector_pk: int, id_tag: str, started_at: datetime) -> Transaction | None:
    """The session a StartTransaction opened already (a resend), if any."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT id FROM "{Transaction._meta.db_table}" '
                "WHERE station_id = %s AND connector_id = %s AND id_tag = %s AND started_at = %s",
                [station_id, connector_pk, id_tag, started_at],
            )
            if cursor.fetchone() is None:
                return None
    return Transaction.objects.filter(
        station_id=station_id, connector_id=connector_pk, id_tag=id_tag, started_at=started_at
    ).first()


# --- Meter values ---------------------------------------------------------------------------


def _station_and_active_transaction(*, charge_point_id: str, connector_id: int) -> tuple[int, int | None]:
    """The station id and the active session on a connector (samples sent without transactionId
    belong to it), in one hand-written query. Raises Station.DoesNotExist."""
    stations, connectors = Station._meta.db_table, Connector._meta.db_table
    table = Transaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT s.id, (SELECT t.id FROM "{table}" t JOIN "{connectors}" c ON c.id = t.connector_id '
            f"WHERE t.station_id = s.id AND c.connector_id = %s AND %s > 0 AND t.stopped_at IS NULL "
            f'ORDER BY t.started_at DESC LIMIT 1) FROM "{stations}" s WHERE s.charge_point_id = %s',
            [connector_id, connector_id, charge_point_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Station.DoesNotExist(charge_point_id)
    return row[0], row[1]


def _locked_sql(where: str) -> tuple[str, int]:
    """The session rows, locked (FOR NO KEY UPDATE), with their connector's status (what billing's
    idle tracking reads), the driver's balance (what the balance limit reads) and the station's
    name, in one hand-written statement; and how many Transaction columns lead each row."""
    names, select = sql.columns(Transaction, "t")
    return (
        f"SELECT {select}, c.connector_id, c.status, c.status_at, u.balance, s.charge_point_id, s.name "
        f'FROM "{Transaction._meta.db_table}" t JOIN "{Station._meta.db_table}" s ON s.id = t.station_id '
        f'JOIN "{Connector._meta.db_table}" c ON c.id = t.connector_id '
        f'LEFT JOIN "{User._meta.db_table}" u ON u.id = t.user_id '
        f"WHERE {where} ORDER BY t.id FOR NO KEY UPDATE OF t"
    ), len(names)


def _locked_row(row: Sequence[Any], count: int) -> Transaction:
    names, _select = sql.columns(Transaction, "t")
    tx = sql.instance(Transaction, names, row[:count])
    connector_number, status, status_at, balance, station_cp_id, station_name = row[count:]
    # The station as far as events and notifications name it (other fields load on access).
    station = sql.instance(Station, ("id", "charge_point_id", "name"), (tx.station_id, station_cp_id, station_name))
    Transaction.station.field.set_cached_value(tx, station)
    connector = sql.instance(
        Connector, ("id", "station_id", "connector_id", "status", "status_at"),
        (tx.connector_id, tx.station_id, connector_number, status, status_at),
    )
    Connector.station.field.set_cached_value(connector, station)
    Transaction.connector.field.set_cached_value(tx, connector)
    tx.user_balance = balance  # type: ignore[attr-defined]  # read by billing's balance limit
    return tx


def _transaction_locked(*, charge_point_id: str, transaction_id: int) -> Transaction | None:
    """The session row, locked, if it belongs to the station (see ``_locked_sql``). Written as
    SQL: this runs for every MeterValues, and compiling the ORM query costs more than running it."""
    if connection.vendor != "postgresql":
        return (
            Transaction.objects.select_for_update(no_key=True).select_related("connector")
            .filter(pk=transaction_id, station__charge_point_id=charge_point_id).first()
        )
    statement, count = _locked_sql("t.id = %s AND s.charge_point_id = %s")
    with connection.cursor() as cursor:
        cursor.execute(statement, [transaction_id, charge_point_id])
        row = cursor.fetchone()
    return _locked_row(row, count) if row is not None else None


def _transactions_locked(ids: Sequence[int]) -> dict[int, Transaction]:
    """``_transaction_locked`` for many sessions in one statement (locked in id order); the
    caller checks each one's station."""
    if not ids:
        return {}
    statement, count = _locked_sql(f"t.id = {sql.any_of('bigint')}")
    with connection.cursor() as cursor:
        cursor.execute(statement, [sql.json_list(sorted(set(ids)))])
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        tx = _locked_row(row, count)
        found[tx.pk] = tx
    return found


@transaction.atomic
def meter_values_record(
    *,
    charge_point_id: str,
    connector_id: int,
    meter_values: Sequence[Mapping[str, Any]],
    now: datetime,
    transaction_id: int | None = None,
) -> int:
    """Store a MeterValues message and update the session's running figures. Locks the session.

    Samples are inserted ignoring conflicts, so a resend stores nothing new. ``transaction_id``
    unknown or of another station: the samples are kept without a session. Without one, samples
    on a connector with an active session belong to it. Returns the number of samples parsed.
    ``meter_values_record.many`` does the same for many messages with a few statements in all.
    """
    samples = samples_parse(meter_values)
    tx: Transaction | None = None
    if transaction_id is not None:
        tx = _transaction_locked(charge_point_id=charge_point_id, transaction_id=transaction_id)
        if tx is None:
            logger.warning("%s: MeterValues for unknown transaction %s", charge_point_id, transaction_id)
    station_id: int | None = None
    if tx is None:
        station_id, active_id = _station_and_active_transaction(charge_point_id=charge_point_id, connector_id=connector_id)
        if transaction_id is None and active_id is not None:
            tx = _transaction_locked(charge_point_id=charge_point_id, transaction_id=active_id)
    station_id = tx.station_id if tx is not None else station_id
    assert station_id is not None
    rows: list[tuple[Any, ...]] = []
    figures, dirty = _meter_samples(station_id=station_id, connector_id=connector_id, tx=tx, samples=samples, rows=rows)
    _insert_sample_rows(rows)
    _meter_cost(charge_point_id=charge_point_id, connector_id=connector_id, tx=tx, figures=figures, now=now, dirty=dirty)
    if tx is not None and dirty:
        _save_fields(tx, dirty)  # the figures and the running cost: one UPDATE
    return len(samples)


def _meter_samples(
    *, station_id: int, connector_id: int, tx: Transaction | None, samples: Sequence[Sample],
    rows: list[tuple[Any, ...]],
) -> tuple[_Figures, list[str]]:
    """One MeterValues once its session is loaded, first half: its sample rows (added to
    ``rows``) and the session's running figures (the changed fields are returned)."""
    dirty: list[str] = []
    figures = _store_samples(station_id=station_id, connector_number=connector_id, tx=tx, samples=samples,
                             dirty=dirty, rows=rows)
    return figures, dirty


def _meter_cost(
    *, charge_point_id: str, connector_id: int, tx: Transaction | None, figures: _Figures, now: datetime,
    dirty: list[str],
) -> None:
    """Second half, once the samples are inserted (time-of-use pricing reads them): the running
    cost (its fields join ``dirty``) and the live events."""
    from billing.services import session_cost_update

    if tx is None or figures.latest is None:
        return
    if tx.stopped_at is None:
        dirty.extend(session_cost_update(transaction=tx, now=now, save=False))
    publish_station_on_commit(charge_point_id, transaction_event(tx, connector_id, charge_point_id))
    publish_station_on_commit(charge_point_id, {
        "type": "meter", "transaction_id": tx.pk, "timestamp": _iso_z(figures.latest),
        "energy_wh": tx.energy_wh, "power_w": tx.power_w, "soc": tx.soc,
    })


def _meter_values_record_many(calls: Sequence[Mapping[str, Any]]) -> list[int]:
    """``meter_values_record`` for many messages of different chargers (the group committer's
    batch) in one database transaction: one statement locks their sessions, one finds the
    stations (and active sessions) of those sent without a known session, one inserts every
    sample and one updates every session. Same rules and results as one call each. PostgreSQL.
    """
    parsed = [samples_parse(call["meter_values"]) for call in calls]
    wanted = [call["transaction_id"] for call in calls if call.get("transaction_id") is not None]
    if len(wanted) != len(set(wanted)):  # one session twice in a batch: keep the order, one by one
        return [_unwrapped_meter(**call) for call in calls]
    locked = _transactions_locked(wanted)
    txs: list[Transaction | None] = []
    for call in calls:
        tx = locked.get(call["transaction_id"]) if call.get("transaction_id") is not None else None
        if tx is not None and tx.station.charge_point_id != call["charge_point_id"]:
            tx = None  # a session of another station: like an unknown one
        if tx is None and call.get("transaction_id") is not None:
            logger.warning("%s: MeterValues for unknown transaction %s", call["charge_point_id"], call["transaction_id"])
        txs.append(tx)
    unresolved = [i for i, tx in enumerate(txs) if tx is None]
    station_ids: dict[int, int] = {}
    if unresolved:
        found = _stations_and_active_transactions([(calls[i]["charge_point_id"], calls[i]["connector_id"]) for i in unresolved])
        active: dict[int, int] = {}
        for i, (station_id, active_id) in zip(unresolved, found):
            station_ids[i] = station_id
            if calls[i].get("transaction_id") is None and active_id is not None:
                active[i] = active_id
        if len(set(active.values())) != len(active) or set(active.values()) & set(locked):
            return [_unwrapped_meter(**call) for call in calls]  # rare overlaps: one by one
        more = _transactions_locked(list(active.values()))
        for i, active_id in active.items():
            tx = more.get(active_id)
            if tx is not None and tx.station.charge_point_id == calls[i]["charge_point_id"]:
                txs[i] = tx
    rows: list[tuple[Any, ...]] = []
    applied = [
        _meter_samples(station_id=tx.station_id if tx is not None else station_ids[i], connector_id=call["connector_id"],
                       tx=tx, samples=samples, rows=rows)
        for i, (call, tx, samples) in enumerate(zip(calls, txs, parsed))
    ]
    _insert_sample_rows(rows)
    changed: list[tuple[Transaction, list[str]]] = []
    for call, tx, (figures, dirty) in zip(calls, txs, applied):
        _meter_cost(charge_point_id=call["charge_point_id"], connector_id=call["connector_id"], tx=tx, figures=figures,
                    now=call["now"], dirty=dirty)
        if tx is not None and dirty:
            changed.append((tx, dirty))
    sql.update_many(Transaction, changed)
    return [len(samples) for samples in parsed]


def _unwrapped_meter(**kwargs: Any) -> int:
    return meter_values_record.__wrapped__(**kwargs)  # type: ignore[attr-defined, no-any-return]


def _stations_and_active_transactions(wanted: Sequence[tuple[str, int]]) -> list[tuple[int, int | None]]:
    """``_station_and_active_transaction`` for many (charge point id, connector) pairs, in one
    statement. Raises Station.DoesNotExist when one is unknown."""
    stations, connectors = Station._meta.db_table, Connector._meta.db_table
    table = Transaction._meta.db_table
    with sql.server_cursor() as cursor:
        cursor.execute(
            f"SELECT v.i, s.id, (SELECT t.id FROM \"{table}\" t JOIN \"{connectors}\" c ON c.id = t.connector_id "
            f"WHERE t.station_id = s.id AND c.connector_id = v.connector AND v.connector > 0 AND t.stopped_at IS NULL "
            f"ORDER BY t.started_at DESC LIMIT 1) FROM ({sql.json_rows_select(('integer', 'text', 'integer'), len(wanted))}) "
            f'v(i, cp, connector) JOIN "{stations}" s ON s.charge_point_id = v.cp',
            [sql.json_rows([(i, cp, connector) for i, (cp, connector) in enumerate(wanted)])],
        )
        rows = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    missing = [cp for i, (cp, _c) in enumerate(wanted) if i not in rows]
    if missing:
        raise Station.DoesNotExist(missing[0])
    return [rows[i] for i in range(len(wanted))]


# The group committer runs a batch's MeterValues through this (PostgreSQL only).
meter_values_record.many = _meter_values_record_many  # type: ignore[attr-defined]


# --- Stop -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionStopped:
    transaction: Transaction | None
    authorization: IdTagInfo | None
    already_stopped: bool = False


@transaction.atomic
def transaction_stop(
    *,
    charge_point_id: str,
    transaction_id: int,
    meter_stop_wh: int,
    stopped_at: datetime,
    now: datetime,
    id_tag: str | None = None,
    reason: str | None = None,
    transaction_data: Sequence[Mapping[str, Any]] = (),
) -> TransactionStopped:
    """Close a session (a StopTransaction). Locks the session row.

    A resend (session already stopped) changes nothing. An unknown transaction is logged and
    answered, never an error: the charger would resend it forever. ``transaction_data`` samples
    are stored like MeterValues. Settles the cost (billing) in the same database transaction.
    """
    from billing.services import session_settle
    from notifications import services as notifications

    info = id_tag_authorize(id_tag=id_tag, now=now, check_concurrent=False) if id_tag else None
    tx = _transaction_locked(charge_point_id=charge_point_id, transaction_id=transaction_id)
    if tx is None:
        logger.warning("%s: StopTransaction for unknown transaction %s (answered)", charge_point_id, transaction_id)
        return TransactionStopped(transaction=None, authorization=info)
    if tx.stopped_at is not None:
        return TransactionStopped(transaction=tx, authorization=info, already_stopped=True)

    fields: list[str] = []
    _stop_samples(tx, transaction_data, fields)
    _stop_figures(tx, meter_stop_wh=meter_stop_wh, stopped_at=stopped_at, id_tag=id_tag, reason=reason, fields=fields)
    session_settle(transaction_id=tx.pk, locked=tx, save_fields=fields, first=True)  # one UPDATE with the cost
    publish_station_on_commit(charge_point_id, transaction_event(tx, tx.connector.connector_id, charge_point_id))
    transaction.on_commit(notifications.SessionNotice(tx, stopped=True))
    return TransactionStopped(transaction=tx, authorization=info)


def _stop_samples(
    tx: Transaction, transaction_data: Sequence[Mapping[str, Any]], fields: list[str],
    rows: list[tuple[Any, ...]] | None = None,
) -> None:
    """A StopTransaction's ``transactionData``, stored like MeterValues (or added to ``rows``,
    for the caller's one INSERT); the session fields they change join ``fields``."""
    samples = samples_parse(transaction_data)
    if samples:
        _store_samples(station_id=tx.station_id, connector_number=tx.connector.connector_id, tx=tx, samples=samples,
                       dirty=fields, rows=rows)


def _stop_figures(
    tx: Transaction, *, meter_stop_wh: int, stopped_at: datetime, id_tag: str | None, reason: str | None,
    fields: list[str],
) -> None:
    """The stop's own figures on the session; the fields join ``fields`` (saved with the cost)."""
    tx.meter_stop = meter_stop_wh
    tx.stopped_at = stopped_at
    tx.stop_reason = (reason or "Local")[:32]
    tx.stop_id_tag = (id_tag or "")[:20]
    trusted_register = tx.meter_start + tx.energy_wh
    if meter_stop_wh >= trusted_register:
        tx.energy_wh = meter_stop_wh - tx.meter_start
    else:
        # The final register is below what the meter already showed: keep the trusted figure.
        tx.meter_anomaly = True
        logger.warning("transaction %s: meterStop %s below the last reading", tx.pk, meter_stop_wh)
    tx.power_w = None
    fields += ["meter_stop", "stopped_at", "stop_reason", "stop_id_tag", "energy_wh", "meter_anomaly", "power_w"]


def _transaction_stop_many(calls: Sequence[Mapping[str, Any]]) -> list[TransactionStopped]:
    """``transaction_stop`` for many StopTransactions of different chargers (the group
    committer's batch), same rules and results: one statement authorizes the stopping id tags,
    one locks the sessions, one inserts every ``transactionData`` sample, then one UPDATE, one
    debit statement and one for the billing states settle them all. PostgreSQL.

    Run one by one instead, in order, when two calls name one session: a resend meeting its
    original in the batch.
    """
    from billing.services import session_settle_many
    from notifications import services as notifications

    ids = [call["transaction_id"] for call in calls]
    if len(set(ids)) != len(ids):
        return [_unwrapped_stop(**call) for call in calls]
    asked = [i for i, call in enumerate(calls) if call.get("id_tag")]
    infos: list[IdTagInfo | None] = [None] * len(calls)
    for i, info in zip(asked, id_tag_authorize.many([  # type: ignore[attr-defined]
        {"id_tag": calls[i]["id_tag"], "now": calls[i]["now"], "check_concurrent": False} for i in asked
    ]) if asked else ()):
        infos[i] = info
    locked = _transactions_locked(ids)
    results: list[TransactionStopped] = []
    stopping: list[tuple[Mapping[str, Any], Transaction, list[str]]] = []
    rows: list[tuple[Any, ...]] = []
    for call, info in zip(calls, infos):
        tx = locked.get(call["transaction_id"])
        if tx is not None and tx.station.charge_point_id != call["charge_point_id"]:
            tx = None  # a session of another station: like an unknown one
        if tx is None:
            logger.warning("%s: StopTransaction for unknown transaction %s (answered)", call["charge_point_id"],
                           call["transaction_id"])
            results.append(TransactionStopped(transaction=None, authorization=info))
            continue
        if tx.stopped_at is not None:
            results.append(TransactionStopped(transaction=tx, authorization=info, already_stopped=True))
            continue
        fields: list[str] = []
        _stop_samples(tx, call.get("transaction_data") or (), fields, rows)
        results.append(TransactionStopped(transaction=tx, authorization=info))
        stopping.append((call, tx, fields))
    _insert_sample_rows(rows)  # before the settlement: time-of-use pricing reads them
    for call, tx, fields in stopping:
        _stop_figures(tx, meter_stop_wh=call["meter_stop_wh"], stopped_at=call["stopped_at"], id_tag=call.get("id_tag"),
                      reason=call.get("reason"), fields=fields)
    session_settle_many(settled=[(tx, fields) for _call, tx, fields in stopping])
    for call, tx, _fields in stopping:
        publish_station_on_commit(call["charge_point_id"], transaction_event(tx, tx.connector.connector_id,
                                                                            call["charge_point_id"]))
        transaction.on_commit(notifications.SessionNotice(tx, stopped=True))
    return results


def _unwrapped_stop(**kwargs: Any) -> TransactionStopped:
    return transaction_stop.__wrapped__(**kwargs)  # type: ignore[attr-defined, no-any-return]


# The group committer runs a batch's StopTransactions through this (PostgreSQL only).
transaction_stop.many = _transaction_stop_many  # type: ignore[attr-defined]
