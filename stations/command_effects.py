"""What a CSMS-initiated call leaves behind: the ledger row's outcome and the call's effects.

Run in the process that holds the charger's socket, so a call made with ``wait=False`` still has
its effects. Every function is safe to run twice for the same answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from stations.models import (
    ChargingProfile, Command, CommandState, CompositeSchedule, ConfigurationKey, Connector, Station,
)

logger = logging.getLogger(__name__)

OPEN_STATES = (CommandState.PENDING, CommandState.SENT)
# The operator's station power limit uses this chargingProfileId (see services_power).
POWER_LIMIT_PROFILE_ID = 900001
POWER_LIMIT_PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile")


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def command_mark_sent(*, command_id: int, sent_at: float) -> None:
    """The frame left for the charger (a no-op once the command has ended)."""
    if connection.vendor == "postgresql":  # on every remote call's path: no ORM compile
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{Command._meta.db_table}" SET state = %s, sent_at = %s WHERE id = %s AND state = %s',
                [str(CommandState.SENT), _dt(sent_at), command_id, str(CommandState.PENDING)],
            )
        return
    Command.objects.filter(pk=command_id, state=CommandState.PENDING).update(
        state=CommandState.SENT, sent_at=_dt(sent_at),
    )


def command_complete(
    *, command_id: int, station_id: int, action: str, request: dict[str, Any], outcome: dict[str, Any],
) -> bool:
    """Write the outcome to an open command and apply the answer's effects, in one transaction.

    Returns False (and changes nothing) when the row had already ended, e.g. declared ``offline``
    by a caller that saw no acknowledgement, or ``timeout`` by the sweeping job.
    """
    response = outcome.get("response")
    has_effect = (action in EFFECTS and outcome["state"] == CommandState.ANSWERED and isinstance(response, dict))
    if connection.vendor == "postgresql":
        statement = command_complete_statement(
            command_id=command_id, station_id=station_id, action=action, request=request, outcome=outcome)
        if statement is not None:  # one round trip: no BEGIN and COMMIT on the answer's path
            with connection.cursor() as cursor:
                cursor.execute(*statement)
                return bool(cursor.fetchone()[0])
    if not has_effect:
        return _command_write(command_id=command_id, outcome=outcome)
    with transaction.atomic():
        if not _command_write(command_id=command_id, outcome=outcome):
            return False
        EFFECTS[action](station_id, request, response)
        return True


# A statement and its parameters; for an effect, a data-modifying CTE that reads ``done`` (the
# row written: nothing when the command had already ended).
Statement = tuple[str, list[Any]]


def command_complete_statement(
    *, command_id: int, station_id: int, action: str, request: dict[str, Any], outcome: dict[str, Any],
) -> Statement | None:
    """``command_complete`` as one PostgreSQL statement returning 1 when the row was written and 0
    when it had ended; None when the answer's effect needs the ORM (a transaction)."""
    response = outcome.get("response")
    effects: list[Statement] = []
    if action in EFFECTS and outcome["state"] == CommandState.ANSWERED and isinstance(response, dict):
        if action not in EFFECT_STATEMENTS:
            return None
        effects = EFFECT_STATEMENTS[action](station_id, request, response)
    sql = (f'WITH done AS (UPDATE "{Command._meta.db_table}" SET state = %s, response = %s::jsonb, '
           "error = %s::jsonb, answered_at = %s, sent_at = COALESCE(sent_at, %s) "
           "WHERE id = %s AND state = ANY(%s::text[]) RETURNING id)")
    params = [str(outcome["state"]), _json(response), _json(outcome.get("error")), _dt(outcome.get("answered_at")),
              _dt(outcome.get("sent_at")), command_id, [str(state) for state in OPEN_STATES]]
    for n, (effect_sql, effect_params) in enumerate(effects):
        sql += f", effect{n} AS ({effect_sql})"
        params += effect_params
    return sql + " SELECT count(*) FROM done", params


def _command_write(*, command_id: int, outcome: dict[str, Any]) -> bool:
    """Write the outcome to the row if it is still open (the ORM's way: SQLite)."""
    sent_at = _dt(outcome.get("sent_at"))
    fields: dict[str, Any] = {
        "state": outcome["state"], "response": outcome.get("response"), "error": outcome.get("error"),
        "answered_at": _dt(outcome.get("answered_at")),
    }
    if sent_at is not None:
        fields["sent_at"] = Coalesce("sent_at", Value(sent_at))
    return bool(Command.objects.filter(pk=command_id, state__in=OPEN_STATES).update(**fields))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


# --- Effects, one per action that leaves something to keep -----------------------------------


def _configuration_keys(response: dict[str, Any]) -> list[dict[str, Any]]:
    keys = [k for k in response.get("configurationKey") or [] if isinstance(k, dict) and k.get("key")]
    return list({str(item["key"])[:50]: item for item in keys}.values())  # a key twice: the last


