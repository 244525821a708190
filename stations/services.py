"""Station services: handshake decisions, presence, boot, heartbeat, status, message log.

Called by the OCPP consumer (through ``database_sync_to_async`` or the group committer), by tasks
and by the admin. Each owns its ``transaction.atomic``; ``now`` is always a parameter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q

from core import sql
from core.events import publish_station_on_commit
from stations.models import (
    CHARGE_POINT_ID_PATTERN,
    Connector,
    OcppMessage,
    RefusedConnection,
    RegistrationStatus,
    Station,
)

R = TypeVar("R")  # what a batch form returns for each call

logger = logging.getLogger(__name__)

_CHARGE_POINT_ID_RE = re.compile(CHARGE_POINT_ID_PATTERN)

UNKNOWN_ACCEPT = "accept"
UNKNOWN_PENDING = "pending"
UNKNOWN_REJECT = "reject"


def charge_point_id_is_valid(charge_point_id: str) -> bool:
    return bool(_CHARGE_POINT_ID_RE.match(charge_point_id)) and "\n" not in charge_point_id


# --- Events ---------------------------------------------------------------------------------


def station_event(station: Station, *, connectors: list[Connector] | None = None) -> dict[str, Any]:
    if connectors is None:
        connectors = list(Connector.objects.filter(station=station, connector_id__gt=0))
    return {
        "type": "station",
        "charge_point_id": station.charge_point_id,
        "status": station.compute_status(connectors),
        "connected": station.connected,
    }


# What ``station_event`` reads, as columns an UPDATE … RETURNING on the station row ``s`` can
# append: the connect and boot of a boot storm's chargers then cost no query for their event.
_EVENT_FIELDS = ("charge_point_id", "dismissed", "last_boot_at", "last_heartbeat", "heartbeat_interval", "connected",
                 "charger_status")


def _station_event_returning() -> str:
    connectors = Connector._meta.db_table
    numbered = f'FROM "{connectors}" c WHERE c.station_id = s.id AND c.connector_id > 0 ORDER BY c.connector_id'
    return ", ".join([f"s.{name}" for name in _EVENT_FIELDS]
                     + [f"array_to_string(ARRAY(SELECT c.connector_id {numbered}), ',')",
                        f"array_to_string(ARRAY(SELECT c.status {numbered}), ',')"])


def _station_event_from_row(station_id: int, values: Sequence[Any]) -> dict[str, Any]:
    """``station_event`` from the columns of ``_station_event_returning``.

    The station and its connectors are bare instances holding just those fields (what
    ``compute_status`` reads): ``Model.__init__`` sets every field's default first, which made
    building them 10 % of a boot storm's time."""
    station = sql.bare(Station, id=station_id, **dict(zip(_EVENT_FIELDS, values)))
    # Text, not arrays: psycopg's array loaders leave a garbage cycle per statement (sql.any_of).
    numbers, statuses = values[len(_EVENT_FIELDS)], values[len(_EVENT_FIELDS) + 1]
    connectors = [sql.bare(Connector, connector_id=int(n), status=st)
                  for n, st in zip(numbers.split(",") if numbers else (), statuses.split(",") if statuses else ())]
    return station_event(station, connectors=connectors)


def _publish_station(station: Station, event: dict[str, Any]) -> None:
    publish_station_on_commit(station.charge_point_id, event)


# --- Handshake and presence -----------------------------------------------------------------


@dataclass(frozen=True)
class ConnectResult:
    """What the consumer does with a handshake.

    ``refused``: a reason (close before accept) or "". ``replaced_channel``: the channel of an older
    consumer holding the same id (tell it to close). ``ready``: the station may receive calls at
    once (Accepted and booted before; chargers do not always boot again on reconnect).
    """

    refused: str = ""
    station_id: int | None = None
    replaced_channel: str = ""
    power_limit_w: int | None = None  # re-sent when the station is ready at once
    ready: bool = False
    created: bool = False


def refused_connection_record(
    *, charge_point_id: str, remote_address: str, reason: str, unknown: bool, now: datetime
) -> RefusedConnection:
    """Record (and log) a refused handshake; unknown ids also notify operators after commit."""
    from notifications import services as notifications

    logger.warning("refused OCPP connection %r from %s: %s", charge_point_id, remote_address or "?", reason)
    refused = RefusedConnection.objects.create(
        charge_point_id=charge_point_id[:200], remote_address=remote_address[:64], reason=reason[:200],
        created_at=now,
    )
    if unknown:
        transaction.on_commit(
            lambda: notifications.unknown_charger_refused(charge_point_id=charge_point_id, reason=reason)
        )
    return refused


