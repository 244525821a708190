"""The simulator against a recording central system: what it sends and how it answers commands."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from stations.simulator import SimulatorConfig


async def booted(fake_csms, simulate, **options):
    sim = await simulate(**options)
    cs = await fake_csms.wait_connections(1)
    await cs.wait_for("StatusNotification", lambda p: p["connector_id"] == options.get("connectors", 2))
    return sim, cs


async def test_it_boots_then_reports_every_connector(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate, connectors=2)
    boot = await cs.wait_for("BootNotification")
    assert boot["charge_point_vendor"] == "CSMS"
    statuses = [(p["connector_id"], p["status"]) for a, p in cs.received if a == "StatusNotification"]
    assert statuses == [(0, "Available"), (1, "Available"), (2, "Available")]
    assert cs.actions()[0] == "BootNotification"


async def test_it_heartbeats_at_the_interval_the_csms_gives(fake_csms, simulate):
    fake_csms.interval = 1
    sim, cs = await booted(fake_csms, simulate)
    await cs.wait_for("Heartbeat", timeout=5)
    assert sim.cp.heartbeat_interval == 1


async def test_a_local_session_authorizes_starts_meters_and_stops(fake_csms, simulate):
    sim = await simulate(sessions=1, session_seconds=3.5, meter_interval=1, speed=60, id_tag="TAG-1")
    done = await asyncio.wait_for(sim.task, timeout=30)
    cs = fake_csms.current
    assert done.sessions_done == 1
    start = await cs.wait_for("StartTransaction")
    stop = await cs.wait_for("StopTransaction")
    meters = [p for a, p in cs.received if a == "MeterValues"]
    assert start["id_tag"] == "TAG-1" and start["connector_id"] == 1
    assert stop["transaction_id"] == 100 and stop["reason"] == "Local"
    assert stop["meter_stop"] > start["meter_start"]
    assert meters[0]["meter_value"][0]["sampled_value"][0]["context"] == "Transaction.Begin"
    assert len(meters) >= 3 and all(m["transaction_id"] == 100 for m in meters)
    registers = [float(v["value"]) for m in meters for v in m["meter_value"][0]["sampled_value"]
                 if v["measurand"] == "Energy.Active.Import.Register"]
    assert registers == sorted(registers)
    statuses = [p["status"] for a, p in cs.received if a == "StatusNotification" and p["connector_id"] == 1]
    assert statuses == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    assert cs.actions().index("Authorize") < cs.actions().index("StartTransaction")


async def test_a_blocked_id_tag_starts_nothing(fake_csms, simulate):
    sim = await simulate(sessions=1, session_seconds=1, id_tag="BLOCKED-1")
    await asyncio.wait_for(sim.task, timeout=20)
    assert "StartTransaction" not in fake_csms.current.actions()


async def test_a_callerror_on_start_frees_the_connector_and_the_charger_carries_on(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    mark = len(cs.received)
    assert (await cs.call(call.RemoteStartTransaction(id_tag="FAIL-1", connector_id=1))).status == "Accepted"
    await cs.wait_for("StatusNotification", lambda p: p["connector_id"] == 1 and p["status"] == "Available",
                      after=mark)
    assert (await cs.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))).status == "Accepted"
    await cs.wait_for("StartTransaction", lambda p: p["id_tag"] == "TAG-1")


async def test_remote_start_then_remote_stop(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate, meter_interval=1)
    answer = await cs.call(call.RemoteStartTransaction(id_tag="TAG-2", connector_id=2))
    assert answer.status == "Accepted"
    start = await cs.wait_for("StartTransaction")
    assert (start["connector_id"], start["id_tag"]) == (2, "TAG-2")
    await cs.wait_for("MeterValues", lambda p: p["meter_value"][0]["sampled_value"][0]["context"] == "Sample.Periodic")
    answer = await cs.call(call.RemoteStopTransaction(transaction_id=100))
    assert answer.status == "Accepted"
    stop = await cs.wait_for("StopTransaction")
    assert stop["reason"] == "Remote" and stop["transaction_id"] == 100


async def test_remote_start_on_a_busy_connector_is_rejected(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    assert (await cs.call(call.RemoteStartTransaction(id_tag="A", connector_id=1))).status == "Accepted"
    await cs.wait_for("StartTransaction")
    assert (await cs.call(call.RemoteStartTransaction(id_tag="B", connector_id=1))).status == "Rejected"
    assert (await cs.call(call.RemoteStopTransaction(transaction_id=999))).status == "Rejected"


async def test_get_configuration_lists_the_usual_keys(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    every = await cs.call(call.GetConfiguration())
    keys = {k["key"]: k for k in every.configuration_key}
    assert {"HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors",
            "SupportedFeatureProfiles", "AuthorizeRemoteTxRequests"} <= set(keys)
    assert keys["NumberOfConnectors"]["value"] == "2" and keys["NumberOfConnectors"]["readonly"] is True
    some = await cs.call(call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]))
    assert [k["key"] for k in some.configuration_key] == ["HeartbeatInterval"]
    assert some.unknown_key == ["NoSuchKey"]


async def test_change_configuration_accepts_rejects_and_applies(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    assert (await cs.call(call.ChangeConfiguration(key="HeartbeatInterval", value="2"))).status == "Accepted"
    assert (await cs.call(call.ChangeConfiguration(key="NumberOfConnectors", value="4"))).status == "Rejected"
    assert (await cs.call(call.ChangeConfiguration(key="HeartbeatInterval", value="soon"))).status == "Rejected"
    assert (await cs.call(call.ChangeConfiguration(key="Nope", value="1"))).status == "NotSupported"
    assert sim.cp.heartbeat_interval == 2
    got = await cs.call(call.GetConfiguration(key=["HeartbeatInterval"]))
    assert got.configuration_key[0]["value"] == "2"


async def test_reserve_now_and_cancel_reservation(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    mark = len(cs.received)
    answer = await cs.call(call.ReserveNow(connector_id=1, expiry_date="2030-01-01T00:00:00Z",
                                           id_tag="TAG-1", reservation_id=5))
    assert answer.status == "Accepted"
    await cs.wait_for("StatusNotification", lambda p: p["status"] == "Reserved", after=mark)
    again = await cs.call(call.ReserveNow(connector_id=1, expiry_date="2030-01-01T00:00:00Z",
                                          id_tag="TAG-9", reservation_id=6))
    assert again.status == "Rejected"
    assert (await cs.call(call.RemoteStartTransaction(id_tag="TAG-9", connector_id=1))).status == "Rejected"
    assert (await cs.call(call.CancelReservation(reservation_id=5))).status == "Accepted"
    await cs.wait_for("StatusNotification", lambda p: p["status"] == "Available" and p["connector_id"] == 1,
                      after=mark)
    assert (await cs.call(call.CancelReservation(reservation_id=5))).status == "Rejected"


async def test_a_reserved_connector_starts_with_the_reservation_id(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    await cs.call(call.ReserveNow(connector_id=2, expiry_date="2030-01-01T00:00:00Z", id_tag="TAG-1",
                                  reservation_id=8))
    assert (await cs.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=2))).status == "Accepted"
    start = await cs.wait_for("StartTransaction")
    assert start["reservation_id"] == 8


async def test_reset_reboots_and_boots_again(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    assert (await cs.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))).status == "Accepted"
    await cs.wait_for("StartTransaction")
    assert (await cs.call(call.Reset(type="Soft"))).status == "Accepted"
    stop = await cs.wait_for("StopTransaction")
    assert stop["reason"] == "SoftReset"
    second = await fake_csms.wait_connections(2)
    await second.wait_for("BootNotification")


async def test_unlock_connector_ends_the_session(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    await cs.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
    await cs.wait_for("StartTransaction")
    assert (await cs.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"
    assert (await cs.wait_for("StopTransaction"))["reason"] == "UnlockCommand"
    assert (await cs.call(call.UnlockConnector(connector_id=7))).status == "NotSupported"


async def test_change_availability_makes_a_connector_unavailable_and_back(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    mark = len(cs.received)
    assert (await cs.call(call.ChangeAvailability(connector_id=2, type="Inoperative"))).status == "Accepted"
    await cs.wait_for("StatusNotification", lambda p: p == {**p, "connector_id": 2, "status": "Unavailable"},
                      after=mark)
    assert (await cs.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=2))).status == "Rejected"
    assert (await cs.call(call.ChangeAvailability(connector_id=2, type="Operative"))).status == "Accepted"
    await cs.wait_for("StatusNotification", lambda p: p["connector_id"] == 2 and p["status"] == "Available",
                      after=mark)


async def test_change_availability_during_a_session_is_scheduled(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    await cs.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
    await cs.wait_for("StartTransaction")
    assert (await cs.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))).status == "Scheduled"
    await cs.call(call.RemoteStopTransaction(transaction_id=100))
    await cs.wait_for("StatusNotification", lambda p: p["connector_id"] == 1 and p["status"] == "Unavailable")


async def test_trigger_message_sends_what_was_asked(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    mark = len(cs.received)
    assert (await cs.call(call.TriggerMessage(requested_message="StatusNotification", connector_id=1))).status \
        == "Accepted"
    await cs.wait_for("StatusNotification", lambda p: p["connector_id"] == 1, after=mark)
    assert (await cs.call(call.TriggerMessage(requested_message="MeterValues", connector_id=2))).status == "Accepted"
    await cs.wait_for("MeterValues", lambda p: p["connector_id"] == 2, after=mark)
    assert (await cs.call(call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await cs.wait_for("Heartbeat", after=mark)


async def test_a_charging_profile_limits_the_power(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate, meter_interval=1, max_power_w=22_000)
    profile = {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}]},
    }
    answer = await cs.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile))
    assert answer.status == "Accepted"
    assert sim.cp.limit_w(1, None) == 6 * 230 * 3
    composite = await cs.call(call.GetCompositeSchedule(connector_id=1, duration=3600, charging_rate_unit="W"))
    assert composite.charging_schedule["charging_schedule_period"][0]["limit"] == 4140
    assert (await cs.call(call.ClearChargingProfile(id=1))).status == "Accepted"
    assert sim.cp.limit_w(1, None) == 22_000


async def test_data_transfer_answers_its_own_vendor_only(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    mine = await cs.call(call.DataTransfer(vendor_id="CSMS", message_id="ping", data="hello"))
    other = await cs.call(call.DataTransfer(vendor_id="ACME", data="hello"))
    assert (mine.status, mine.data) == ("Accepted", "hello")
    assert other.status == "UnknownVendorId"


async def test_local_list_and_cache(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    listed = await cs.call(call.SendLocalList(list_version=3, update_type="Full", local_authorization_list=[
        {"idTag": "TAG-1", "idTagInfo": {"status": "Accepted"}}]))
    assert listed.status == "Accepted"
    assert (await cs.call(call.GetLocalListVersion())).list_version == 3
    assert (await cs.call(call.ClearCache())).status == "Accepted"


async def test_firmware_update_reports_its_progress_and_reboots(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    await cs.call(call.UpdateFirmware(location="https://example.com/fw.bin", retrieve_date="2030-01-01T00:00:00Z"))
    await cs.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed")
    second = await fake_csms.wait_connections(2)
    boot = await second.wait_for("BootNotification")
    assert boot["firmware_version"] == "1.4.3"


async def test_stopping_the_simulator_ends_its_sessions_cleanly(fake_csms, simulate):
    sim, cs = await booted(fake_csms, simulate)
    await cs.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
    await cs.wait_for("StartTransaction")
    sim.stop.set()
    await asyncio.wait_for(sim.task, timeout=15)
    assert (await cs.wait_for("StopTransaction"))["reason"] == "Local"


async def test_the_endpoint_is_the_url_plus_the_id():
    assert SimulatorConfig("DEMO-1", url="ws://h:8000/ocpp/").endpoint == "ws://h:8000/ocpp/DEMO-1"
    assert SimulatorConfig("DEMO-1", url="ws://h:8000/ocpp").endpoint == "ws://h:8000/ocpp/DEMO-1"
