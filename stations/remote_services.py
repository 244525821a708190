"""Services built on remote calls: the station power limit, the local authorisation list, and
diagnostics and firmware requests that point the charger at the CSMS's own file endpoints.

Each sends through ``stations.protocol.remote`` (so every call is in the command ledger) and
returns the ``Command``.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import IdTag, IdTagStatus
from core.exceptions import InvalidInput, NotFound
from stations.command_effects import POWER_LIMIT_PROFILE_ID
from stations.models import ChargingProfile, Command, FirmwareFile, Station
from stations.protocol.remote import acall, call

if TYPE_CHECKING:
    from accounts.models import User

# Low enough that a driver's TxProfile (stack level ≥ 1 by convention) still applies beneath it.
POWER_LIMIT_STACK_LEVEL = 0


# --- Power limit ("energy control") ----------------------------------------------------------


def power_limit_profile(*, power_limit_w: int, purpose: str) -> dict[str, Any]:
    return {
        "chargingProfileId": POWER_LIMIT_PROFILE_ID,
        "stackLevel": POWER_LIMIT_STACK_LEVEL,
        "chargingProfilePurpose": purpose,
        # Absolute from now, without duration: in force until replaced or cleared.
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(power_limit_w)}],
        },
    }


def _station(charge_point_id: str) -> Station:
    station = Station.objects.filter(charge_point_id=charge_point_id).first()
    if station is None:
        raise NotFound(_("Unknown station %(id)s.") % {"id": charge_point_id})
    return station


def power_limit_send(*, charge_point_id: str, requested_by: User | None = None, source: str = "power-limit") -> Command | None:
    """Send the station's ``power_limit_w`` as a ChargePointMaxProfile on connector 0; when the
    charger rejects it, as a TxDefaultProfile. No limit: clear the profile. Returns the last command
    (``None`` when there is no limit and none was ever sent)."""
    station = _station(charge_point_id)
    if station.power_limit_w is None:
        if not ChargingProfile.objects.filter(station=station, is_power_limit=True, cleared_at__isnull=True).exists():
            return None
        return call(charge_point_id, "ClearChargingProfile", {"id": POWER_LIMIT_PROFILE_ID},
                    requested_by=requested_by, source=source)
    command = call(charge_point_id, "SetChargingProfile", {
        "connectorId": 0,
        "csChargingProfiles": power_limit_profile(power_limit_w=station.power_limit_w, purpose="ChargePointMaxProfile"),
    }, requested_by=requested_by, source=source)
    if (command.response or {}).get("status") != "Accepted":
        command = call(charge_point_id, "SetChargingProfile", {
            "connectorId": 0,
            "csChargingProfiles": power_limit_profile(power_limit_w=station.power_limit_w, purpose="TxDefaultProfile"),
        }, requested_by=requested_by, source=source)
    return command


def power_limit_set(*, charge_point_id: str, power_limit_w: int | None, requested_by: User | None = None) -> Command | None:
    """Keep the operator's limit on the station (it is sent again after each reboot) and send it
    now when the charger is connected."""
    if power_limit_w is not None and power_limit_w <= 0:
        raise InvalidInput(_("The power limit must be positive."), errors={"power_limit_w": "must be > 0"})
    updated = Station.objects.filter(charge_point_id=charge_point_id).update(power_limit_w=power_limit_w)
    if not updated:
        raise NotFound(_("Unknown station %(id)s.") % {"id": charge_point_id})
    station = _station(charge_point_id)
    if not station.connected:
        return None
    return power_limit_send(charge_point_id=charge_point_id, requested_by=requested_by)


def power_limit_needs_resend(*, charge_point_id: str) -> bool:
    """The station has a limit and the charger booted since it was last accepted (chargers forget
    ChargePointMaxProfiles on reboot, or may)."""
    station = Station.objects.filter(charge_point_id=charge_point_id).first()
    if station is None or station.power_limit_w is None:
        return False
    accepted = ChargingProfile.objects.filter(
        station=station, is_power_limit=True, status="Accepted", cleared_at__isnull=True,
    )
    if station.last_boot_at is not None:
        accepted = accepted.filter(created_at__gte=station.last_boot_at)
    return not accepted.exists()


async def power_limit_reapply_after_boot(*, charge_point_id: str) -> Command | None:
    """Run by the consumer when the charger becomes ready (``commands_on_ready``)."""
    from channels.db import database_sync_to_async

    if not await database_sync_to_async(power_limit_needs_resend)(charge_point_id=charge_point_id):
        return None
    station = await database_sync_to_async(_station)(charge_point_id)
    assert station.power_limit_w is not None
    command = await acall(charge_point_id, "SetChargingProfile", {
        "connectorId": 0,
        "csChargingProfiles": power_limit_profile(power_limit_w=station.power_limit_w, purpose="ChargePointMaxProfile"),
    }, source="power-limit")
    if (command.response or {}).get("status") != "Accepted":
        command = await acall(charge_point_id, "SetChargingProfile", {
            "connectorId": 0,
            "csChargingProfiles": power_limit_profile(power_limit_w=station.power_limit_w, purpose="TxDefaultProfile"),
        }, source="power-limit")
    return command


# --- Local authorisation list ----------------------------------------------------------------


def _authorization_data(tag: IdTag, now: Any) -> dict[str, Any]:
    status = IdTagStatus.EXPIRED if tag.is_expired(now) else tag.status
    info: dict[str, Any] = {"status": str(status)}
    if tag.expiry_date is not None:
        info["expiryDate"] = tag.expiry_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if tag.parent_id is not None:
        info["parentIdTag"] = tag.parent.id_tag  # type: ignore[union-attr]
    return {"idTag": tag.id_tag, "idTagInfo": info}


def local_list_push(
    *, charge_point_id: str, full: bool = True, id_tags: list[str] | None = None,
    requested_by: User | None = None, source: str = "local-list",
) -> Command:
    """SendLocalList with the station's id tags and the next list version.

    ``full``: every id tag of an active user (or without user), with its status (Accepted, Blocked,
    Expired), so the charger authorises offline as the CSMS would. Differential (``full=False``):
    only ``id_tags`` (e.g. the one just blocked); a tag that no longer exists is removed from the
    charger's list (sent without ``idTagInfo``). The version is kept from the charger's answer.
    """
    station = _station(charge_point_id)
    now = timezone.now()
    tags = IdTag.objects.select_related("parent").filter(Q(user__isnull=True) | Q(user__is_active=True))
    if full:
        entries = [_authorization_data(tag, now) for tag in tags.order_by("id_tag")]
    else:
        if not id_tags:
            raise InvalidInput(_("A differential update needs id tags."), errors={"id_tags": "required"})
        known = {tag.id_tag: tag for tag in IdTag.objects.select_related("parent").filter(id_tag__in=id_tags)}
        entries = [_authorization_data(known[t], now) if t in known else {"idTag": t} for t in id_tags]
    return call(charge_point_id, "SendLocalList", {
        "listVersion": station.local_list_version + 1,
        "updateType": "Full" if full else "Differential",
        "localAuthorizationList": entries,
    }, requested_by=requested_by, source=source)


# --- Diagnostics and firmware through the CSMS's own file endpoints --------------------------


def diagnostics_request(
    *, charge_point_id: str, requested_by: User | None = None, extra: dict[str, Any] | None = None,
    source: str = "diagnostics",
) -> Command:
    """GetDiagnostics with ``location`` = a signed, expiring upload URL of this CSMS."""
    from stations.files import diagnostics_upload_url

    station = _station(charge_point_id)
    payload = {"location": diagnostics_upload_url(station=station), **(extra or {})}
    return call(charge_point_id, "GetDiagnostics", payload, requested_by=requested_by, source=source)


def firmware_update_request(
    *, charge_point_id: str, firmware_id: int, retrieve_date: str | None = None,
    requested_by: User | None = None, source: str = "firmware",
) -> Command:
    """UpdateFirmware with ``location`` = a signed, expiring download URL of the firmware file."""
    from stations.files import firmware_download_url

    firmware = FirmwareFile.objects.filter(pk=firmware_id).first()
    if firmware is None:
        raise NotFound(_("Unknown firmware file."))
    retrieve = retrieve_date or timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return call(charge_point_id, "UpdateFirmware", {
        "location": firmware_download_url(firmware=firmware), "retrieveDate": retrieve,
    }, requested_by=requested_by, source=source)


__all__ = [
    "diagnostics_request", "firmware_update_request", "local_list_push", "power_limit_needs_resend",
    "power_limit_reapply_after_boot", "power_limit_send", "power_limit_set",
]