@transaction.atomic
def station_connect(
    *,
    charge_point_id: str,
    password: str | None,
    remote_address: str,
    channel_name: str,
    server_id: str,
    now: datetime,
    unknown_policy: str | None = None,
) -> ConnectResult:
    """Decide a handshake and, when accepted, record presence. Locks the station row.

    Refusals (bad id, unknown id under ``reject``, missing or wrong Basic-auth password) are
    recorded as ``RefusedConnection`` rows. Unknown ids under ``accept``/``pending`` create the
    station (Accepted/Pending). A station already connected elsewhere is taken over: the result
    names the old channel so the caller can close it.
    """
    policy = (unknown_policy or settings.CSMS_UNKNOWN_CHARGE_POINTS).lower()

    def refuse(reason: str, unknown: bool = False) -> ConnectResult:
        refused_connection_record(
            charge_point_id=charge_point_id, remote_address=remote_address, reason=reason, unknown=unknown, now=now
        )
        return ConnectResult(refused=reason)

    if not charge_point_id_is_valid(charge_point_id):
        return refuse("invalid charge point id")

    fast = _station_connect_known(
        charge_point_id=charge_point_id, remote_address=remote_address, channel_name=channel_name,
        server_id=server_id, now=now,
    )
    if fast is not None:
        return fast

    # NO KEY UPDATE: does not block the message log's inserts (their FK takes KEY SHARE).
    station = Station.objects.select_for_update(no_key=True).filter(charge_point_id=charge_point_id).first()
    created = False
    if station is None:
        if policy not in (UNKNOWN_ACCEPT, UNKNOWN_PENDING):
            return refuse("unknown charge point", unknown=True)
        station, created = Station.objects.get_or_create(
            charge_point_id=charge_point_id,
            defaults={
                "registration_status": (
                    RegistrationStatus.ACCEPTED if policy == UNKNOWN_ACCEPT else RegistrationStatus.PENDING
                ),
                "heartbeat_interval": settings.CSMS_DEFAULT_HEARTBEAT_INTERVAL,
                "created_at": now,
            },
        )
        if not created:  # a concurrent handshake created it a moment ago
            station = Station.objects.select_for_update(no_key=True).get(pk=station.pk)

    if station.password_hash:
        if password is None:
            return refuse("missing Basic-auth password")
        if not station.check_password(password):
            return refuse("wrong Basic-auth password")

    replaced = station.channel_name if station.channel_name and station.channel_name != channel_name else ""
    station.connected = True
    station.channel_name = channel_name
    station.server_id = server_id
    station.connected_at = now
    station.remote_address = remote_address[:64]
    station.save(update_fields=["connected", "channel_name", "server_id", "connected_at", "remote_address"])
    ready = station.registration_status == RegistrationStatus.ACCEPTED and station.last_boot_at is not None
    _publish_station(station, station_event(station))
    return ConnectResult(
        station_id=station.pk, replaced_channel=replaced, ready=ready, created=created,
        power_limit_w=station.power_limit_w,
    )


def _station_connect_known(
    *, charge_point_id: str, remote_address: str, channel_name: str, server_id: str, now: datetime
) -> ConnectResult | None:
    """The common handshake, a known station without password, as one statement (PostgreSQL).
    None: not that case (unknown id, password set, another database): the ORM path decides."""
    if connection.vendor != "postgresql":
        return None
    return _station_connect_known_rows([{
        "charge_point_id": charge_point_id, "remote_address": remote_address, "channel_name": channel_name,
        "server_id": server_id, "now": now,
    }]).get(0)


def _station_connect_known_rows(calls: Sequence[Mapping[str, Any]]) -> dict[int, ConnectResult]:
    """``_station_connect_known`` for many handshakes in one statement: {index of the call: its
    result}, for the calls that were that case. Each station at most once (the caller's duty);
    rows locked in id order, as the other batch statements do."""
    table = Station._meta.db_table
    rows = [(i, call["charge_point_id"], call["channel_name"], call["server_id"], call["now"],
             call["remote_address"][:64]) for i, call in enumerate(calls)]
    with sql.server_cursor() as cursor:
        cursor.execute(
            f"WITH v(i, cp, ch, srv, at, addr) AS "
            f"({sql.json_rows_select(('int', 'text', 'text', 'text', 'timestamptz', 'text'), len(rows))}), "
            f'old AS (SELECT s.id, s.channel_name, v.i FROM "{table}" s JOIN v ON s.charge_point_id = v.cp '
            f"WHERE s.password_hash = '' ORDER BY s.id FOR NO KEY UPDATE OF s) "
            f'UPDATE "{table}" s SET connected = TRUE, channel_name = v.ch, server_id = v.srv, connected_at = v.at, '
            f"remote_address = v.addr FROM old JOIN v ON v.i = old.i WHERE s.id = old.id "
            f"RETURNING old.i, s.id, old.channel_name, s.registration_status, s.last_boot_at, s.power_limit_w, "
            f"{_station_event_returning()}",
            [sql.json_rows(rows)],
        )
        found = cursor.fetchall()
    results: dict[int, ConnectResult] = {}
    for row in sorted(found):  # events in the calls' order
        i, station_id, old_channel, registration, last_boot_at, power_limit_w = row[:6]
        event = _station_event_from_row(station_id, row[6:])
        publish_station_on_commit(event["charge_point_id"], event)
        channel_name = calls[i]["channel_name"]
        results[i] = ConnectResult(
            station_id=station_id, replaced_channel=old_channel if old_channel and old_channel != channel_name else "",
            ready=registration == RegistrationStatus.ACCEPTED and last_boot_at is not None, power_limit_w=power_limit_w,
        )
    return results


