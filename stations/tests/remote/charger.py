"""A test charger: the ``ocpp`` library's v16 ChargePoint answering every CSMS-initiated call.

``behaviour`` changes single answers: ``{"Reset": "silent"}`` never answers, ``{"Reset": "error"}``
answers a CALLERROR, ``{"SetChargingProfile": {"status": "Rejected"}}`` returns that payload.
Every call received is kept in ``received`` as (action, camelCase payload).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result

CONFIGURATION = [
    {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
    {"key": "MeterValueSampleInterval", "readonly": False, "value": "30"},
    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
]

DEFAULT_ANSWERS: dict[str, dict[str, Any]] = {
    "CancelReservation": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "GetCompositeSchedule": {
        "status": "Accepted", "connectorId": 1, "scheduleStart": "2026-11-21T10:00:00Z",
        "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]},
    },
    "GetDiagnostics": {"fileName": "diag.log"},
    "GetLocalListVersion": {"listVersion": 4},
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TestCharger(ChargePoint):
    __test__ = False

    def __init__(self, cp_id: str, connection: Any, behaviour: dict[str, Any] | None = None) -> None:
        super().__init__(cp_id, connection, response_timeout=10)
        self.behaviour: dict[str, Any] = dict(behaviour or {})
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.configuration = [dict(k) for k in CONFIGURATION]
        self.received_event = asyncio.Event()

    async def _answer(self, action: str, kwargs: dict[str, Any]) -> Any:
        self.received.append((action, snake_to_camel_case(kwargs)))
        self.received_event.set()
        how = self.behaviour.get(action)
        if how == "silent":
            await asyncio.sleep(3600)
        if how == "error":
            raise GenericError(description="the test charger refuses")
        if isinstance(how, (int, float)) and not isinstance(how, bool):
            await asyncio.sleep(how)  # answer late
            how = None
        payload = how if isinstance(how, dict) else DEFAULT_ANSWERS.get(action, {})
        if action == "GetConfiguration" and not isinstance(how, dict):
            keys = kwargs.get("key")
            known = [k for k in self.configuration if not keys or k["key"] in keys]
            unknown = [k for k in keys or [] if k not in {c["key"] for c in self.configuration}]
            payload = {"configurationKey": known, **({"unknownKey": unknown} if unknown else {})}
        cls = getattr(call_result, action)
        from ocpp.charge_point import camel_to_snake_case

        return cls(**camel_to_snake_case(payload))

    # One handler per CSMS-initiated action; the library passes snake_case keyword arguments.
    @on("CancelReservation")
    async def on_cancel_reservation(self, **kw: Any) -> Any:
        return await self._answer("CancelReservation", kw)

    @on("ChangeAvailability")
    async def on_change_availability(self, **kw: Any) -> Any:
        return await self._answer("ChangeAvailability", kw)

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **kw: Any) -> Any:
        return await self._answer("ChangeConfiguration", kw)

    @on("ClearCache")
    async def on_clear_cache(self, **kw: Any) -> Any:
        return await self._answer("ClearCache", kw)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **kw: Any) -> Any:
        return await self._answer("ClearChargingProfile", kw)

    @on("DataTransfer")
    async def on_data_transfer(self, **kw: Any) -> Any:
        return await self._answer("DataTransfer", kw)

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, **kw: Any) -> Any:
        return await self._answer("GetCompositeSchedule", kw)

    @on("GetConfiguration")
    async def on_get_configuration(self, **kw: Any) -> Any:
        return await self._answer("GetConfiguration", kw)

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, **kw: Any) -> Any:
        return await self._answer("GetDiagnostics", kw)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kw: Any) -> Any:
        return await self._answer("GetLocalListVersion", kw)

    @on("RemoteStartTransaction")
    async def on_remote_start_transaction(self, **kw: Any) -> Any:
        return await self._answer("RemoteStartTransaction", kw)

    @on("RemoteStopTransaction")
    async def on_remote_stop_transaction(self, **kw: Any) -> Any:
        return await self._answer("RemoteStopTransaction", kw)

    @on("ReserveNow")
    async def on_reserve_now(self, **kw: Any) -> Any:
        return await self._answer("ReserveNow", kw)

    @on("Reset")
    async def on_reset(self, **kw: Any) -> Any:
        return await self._answer("Reset", kw)

    @on("SendLocalList")
    async def on_send_local_list(self, **kw: Any) -> Any:
        return await self._answer("SendLocalList", kw)

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kw: Any) -> Any:
        return await self._answer("SetChargingProfile", kw)

    @on("TriggerMessage")
    async def on_trigger_message(self, **kw: Any) -> Any:
        return await self._answer("TriggerMessage", kw)

    @on("UnlockConnector")
    async def on_unlock_connector(self, **kw: Any) -> Any:
        return await self._answer("UnlockConnector", kw)

    @on("UpdateFirmware")
    async def on_update_firmware(self, **kw: Any) -> Any:
        return await self._answer("UpdateFirmware", kw)


# A valid request for every CSMS-initiated action.
REQUESTS: dict[str, dict[str, Any]] = {
    "CancelReservation": {"reservationId": 7},
    "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "120"},
    "ClearCache": {},
    "ClearChargingProfile": {"id": 3},
    "DataTransfer": {"vendorId": "ACME", "messageId": "ping", "data": "ping"},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
    "GetConfiguration": {},
    "GetDiagnostics": {"location": "http://127.0.0.1/files/diagnostics/x/"},
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"idTag": "TAG1", "connectorId": 1},
    "RemoteStopTransaction": {"transactionId": 17},
    "ReserveNow": {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "TAG1", "reservationId": 7},
    "Reset": {"type": "Soft"},
    "SendLocalList": {"listVersion": 5, "updateType": "Full",
                      "localAuthorizationList": [{"idTag": "TAG1", "idTagInfo": {"status": "Accepted"}}]},
    "SetChargingProfile": {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 3, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}]}}},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "connectorId": 1},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {"location": "http://127.0.0.1/files/firmware/x/fw.bin", "retrieveDate": "2026-11-21T10:00:00Z"},
}