def _get_configuration(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    now = timezone.now()
    keys = _configuration_keys(response)
    ConfigurationKey.objects.bulk_create(
        [ConfigurationKey(station_id=station_id, key=str(item["key"])[:50], value=item.get("value"),
                          readonly=bool(item.get("readonly")), updated_at=now) for item in keys],
        update_conflicts=True, unique_fields=["station", "key"], update_fields=["value", "readonly", "updated_at"],
    )
    if not request.get("key"):
        # The whole configuration was read: keys the charger no longer reports are gone.
        ConfigurationKey.objects.filter(station_id=station_id).exclude(
            key__in=[str(k["key"])[:50] for k in keys]
        ).delete()
    elif response.get("unknownKey"):
        ConfigurationKey.objects.filter(station_id=station_id, key__in=response["unknownKey"]).delete()


def _get_configuration_statements(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> list[Statement]:
    """``_get_configuration`` as statements for PostgreSQL (GetConfiguration is the most frequent
    command with an effect: its answer's path gets one round trip instead of five)."""
    table = ConfigurationKey._meta.db_table
    keys = _configuration_keys(response)
    names = [str(item["key"])[:50] for item in keys]
    statements: list[Statement] = [(
        f'INSERT INTO "{table}" (station_id, key, value, readonly, updated_at) '
        "SELECT %s, k, v, r, %s FROM unnest(%s::text[], %s::text[], %s::boolean[]) AS u(k, v, r) "
        "WHERE EXISTS (SELECT FROM done) "
        "ON CONFLICT (station_id, key) DO UPDATE SET value = EXCLUDED.value, readonly = EXCLUDED.readonly, "
        "updated_at = EXCLUDED.updated_at",
        [station_id, timezone.now(), names, [None if item.get("value") is None else str(item["value"]) for item in keys],
         [bool(item.get("readonly")) for item in keys]],
    )]
    # The whole configuration was read: keys the charger no longer reports are gone. (The insert
    # and the delete touch different rows: one statement's parts cannot see each other's changes.)
    if not request.get("key"):
        statements.append((f'DELETE FROM "{table}" WHERE station_id = %s AND EXISTS (SELECT FROM done) '
                           "AND NOT (key = ANY(%s::text[]))", [station_id, names]))
    elif response.get("unknownKey"):
        statements.append((f'DELETE FROM "{table}" WHERE station_id = %s AND EXISTS (SELECT FROM done) '
                           "AND key = ANY(%s::text[])", [station_id, [str(k) for k in response["unknownKey"]]]))
    return statements


def _change_configuration(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    if response.get("status") in ("Accepted", "RebootRequired"):
        ConfigurationKey.objects.update_or_create(
            station_id=station_id, key=request["key"],
            defaults={"value": request["value"], "updated_at": timezone.now()},
        )


def _change_availability(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    # Scheduled: the charger applies it once its running transaction ends; show the operator's intent.
    if response.get("status") not in ("Accepted", "Scheduled"):
        return
    connectors = Connector.objects.filter(station_id=station_id)
    if request["connectorId"] != 0:
        connectors = connectors.filter(connector_id=request["connectorId"])
    connectors.update(availability=request["type"])


def _get_local_list_version(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    if isinstance(response.get("listVersion"), int):
        Station.objects.filter(pk=station_id).update(local_list_version=response["listVersion"])


def _send_local_list(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    if response.get("status") == "Accepted":
        Station.objects.filter(pk=station_id).update(local_list_version=request["listVersion"])


def _set_charging_profile(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    profile = request["csChargingProfiles"]
    status = str(response.get("status", ""))
    connector_id = request["connectorId"]
    if status == "Accepted":
        # The charger replaces a profile with the same id (OCPP 1.6 §3.13.2).
        ChargingProfile.objects.filter(
            station_id=station_id, profile_id=profile["chargingProfileId"], cleared_at__isnull=True,
        ).update(cleared_at=timezone.now())
    ChargingProfile.objects.create(
        station_id=station_id, connector_id=connector_id, profile_id=profile["chargingProfileId"],
        purpose=profile["chargingProfilePurpose"], stack_level=profile["stackLevel"], profile=profile,
        status=status,
        is_power_limit=(profile["chargingProfileId"] == POWER_LIMIT_PROFILE_ID
                        and profile["chargingProfilePurpose"] in POWER_LIMIT_PURPOSES),
        cleared_at=None if status == "Accepted" else timezone.now(),
    )


def _clear_charging_profile(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    if response.get("status") != "Accepted":
        return
    profiles = ChargingProfile.objects.filter(station_id=station_id, cleared_at__isnull=True)
    if "id" in request:
        profiles = profiles.filter(profile_id=request["id"])
    if "connectorId" in request:
        profiles = profiles.filter(connector_id=request["connectorId"])
    if "chargingProfilePurpose" in request:
        profiles = profiles.filter(purpose=request["chargingProfilePurpose"])
    if "stackLevel" in request:
        profiles = profiles.filter(stack_level=request["stackLevel"])
    profiles.update(cleared_at=timezone.now())


def _get_composite_schedule(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    CompositeSchedule.objects.create(
        station_id=station_id, connector_id=response.get("connectorId", request["connectorId"]),
        status=str(response.get("status", "")),
        schedule={"scheduleStart": response.get("scheduleStart"), **(response.get("chargingSchedule") or {})}
        if response.get("chargingSchedule") else None,
    )


def _get_diagnostics(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    Station.objects.filter(pk=station_id).update(diagnostics_status="Requested")


def _update_firmware(station_id: int, request: dict[str, Any], response: dict[str, Any]) -> None:
    Station.objects.filter(pk=station_id).update(firmware_status="Requested")


EFFECTS: dict[str, Callable[[int, dict[str, Any], dict[str, Any]], None]] = {
    "GetConfiguration": _get_configuration,
    "ChangeConfiguration": _change_configuration,
    "ChangeAvailability": _change_availability,
    "GetLocalListVersion": _get_local_list_version,
    "SendLocalList": _send_local_list,
    "SetChargingProfile": _set_charging_profile,
    "ClearChargingProfile": _clear_charging_profile,
    "GetCompositeSchedule": _get_composite_schedule,
    "GetDiagnostics": _get_diagnostics,
    "UpdateFirmware": _update_firmware,
}
# On PostgreSQL, effects written as part of the ledger's statement (see ``_command_write``).
EFFECT_STATEMENTS: dict[str, Callable[[int, dict[str, Any], dict[str, Any]], list[Statement]]] = {
    "GetConfiguration": _get_configuration_statements,
}