def _first_of_each(calls: Sequence[Mapping[str, Any]]) -> list[int]:
    """The indexes of the calls a batch statement takes: each charge point's first. A charger
    twice in one batch (a quick reconnect) has its later calls run on their own, after it, so they
    see what the first one did, as in one call each."""
    seen: set[str] = set()
    first = []
    for i, call in enumerate(calls):
        if call["charge_point_id"] not in seen:
            seen.add(call["charge_point_id"])
            first.append(i)
    return first


def _statement_then_each(
    calls: Sequence[Mapping[str, Any]], taken: Sequence[int],
    statement: Callable[[list[Mapping[str, Any]]], dict[int, R]], one: Callable[..., R],
) -> list[R]:
    """The results of ``calls``, in order: those ``taken`` from one batch ``statement`` (which
    returns ``{index among them: result}`` for the ones it could decide), every other call on its
    own through ``one``, after the statement and in the calls' order."""
    done = statement([calls[i] for i in taken])
    results = {taken[j]: result for j, result in done.items()}
    for i, call in enumerate(calls):
        if i not in results:
            results[i] = one(**call)
    return [results[i] for i in range(len(calls))]


def _station_connect_many(calls: Sequence[Mapping[str, Any]]) -> list[ConnectResult]:
    """``station_connect`` for many handshakes (PostgreSQL; the group committer's batch in a boot
    storm): the known stations without a password in one statement; every other call (an invalid
    or unknown id, a password to check, a charger's second handshake in the batch) on its own."""
    taken = [i for i in _first_of_each(calls) if charge_point_id_is_valid(calls[i]["charge_point_id"])]
    return _statement_then_each(calls, taken, _station_connect_known_rows, station_connect)


# The group committer runs a batch's handshakes through this (PostgreSQL only).
station_connect.many = _station_connect_many  # type: ignore[attr-defined]


@transaction.atomic
def station_disconnect(*, station_id: int, channel_name: str, now: datetime) -> bool:
    """Clear presence, but only if ``channel_name`` still holds the station (a newer connection
    may have replaced it). Returns whether anything changed."""
    if connection.vendor == "postgresql":
        return bool(_station_disconnect_many([{"station_id": station_id, "channel_name": channel_name, "now": now}])[0])
    changed = Station.objects.filter(pk=station_id, channel_name=channel_name).update(
        connected=False, channel_name="", server_id="", disconnected_at=now
    )
    if changed:
        station = Station.objects.get(pk=station_id)
        _publish_station(station, station_event(station))
    return bool(changed)


def _station_disconnect_many(calls: Sequence[Mapping[str, Any]]) -> list[bool]:
    """``station_disconnect`` for many connections (PostgreSQL; the group committer's batch when
    chargers drop together, a network outage or a server restart): one UPDATE, returning each
    station's event."""
    table = Station._meta.db_table
    rows = [(call["station_id"], call["channel_name"], call["now"]) for call in calls]
    with sql.server_cursor() as cursor:
        # Rows locked in id order, as the last-seen writes do: two batches never wait on each other in a circle.
        cursor.execute(
            f"WITH v(id, ch, at) AS ({sql.json_rows_select(('bigint', 'text', 'timestamptz'), len(rows))}), "
            f'locked AS (SELECT s.id FROM "{table}" s JOIN v ON s.id = v.id AND s.channel_name = v.ch '
            f"ORDER BY s.id FOR NO KEY UPDATE OF s) "
            f'UPDATE "{table}" s SET connected = FALSE, channel_name = \'\', server_id = \'\', disconnected_at = v.at '
            f"FROM v WHERE s.id = v.id AND s.channel_name = v.ch AND s.id IN (SELECT id FROM locked) "
            f"RETURNING s.id, v.ch, {_station_event_returning()}",
            [sql.json_rows(rows)],
        )
        found = cursor.fetchall()
    done = {(row[0], row[1]) for row in found}
    for row in found:
        event = _station_event_from_row(row[0], row[2:])
        publish_station_on_commit(event["charge_point_id"], event)
    return [(call["station_id"], call["channel_name"]) in done for call in calls]


# The group committer runs a batch's disconnections through this (PostgreSQL only).
station_disconnect.many = _station_disconnect_many  # type: ignore[attr-defined]


