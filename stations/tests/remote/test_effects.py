"""What an answered command leaves behind (``command_effects.command_complete``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stations.command_effects import command_complete
from stations.models import ChargingProfile, Command, CompositeSchedule, ConfigurationKey, Connector
from stations.tests.factories import ConnectorFactory, StationFactory
from stations.tests.remote.charger import REQUESTS

pytestmark = pytest.mark.django_db


def _complete(station: Any, action: str, request: dict[str, Any], response: dict[str, Any] | None,
              state: str = "answered", **outcome: Any) -> Command:
    command = Command.objects.create(station=station, action=action, request=request, state="sent")
    command_complete(command_id=command.pk, station_id=station.pk, action=action, request=request,
                     outcome={"state": state, "response": response, "error": None,
                              "sent_at": time.time(), "answered_at": time.time(), **outcome})
    command.refresh_from_db()
    return command


def test_the_answer_is_written_to_the_open_row() -> None:
    station = StationFactory()
    command = _complete(station, "ClearCache", {}, {"status": "Accepted"})
    assert command.state == "answered"
    assert command.response == {"status": "Accepted"}
    assert command.answered_at is not None


def test_an_ended_row_is_left_as_it_is() -> None:
    station = StationFactory()
    command = Command.objects.create(station=station, action="GetLocalListVersion", request={}, state="offline")
    written = command_complete(command_id=command.pk, station_id=station.pk, action="GetLocalListVersion",
                               request={}, outcome={"state": "answered", "response": {"listVersion": 9}})
    assert written is False
    command.refresh_from_db()
    station.refresh_from_db()
    assert (command.state, station.local_list_version) == ("offline", 0)


def test_full_configuration_read_replaces_the_stored_keys() -> None:
    station = StationFactory()
    ConfigurationKey.objects.create(station=station, key="Gone", value="1")
    _complete(station, "GetConfiguration", {}, {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"}]})
    stored = dict(ConfigurationKey.objects.filter(station=station).values_list("key", "readonly"))
    assert stored == {"HeartbeatInterval": False, "NumberOfConnectors": True}


def test_partial_configuration_read_updates_only_those_keys() -> None:
    station = StationFactory()
    ConfigurationKey.objects.create(station=station, key="Other", value="x")
    ConfigurationKey.objects.create(station=station, key="Unknown", value="y")
    _complete(station, "GetConfiguration", {"key": ["HeartbeatInterval", "Unknown"]},
              {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "30"}],
               "unknownKey": ["Unknown"]})
    assert dict(ConfigurationKey.objects.filter(station=station).values_list("key", "value")) == {
        "HeartbeatInterval": "30", "Other": "x"}


def test_a_configuration_read_for_an_ended_row_changes_nothing() -> None:
    station = StationFactory()
    ConfigurationKey.objects.create(station=station, key="Kept", value="1")
    command = Command.objects.create(station=station, action="GetConfiguration", request={}, state="timeout")
    written = command_complete(command_id=command.pk, station_id=station.pk, action="GetConfiguration", request={},
                               outcome={"state": "answered", "error": None,
                                        "response": {"configurationKey": [{"key": "New", "readonly": False}]}})
    assert written is False
    command.refresh_from_db()
    assert command.state == "timeout" and command.response is None
    assert list(ConfigurationKey.objects.filter(station=station).values_list("key", flat=True)) == ["Kept"]


def test_a_key_reported_twice_keeps_the_last_value_and_the_row_is_answered() -> None:
    station = StationFactory()
    command = _complete(station, "GetConfiguration", {}, {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "90"},
        {"key": "Flag", "readonly": True}]})
    assert command.state == "answered" and command.response["configurationKey"][2] == {"key": "Flag", "readonly": True}
    assert dict(ConfigurationKey.objects.filter(station=station).values_list("key", "value")) == {
        "HeartbeatInterval": "90", "Flag": None}


@pytest.mark.parametrize(("status", "kept"), [("Accepted", "120"), ("RebootRequired", "120"), ("Rejected", "60")])
def test_change_configuration_updates_the_key_when_accepted(status: str, kept: str) -> None:
    station = StationFactory()
    ConfigurationKey.objects.create(station=station, key="HeartbeatInterval", value="60")
    _complete(station, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}, {"status": status})
    assert ConfigurationKey.objects.get(station=station, key="HeartbeatInterval").value == kept


def test_change_availability_shows_on_the_connectors() -> None:
    station = StationFactory()
    ConnectorFactory(station=station, connector_id=1)
    ConnectorFactory(station=station, connector_id=2)
    _complete(station, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Accepted"})
    assert dict(Connector.objects.filter(station=station).values_list("connector_id", "availability")) == {
        1: "Operative", 2: "Inoperative"}
    _complete(station, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"})
    assert set(Connector.objects.filter(station=station).values_list("availability", flat=True)) == {"Inoperative"}
    _complete(station, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, {"status": "Rejected"})
    assert set(Connector.objects.filter(station=station).values_list("availability", flat=True)) == {"Inoperative"}


def test_local_list_version_follows_the_charger() -> None:
    station = StationFactory()
    _complete(station, "GetLocalListVersion", {}, {"listVersion": 4})
    station.refresh_from_db()
    assert station.local_list_version == 4
    _complete(station, "SendLocalList", {**REQUESTS["SendLocalList"], "listVersion": 5}, {"status": "VersionMismatch"})
    station.refresh_from_db()
    assert station.local_list_version == 4
    _complete(station, "SendLocalList", {**REQUESTS["SendLocalList"], "listVersion": 5}, {"status": "Accepted"})
    station.refresh_from_db()
    assert station.local_list_version == 5


def test_charging_profiles_are_stored_replaced_and_cleared() -> None:
    station = StationFactory()
    request = REQUESTS["SetChargingProfile"]
    _complete(station, "SetChargingProfile", request, {"status": "Accepted"})
    _complete(station, "SetChargingProfile", request, {"status": "Accepted"})  # same id: replaces
    active = ChargingProfile.objects.filter(station=station, cleared_at__isnull=True)
    assert active.count() == 1 and ChargingProfile.objects.filter(station=station).count() == 2
    assert active.get().profile == request["csChargingProfiles"]
    _complete(station, "ClearChargingProfile", {"chargingProfilePurpose": "TxDefaultProfile"}, {"status": "Accepted"})
    assert not ChargingProfile.objects.filter(station=station, cleared_at__isnull=True).exists()


def test_a_rejected_profile_is_kept_as_rejected_not_active() -> None:
    station = StationFactory()
    _complete(station, "SetChargingProfile", REQUESTS["SetChargingProfile"], {"status": "Rejected"})
    profile = ChargingProfile.objects.get(station=station)
    assert profile.status == "Rejected" and profile.cleared_at is not None


def test_composite_schedule_is_stored() -> None:
    station = StationFactory()
    response = {"status": "Accepted", "connectorId": 1, "scheduleStart": "2026-11-21T10:00:00Z",
                "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]}}
    _complete(station, "GetCompositeSchedule", REQUESTS["GetCompositeSchedule"], response)
    schedule = CompositeSchedule.objects.get(station=station)
    assert schedule.status == "Accepted"
    assert schedule.schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7400.0}]


def test_a_callerror_has_no_effect() -> None:
    station = StationFactory()
    command = _complete(station, "GetLocalListVersion", {}, None, state="failed",
                        error={"code": "NotImplemented", "description": ""})
    station.refresh_from_db()
    assert command.state == "failed" and station.local_list_version == 0
