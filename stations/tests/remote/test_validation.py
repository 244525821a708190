"""Payload validation against the official OCPP 1.6 schemas: before anything is recorded or sent."""

from __future__ import annotations

import pytest

from core.exceptions import InvalidInput, NotFound
from stations.protocol.remote import CSMS_ACTIONS, validate_request
from stations.tests.remote.charger import REQUESTS


@pytest.mark.parametrize("action", CSMS_ACTIONS)
def test_a_valid_request_of_every_action_passes(action: str) -> None:
    validate_request(action, REQUESTS[action])


def test_there_are_nineteen_csms_initiated_actions() -> None:
    assert len(CSMS_ACTIONS) == 19 and set(CSMS_ACTIONS) == set(REQUESTS)


@pytest.mark.parametrize(("action", "payload", "field"), [
    ("Reset", {}, "type"),
    ("Reset", {"type": "Warm"}, "type"),
    ("UnlockConnector", {"connectorId": "1"}, "connectorId"),
    ("GetConfiguration", {"key": "HeartbeatInterval"}, "key"),
    ("ChangeConfiguration", {"key": "K", "value": "v", "extra": 1}, "extra"),
    ("RemoteStartTransaction", {"idTag": "X" * 21}, "idTag"),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": {"chargingSchedulePeriod": []}}},
     "csChargingProfiles.chargingSchedule.chargingRateUnit"),
])
def test_an_invalid_request_names_the_field(action: str, payload: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_request(action, payload)
    assert field in caught.value.extra["errors"]


def test_decimal_limits_with_one_place_pass_the_multiple_of_rule() -> None:
    # 21.4 is not a binary multiple of 0.1: the schema check must use decimals.
    payload = {**REQUESTS["SetChargingProfile"]}
    payload["csChargingProfiles"] = {**payload["csChargingProfiles"], "chargingSchedule": {
        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]}}
    validate_request("SetChargingProfile", payload)


def test_a_charger_initiated_or_unknown_action_is_not_found() -> None:
    for action in ("BootNotification", "Heartbeat", "reset", "Nope"):
        with pytest.raises(NotFound):
            validate_request(action, {})


def test_a_payload_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        validate_request("ClearCache", [])  # type: ignore[arg-type]