@transaction.atomic
def station_presence_cleanup(*, server_ids_alive: Collection[str], server_id_prefix: str = "", now: datetime) -> int:
    """Clear presence records held by server processes that no longer run.

    Rows whose ``server_id`` starts with ``server_id_prefix`` (e.g. this host's) and is not in
    ``server_ids_alive`` are marked disconnected. Called at a process's first connection; rows of
    other hosts are left to ``station_mark_offline_stale``.
    """
    stale = Station.objects.filter(server_id__startswith=server_id_prefix).exclude(server_id="")
    if server_ids_alive:
        stale = stale.exclude(server_id__in=list(server_ids_alive))
    ids = list(stale.values_list("pk", flat=True))
    if not ids:
        return 0
    count = Station.objects.filter(pk__in=ids).update(
        connected=False, channel_name="", server_id="", disconnected_at=now
    )
    logger.info("cleared %d stale presence records", count)
    return count


@transaction.atomic
def station_mark_offline_stale(*, now: datetime) -> int:
    """Mark stations offline whose last message is older than three heartbeat intervals.

    Closes nothing (a consumer still holding such a socket sets ``connected`` again with its next
    message, see ``station_last_seen_bulk``). Returns the number of stations marked.
    """
    # SQLite cannot multiply a column by a duration: the database narrows by the shortest
    # interval, Python checks each station's own.
    shortest = Station.objects.filter(connected=True).aggregate(m=Min("heartbeat_interval"))["m"] or 1
    stale = Station.objects.filter(connected=True).filter(
        Q(last_heartbeat__isnull=True, connected_at__lt=now - timedelta(seconds=180))
        | Q(last_heartbeat__lt=now - timedelta(seconds=3 * max(shortest, 1)))
    )
    stations = [
        s for s in stale.select_for_update(skip_locked=True)
        if s.last_heartbeat is None or now - s.last_heartbeat > timedelta(seconds=3 * max(s.heartbeat_interval, 1))
    ]
    for station in stations:
        station.connected = False
        station.disconnected_at = now
        station.save(update_fields=["connected", "disconnected_at"])
        _publish_station(station, station_event(station))
    return len(stations)


# --- Boot, heartbeat, status ----------------------------------------------------------------


@dataclass(frozen=True)
class BootResult:
    status: str
    interval: int
    power_limit_w: int | None = None  # the station's power limit, re-sent after a boot


_BOOT_FIELDS = {
    "charge_point_vendor": "vendor",
    "charge_point_model": "model",
    "charge_point_serial_number": "serial_number",
    "firmware_version": "firmware_version",
    "iccid": "iccid",
    "imsi": "imsi",
    "meter_type": "meter_type",
    "meter_serial_number": "meter_serial_number",
}


def _boot_detail(details: Mapping[str, Any], key: str, attr: str) -> str | None:
    """What a BootNotification says of one field, cut to its column; None when it says nothing."""
    value = details.get(key)
    return None if value is None else str(value)[: Station._meta.get_field(attr).max_length]


@transaction.atomic
def station_boot(*, charge_point_id: str, details: Mapping[str, Any], now: datetime) -> BootResult:
    """A BootNotification: store what the charger says about itself; answer by registration.

    Accepted stations get ``interval`` = their heartbeat interval; Pending ones (unknown chargers
    under the ``pending`` policy, until an operator accepts) the same interval so they retry;
    Rejected ones are told so. ``details`` has the snake_case BootNotification fields.
    """
    if connection.vendor == "postgresql":
        return _station_boot_sql(charge_point_id=charge_point_id, details=details, now=now)
    station = Station.objects.select_for_update(no_key=True).get(charge_point_id=charge_point_id)
    fields = ["last_heartbeat", "ocpp_version"]
    for key, attr in _BOOT_FIELDS.items():
        value = _boot_detail(details, key, attr)
        if value is not None and getattr(station, attr) != value:
            setattr(station, attr, value)
            fields.append(attr)
    station.ocpp_version = "1.6"
    station.last_heartbeat = now
    if station.registration_status == RegistrationStatus.ACCEPTED:
        station.last_boot_at = now
        fields.append("last_boot_at")
    station.save(update_fields=fields)
    _publish_station(station, station_event(station))
    return BootResult(
        status=str(station.registration_status), interval=station.heartbeat_interval, power_limit_w=station.power_limit_w,
    )


def _station_boot_sql(*, charge_point_id: str, details: Mapping[str, Any], now: datetime) -> BootResult:
    """``station_boot`` as one statement (a boot storm's hot path); same rules."""
    found = _station_boot_rows([{"charge_point_id": charge_point_id, "details": details, "now": now}])
    if 0 not in found:
        raise Station.DoesNotExist(charge_point_id)
    return found[0]


def _station_boot_rows(calls: Sequence[Mapping[str, Any]]) -> dict[int, BootResult]:
    """``station_boot`` for many BootNotifications in one statement: {index of the call: its
    result}, for the stations that exist. Each station at most once (the caller's duty); a field
    the charger did not send keeps its stored value; rows locked in id order."""
    table = Station._meta.db_table
    attrs = list(_BOOT_FIELDS.values())
    rows = []
    for i, call in enumerate(calls):
        details = call["details"]
        rows.append([i, call["charge_point_id"], call["now"]] + [
            _boot_detail(details, key, attr) for key, attr in _BOOT_FIELDS.items()
        ])
    names = ", ".join(f"f{n}" for n in range(len(attrs)))
    sets = ", ".join(f'"{attr}" = COALESCE(v.f{n}, s."{attr}")' for n, attr in enumerate(attrs))
    with sql.server_cursor() as cursor:
        cursor.execute(
            f"WITH v(i, cp, at, {names}) AS "
            f"({sql.json_rows_select(('int', 'text', 'timestamptz') + ('text',) * len(attrs), len(rows))}), "
            f'locked AS (SELECT s.id, v.i FROM "{table}" s JOIN v ON s.charge_point_id = v.cp '
            f"ORDER BY s.id FOR NO KEY UPDATE OF s) "
            f'UPDATE "{table}" s SET {sets}, '
            f"ocpp_version = '1.6', last_heartbeat = v.at, "
            f"last_boot_at = CASE WHEN s.registration_status = %s THEN v.at ELSE s.last_boot_at END "
            f"FROM locked JOIN v ON v.i = locked.i WHERE s.id = locked.id "
            f"RETURNING locked.i, s.id, s.registration_status, s.heartbeat_interval, s.power_limit_w, "
            f"{_station_event_returning()}",
            [sql.json_rows(rows), RegistrationStatus.ACCEPTED.value],
        )
        found = cursor.fetchall()
    results: dict[int, BootResult] = {}
    for row in sorted(found):  # events in the calls' order
        event = _station_event_from_row(row[1], row[5:])
        publish_station_on_commit(event["charge_point_id"], event)
        results[row[0]] = BootResult(status=row[2], interval=row[3], power_limit_w=row[4])
    return results


def _station_boot_many(calls: Sequence[Mapping[str, Any]]) -> list[BootResult]:
    """``station_boot`` for a batch of BootNotifications (PostgreSQL; a boot storm): one
    statement; a charger's second boot in the batch, or an unknown station, on its own."""
    return _statement_then_each(calls, _first_of_each(calls), _station_boot_rows, station_boot)


# The group committer runs a batch's BootNotifications through this (PostgreSQL only).
station_boot.many = _station_boot_many  # type: ignore[attr-defined]


@transaction.atomic
def station_heartbeat(*, charge_point_id: str, now: datetime) -> None:
    """Record that the charger is alive (one UPDATE, no lock)."""
    Station.objects.filter(charge_point_id=charge_point_id).update(last_heartbeat=now, connected=True)


def station_last_seen_bulk(*, seen: Mapping[int, tuple[datetime, str]]) -> set[int]:
    """Write many stations' last-seen times at once: ``{station_id: (time, channel_name)}``.

    Only rows still held by that channel are touched; they are connected again if the offline job
    had marked them offline in the meantime. One statement for the whole batch; rows locked by a
    running write are skipped, not waited for (waiting would deadlock with it): the caller keeps
    those for the next round. Returns the ids written or no longer held by that channel.
    """
    if not seen:
        return set()
    rows = [(pk, when, channel) for pk, (when, channel) in sorted(seen.items())]
    table = Station._meta.db_table
    if connection.vendor == "postgresql":
        statement = (
            f"WITH v(id, t, ch) AS ({sql.json_rows_select(('bigint', 'timestamptz', 'text'), len(rows))}), "
            f'locked AS (SELECT s.id FROM "{table}" s JOIN v ON s.id = v.id AND s.channel_name = v.ch '
            f"ORDER BY s.id FOR NO KEY UPDATE OF s SKIP LOCKED) "
            f'UPDATE "{table}" AS s SET last_heartbeat = GREATEST(COALESCE(s.last_heartbeat, v.t), v.t), '
            f"connected = TRUE FROM v WHERE s.id = v.id AND s.id IN (SELECT id FROM locked) RETURNING s.id"
        )
        with sql.server_cursor() as cursor:
            cursor.execute(statement, [sql.json_rows(rows)])
            written = {row[0] for row in cursor.fetchall()}
        held = set(
            Station.objects.filter(pk__in=[pk for pk, _, _ in rows if pk not in written])
            .filter(channel_name__in={channel for _, _, channel in rows})
            .values_list("pk", "channel_name")
        ) if len(written) < len(rows) else set()
        busy = {pk for pk, channel in held if seen[pk][1] == channel}
        return {pk for pk, _, _ in rows} - busy
    for pk, when, channel in rows:
        Station.objects.filter(pk=pk, channel_name=channel).update(last_heartbeat=when, connected=True)
    return {pk for pk, _, _ in rows}


def _connector_event(station: Station, connector_id: int, status: str, error_code: str) -> dict[str, Any]:
    return {
        "type": "connector",
        "charge_point_id": station.charge_point_id,
        "connector_id": connector_id,
        "status": status,
        "error_code": error_code,
    }


@transaction.atomic
def connector_status_update(
    *,
    charge_point_id: str,
    connector_id: int,
    status: str,
    error_code: str,
    timestamp: datetime | None,
    now: datetime,
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
) -> bool:
    """A StatusNotification. Connector 0 is the whole charger (``Station.charger_status``);
    connectors 1..n come into being here. A notification older than the stored status (an
    offline queue delivered late) is kept out. Returns whether the status changed."""
    at = timestamp or now
    details = _status_details(info, vendor_id, vendor_error_code)
    if connector_id != 0 and _status_statement_applies(at):
        written = _connector_statuses_write([(0, charge_point_id, connector_id, status, error_code, at, *details.values())])
        if written:
            return written[0]
    elif connector_id != 0 and _connector_status_repeat(
        charge_point_id=charge_point_id, connector_id=connector_id, status=status, error_code=error_code,
        at=at, **details,
    ):
        # A repeat of the current status (the common case) is one UPDATE: only the status time
        # and details move on.
        return False
    return _connector_status_apply(
        charge_point_id=charge_point_id, connector_id=connector_id, status=status, error_code=error_code, at=at,
        info=info, vendor_id=vendor_id, vendor_error_code=vendor_error_code,
    )


def _connector_status_update_many(calls: Sequence[Mapping[str, Any]]) -> list[bool]:
    """``connector_status_update`` for many chargers' StatusNotifications (the group committer's
    batch, PostgreSQL): those of connectors 1..n are one statement for all of them, whether they
    repeat the stored status, change it or name a new connector. A burst of statuses (a fleet
    reconnecting, each charger reporting its connectors; a site's power coming back) would
    otherwise cost several statements each: 5,000 chargers changing status at once answered 282
    calls/s, with a median of 15 s, when each change took the ORM's way."""
    keys = [(call["charge_point_id"], call["connector_id"]) for call in calls]
    if len(set(keys)) != len(keys):  # one connector twice in a batch: in order, one by one
        return [connector_status_update.__wrapped__(**call) for call in calls]  # type: ignore[attr-defined]
    rows = []
    for i, call in enumerate(calls):
        at = call["timestamp"] or call["now"]
        if call["connector_id"] != 0 and _status_statement_applies(at):
            details = _status_details(call.get("info", ""), call.get("vendor_id", ""), call.get("vendor_error_code", ""))
            rows.append((i, call["charge_point_id"], call["connector_id"], call["status"], call["error_code"], at,
                         *details.values()))
    written = _connector_statuses_write(rows) if rows else {}
    return [
        written[i] if i in written
        else connector_status_update.__wrapped__(**call)  # type: ignore[attr-defined]
        for i, call in enumerate(calls)
    ]


def _status_statement_applies(at: datetime) -> bool:
    # A naive time only the ORM converts (from the default time zone).
    return connection.vendor == "postgresql" and at.tzinfo is not None


def _status_details(info: str, vendor_id: str, vendor_error_code: str) -> dict[str, str]:
    """A StatusNotification's free-text details, cut to their columns' lengths."""
    return {"info": info[:50], "vendor_id": vendor_id[:255], "vendor_error_code": vendor_error_code[:50]}


def _connector_statuses_write(rows: Sequence[tuple[Any, ...]]) -> dict[int, bool]:
    """Store StatusNotifications of connectors 1..n, rows ``(index, charge point id, connector
    id, status, error code, at, info, vendor id, vendor error code)`` with no connector twice,
    in one statement (PostgreSQL, aware times); then the changed ones' events and after-commit
    work, as ``_connector_status_apply`` does for one.

    Returns ``{index: changed}`` for the rows stored or kept out (older than the stored
    status). A row missing from it (an unknown station, a connector another transaction is
    creating) is for ``_connector_status_apply`` to decide.
    """
    from notifications.services import StatusChange

    quote = connection.ops.quote_name
    connectors, stations = quote(Connector._meta.db_table), quote(Station._meta.db_table)
    source = sql.json_rows_select(
        ("integer", "text", "integer", "text", "text", "timestamptz", "text", "text", "text"), len(rows))
    defaults = [Connector._meta.get_field(name).get_default() for name in ("availability", "connector_type", "max_power_kw")]
    with sql.server_cursor() as cursor:
        # The stations first, then their connectors by (station, number): left to itself, the
        # planner (which guesses 100 rows for the document) joined the connectors on their status
        # first, a million row pairs for 256 statuses (2 s). ``old`` locks the rows and keeps
        # what they held, to tell a change from a repeat; ``ins``: connectors not seen before.
        cursor.execute(
            f"WITH v AS MATERIALIZED (SELECT v.*, s.id AS station_id "
            f"FROM ({source}) AS v(i, cp, connector, status, error_code, at, info, vendor_id, vendor_error_code) "
            f"JOIN {stations} AS s ON s.charge_point_id = v.cp), "
            f"old AS (SELECT c.id, c.status, c.error_code, c.status_at, v.i FROM {connectors} AS c "
            f"JOIN v ON c.station_id = v.station_id AND c.connector_id = v.connector ORDER BY c.id FOR NO KEY UPDATE OF c), "
            f"upd AS (UPDATE {connectors} AS c SET status = v.status, error_code = v.error_code, info = v.info, "
            f"vendor_id = v.vendor_id, vendor_error_code = v.vendor_error_code, status_at = v.at "
            f"FROM old JOIN v ON v.i = old.i WHERE c.id = old.id AND (old.status_at IS NULL OR old.status_at <= v.at) "
            f"RETURNING old.i, (old.status <> v.status OR old.error_code <> v.error_code) AS changed), "
            f"ins AS (INSERT INTO {connectors} (station_id, connector_id, status, error_code, info, vendor_id, "
            f"vendor_error_code, status_at, availability, connector_type, max_power_kw) "
            f"SELECT v.station_id, v.connector, v.status, v.error_code, v.info, v.vendor_id, v.vendor_error_code, v.at, "
            f"%s, %s, %s FROM v WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.i = v.i) "
            f"ON CONFLICT (station_id, connector_id) DO NOTHING RETURNING station_id, connector_id) "
            f"SELECT v.i, v.station_id, COALESCE(upd.changed, FALSE) FROM old JOIN v ON v.i = old.i "
            f"LEFT JOIN upd ON upd.i = old.i "
            f"UNION ALL SELECT v.i, v.station_id, TRUE FROM ins "
            f"JOIN v ON v.station_id = ins.station_id AND v.connector = ins.connector_id",
            [sql.json_rows(rows), *defaults],
        )
        written = {i: (station_id, changed) for i, station_id, changed in cursor.fetchall()}
    changed = [row for row in rows if written.get(row[0], (0, False))[1]]
    if changed:
        events = _station_events(sorted({written[row[0]][0] for row in changed}))
        for i, cp, number, status, error_code, *_rest in changed:
            station_id = written[i][0]
            for event in (
                {"type": "connector", "charge_point_id": cp, "connector_id": number, "status": status,
                 "error_code": error_code},
                events[station_id],
            ):
                publish_station_on_commit(cp, event)
            transaction.on_commit(StatusChange(station_id=station_id, connector_id=number, status=status))
    return {i: changed for i, (_station_id, changed) in written.items()}


def _station_events(station_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``station_event`` of these stations, by id, in one query (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT s.id, {_station_event_returning()} FROM "{Station._meta.db_table}" s '
            f"WHERE s.id = {sql.any_of('bigint')}",
            [sql.json_list(station_ids)],
        )
        return {row[0]: _station_event_from_row(row[0], row[1:]) for row in cursor.fetchall()}


# The group committer runs a batch's StatusNotifications through this (PostgreSQL only).
connector_status_update.many = _connector_status_update_many  # type: ignore[attr-defined]


def _connector_status_apply(
    *, charge_point_id: str, connector_id: int, status: str, error_code: str, at: datetime, info: str,
    vendor_id: str, vendor_error_code: str,
) -> bool:
    """A StatusNotification that is not a repeat of the stored status (see
    ``connector_status_update``), or one the statement could not store: the row is locked,
    created if new, and changed unless the stored status is newer."""
    from notifications.services import StatusChange

    changed: bool
    if connector_id == 0:
        station = Station.objects.select_for_update(no_key=True).get(charge_point_id=charge_point_id)
        changed = station.charger_status != status
        station.charger_status = status
        station.charger_error_code = error_code
        fields = ["charger_status", "charger_error_code"]
        if status == "Faulted" and station.faulted_since is None:
            station.faulted_since = at
            fields.append("faulted_since")
        elif status != "Faulted" and station.faulted_since is not None:
            station.faulted_since = None
            fields.append("faulted_since")
        station.save(update_fields=fields)
    else:
        connector = (
            Connector.objects.select_for_update(no_key=True, of=("self",)).select_related("station")
            .filter(station__charge_point_id=charge_point_id, connector_id=connector_id).order_by().first()
        )
        created = False
        if connector is None:
            station = Station.objects.get(charge_point_id=charge_point_id)
            connector, created = Connector.objects.get_or_create(
                station=station, connector_id=connector_id,
                defaults={"status": status, "error_code": error_code, "status_at": at,
                          **_status_details(info, vendor_id, vendor_error_code)},
            )
            if not created:  # created concurrently a moment ago
                connector = Connector.objects.select_for_update(no_key=True).select_related("station").get(pk=connector.pk)
        station = connector.station
        if created:
            changed = True
        elif connector.status_at is not None and at < connector.status_at:
            return False
        else:
            changed = connector.status != status or connector.error_code != error_code
            connector.status = status
            connector.error_code = error_code
            for name, value in _status_details(info, vendor_id, vendor_error_code).items():
                setattr(connector, name, value)
            connector.status_at = at
            connector.save(update_fields=["status", "error_code", "info", "vendor_id", "vendor_error_code", "status_at"])
    if changed:
        event = _connector_event(station, connector_id, status, error_code)
        _publish_station(station, event)
        _publish_station(station, station_event(station))
        transaction.on_commit(StatusChange(station_id=station.pk, connector_id=connector_id, status=status))
    return changed


def _connector_status_repeat(
    *, charge_point_id: str, connector_id: int, status: str, error_code: str, at: datetime, info: str,
    vendor_id: str, vendor_error_code: str,
) -> int:
    """Move on the time and details of a connector whose status is repeated (same status and error
    code, stored time not later than ``at``; a NULL stored time does not match). Rows updated.
    The ORM's way, for other databases and naive times (PostgreSQL: ``_connector_statuses_write``)."""
    return Connector.objects.filter(
        station__charge_point_id=charge_point_id, connector_id=connector_id, status=status,
        error_code=error_code, status_at__lte=at,
    ).update(status_at=at, info=info, vendor_id=vendor_id, vendor_error_code=vendor_error_code)


@transaction.atomic
def station_diagnostics_status(*, charge_point_id: str, status: str, now: datetime) -> None:
    """A DiagnosticsStatusNotification (also shown on the latest diagnostics file, if any)."""
    from stations.models import DiagnosticsFile

    Station.objects.filter(charge_point_id=charge_point_id).update(diagnostics_status=status)
    latest = DiagnosticsFile.objects.filter(station__charge_point_id=charge_point_id).order_by("-created_at").first()
    if latest is not None:
        latest.status = status
        latest.save(update_fields=["status"])


@transaction.atomic
def station_firmware_status(*, charge_point_id: str, status: str, now: datetime) -> None:
    """A FirmwareStatusNotification."""
    Station.objects.filter(charge_point_id=charge_point_id).update(firmware_status=status)


def station_data_transfer(*, charge_point_id: str, vendor_id: str, message_id: str, data: Any) -> str:
    """A DataTransfer from a charger. No vendor extension is known: ``UnknownVendorId``."""
    logger.info("DataTransfer from %s: vendor %r message %r", charge_point_id, vendor_id, message_id)
    return "UnknownVendorId"


# --- Registration by operators --------------------------------------------------------------


@transaction.atomic
def station_registration_set(*, station_id: int, status: str) -> Station:
    """Accept (or reject) a charger, e.g. one that connected while unknown under ``pending``.
    The charger is told at its next BootNotification."""
    station = Station.objects.select_for_update(no_key=True).get(pk=station_id)
    station.registration_status = RegistrationStatus(status)
    station.save(update_fields=["registration_status"])
    return station


# --- Message log ----------------------------------------------------------------------------


LogRow = tuple[str, "int | None", str, int, str, str, Any, datetime]
"""One message-log row: (charge_point_id, station_id, direction, message_type, action, unique_id,
payload, created_at). The consumer queues tuples: cheaper than model instances on the hot path."""

_LOG_COLUMNS = ("charge_point_id", "station_id", "direction", "message_type", "action", "unique_id", "payload",
                "created_at")
_LOG_TYPES = ("text", "bigint", "text", "smallint", "text", "text", "jsonb", "timestamptz")


def ocpp_messages_record(*, messages: Iterable[OcppMessage | LogRow]) -> int:
    """Insert log rows in one statement (the consumer batches them)."""
    rows = [
        m if isinstance(m, tuple) else (m.charge_point_id, m.station_id, m.direction, m.message_type, m.action,
                                        m.unique_id, m.payload, m.created_at)
        for m in messages
    ]
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        OcppMessage.objects.bulk_create([OcppMessage(**dict(zip(_LOG_COLUMNS, row))) for row in rows])
        return len(rows)
    sql.insert_rows(
        OcppMessage._meta.db_table, _LOG_COLUMNS, _LOG_TYPES,
        rows,
    )
    return len(rows)


def message_log_purge(*, now: datetime, retention_days: int | None = None, max_per_station: int | None = None) -> int:
    """Delete log rows older than the retention, and beyond the newest ``max_per_station`` per station."""
    days = settings.CSMS_MESSAGE_LOG_RETENTION_DAYS if retention_days is None else retention_days
    keep = settings.CSMS_MESSAGE_LOG_MAX_PER_STATION if max_per_station is None else max_per_station
    deleted, _ = OcppMessage.objects.filter(created_at__lt=now - timedelta(days=days)).delete()
    if keep and connection.vendor == "postgresql":
        table = OcppMessage._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER '
                f'(PARTITION BY charge_point_id ORDER BY created_at DESC, id DESC) AS n FROM "{table}") AS r '
                f"WHERE r.n > %s)",
                [keep],
            )
            deleted += cursor.rowcount
    elif keep:
        for cp_id in OcppMessage.objects.values_list("charge_point_id", flat=True).distinct():
            ids = list(
                OcppMessage.objects.filter(charge_point_id=cp_id).order_by("-created_at", "-id")
                .values_list("id", flat=True)[keep:]
            )
            if ids:
                deleted += OcppMessage.objects.filter(id__in=ids).delete()[0]
    return deleted
