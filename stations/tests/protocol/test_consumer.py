"""The charger endpoint through WebsocketCommunicator on the real ``csms.asgi.application``."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from accounts.tests.factories import IdTagFactory
from stations.models import OcppMessage, RefusedConnection, RegistrationStatus, Station
from stations.protocol.committer import committer
from stations.services import station_registration_set
from stations.tests.factories import StationFactory
from transactions.models import Transaction

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

db = database_sync_to_async


async def refused_reasons() -> list[str]:
    return await db(lambda: list(RefusedConnection.objects.values_list("reason", flat=True)))()


async def station(cp_id: str) -> Station:
    return await db(Station.objects.get)(charge_point_id=cp_id)


async def test_boot_of_a_known_station_is_accepted_with_its_interval(open_charger) -> None:
    await db(StationFactory)(charge_point_id="CP-1", heartbeat_interval=300)
    connected, subprotocol, cp = await open_charger("CP-1")
    assert connected and subprotocol == "ocpp1.6"
    type_id, _, payload = await cp.boot()
    assert type_id == 3 and payload["status"] == "Accepted" and payload["interval"] == 300
    assert payload["currentTime"].endswith("Z")
    s = await station("CP-1")
    assert s.connected and s.vendor == "ACME" and s.last_boot_at is not None and s.channel_name


async def test_unknown_charger_under_pending_waits_for_an_operator(open_charger, settings) -> None:
    settings.CSMS_UNKNOWN_CHARGE_POINTS = "pending"
    connected, _, cp = await open_charger("NEW-P")
    assert connected
    assert (await cp.boot())[2]["status"] == "Pending"
    s = await station("NEW-P")
    await db(station_registration_set)(station_id=s.pk, status=RegistrationStatus.ACCEPTED)
    assert (await cp.boot())[2]["status"] == "Accepted"


async def test_unknown_charger_under_accept_is_registered(open_charger, settings) -> None:
    settings.CSMS_UNKNOWN_CHARGE_POINTS = "accept"
    connected, _, cp = await open_charger("NEW-A")
    assert connected
    assert (await cp.boot())[2]["status"] == "Accepted"


async def test_unknown_charger_under_reject_is_refused_and_recorded(open_charger, settings) -> None:
    settings.CSMS_UNKNOWN_CHARGE_POINTS = "reject"
    connected, _, _ = await open_charger("NEW-R")
    assert not connected
    assert await refused_reasons() == ["unknown charge point"]
    assert not await db(Station.objects.filter(charge_point_id="NEW-R").exists)()


@pytest.mark.parametrize("path", ["/ocpp/bad id", "/ocpp/" + "x" * 49, "/ocpp/", "/ocpp/a/b"])
async def test_bad_ids_are_refused(open_charger, path: str) -> None:
    connected, _, _ = await open_charger("ignored", path=path)
    assert not connected
    assert await refused_reasons() == ["invalid charge point id"]


@pytest.mark.parametrize("offered", [[], ["ocpp2.0.1"], ["ocpp1.5"]])
async def test_a_handshake_without_ocpp16_is_refused(open_charger, offered: list[str]) -> None:
    await db(StationFactory)(charge_point_id="CP-1")
    connected, _, _ = await open_charger("CP-1", subprotocols=offered)
    assert not connected
    reasons = await refused_reasons()
    assert len(reasons) == 1 and reasons[0].startswith("no supported subprotocol")


async def test_basic_auth_is_required_when_a_password_is_set(open_charger) -> None:
    await db(StationFactory)(charge_point_id="CP-S", password="s3cret")
    assert not (await open_charger("CP-S"))[0]
    assert not (await open_charger("CP-S", password="nope"))[0]
    connected, _, cp = await open_charger("CP-S", password="s3cret")
    assert connected
    assert (await cp.boot())[2]["status"] == "Accepted"
    assert sorted(await refused_reasons()) == ["missing Basic-auth password", "wrong Basic-auth password"]


async def test_bad_frames_get_call_errors_and_the_connection_stays(open_charger) -> None:
    await db(StationFactory)(charge_point_id="CP-1")
    _, _, cp = await open_charger("CP-1")
    await cp.boot()
    assert (await cp.send_raw("{not json"))[:3] == [4, "-1", "FormationViolation"]
    assert (await cp.send_raw('{"a": 1}'))[:3] == [4, "-1", "FormationViolation"]
    # NaN and Infinity are not JSON (Python's parser would take them): nothing of the frame is used.
    assert (await cp.send_raw('[2, "id-6", "DataTransfer", {"vendorId": "x", "data": NaN}]'))[:3] == [4, "-1", "FormationViolation"]
    assert (await cp.send_raw('[2, "id-7"]'))[:3] == [4, "id-7", "ProtocolError"]
    assert (await cp.send_raw('[2, "id-8", "Heartbeat", []]'))[:3] == [4, "id-8", "FormationViolation"]
    assert (await cp.send_raw('[7, "id-9", "Heartbeat", {}]'))[:3] == [4, "id-9", "FormationViolation"]
    assert (await cp.call("FlyToTheMoon", {}, "u1"))[:3] == [4, "u1", "NotImplemented"]
    bad_type = await cp.call("StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Available"}, "u2")
    assert bad_type[:3] == [4, "u2", "TypeConstraintViolation"]
    missing = await cp.call("StatusNotification", {"errorCode": "NoError", "status": "Available"}, "u3")
    assert missing[:3] == [4, "u3", "OccurenceConstraintViolation"]
    bad_enum = await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleepy"}, "u4")
    assert bad_enum[:3] == [4, "u4", "PropertyConstraintViolation"]
    extra = await cp.call("Heartbeat", {"surprise": 1}, "u5")
    assert extra[:3] == [4, "u5", "FormationViolation"]
    assert (await cp.call("Heartbeat", {}, "u6"))[:2] == [3, "u6"]


async def test_a_broken_handler_answers_internal_error_and_keeps_the_socket(open_charger, monkeypatch) -> None:
    await db(StationFactory)(charge_point_id="CP-1")
    _, _, cp = await open_charger("CP-1")

    def broken(**kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("stations.services.station_firmware_status", broken)
    answer = await cp.call("FirmwareStatusNotification", {"status": "Installing"}, "f1")
    assert answer[:3] == [4, "f1", "InternalError"]
    assert (await cp.call("Heartbeat", {}, "h1"))[:2] == [3, "h1"]


async def test_an_oversized_frame_closes_with_1009(open_charger, settings) -> None:
    settings.CSMS_OCPP_MAX_MESSAGE_BYTES = 1000
    await db(StationFactory)(charge_point_id="CP-1")
    _, _, cp = await open_charger("CP-1")
    await cp.ws.send_to(text_data=json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "é" * 600}]))
    output = await cp.ws.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 1009}


@pytest.mark.redis
async def test_a_second_connection_replaces_the_first(open_charger) -> None:
    await db(StationFactory)(charge_point_id="CP-1")
    _, _, first = await open_charger("CP-1")
    first_channel = (await station("CP-1")).channel_name
    connected, _, second = await open_charger("CP-1")
    assert connected
    assert await first.ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 1000}
    await first.close()
    s = await station("CP-1")
    assert s.connected and s.channel_name and s.channel_name != first_channel
    assert (await second.call("Heartbeat", {}))[0] == 3


async def test_disconnect_clears_presence(open_charger) -> None:
    await db(StationFactory)(charge_point_id="CP-1")
    _, _, cp = await open_charger("CP-1")
    await cp.boot()
    await cp.close()
    await committer().flush()
    s = await station("CP-1")
    assert not s.connected and s.channel_name == "" and s.disconnected_at is not None


async def test_session_resends_and_message_log(open_charger) -> None:
    await db(StationFactory)(charge_point_id="CP-1")
    await db(IdTagFactory)(id_tag="TAG-1")
    _, _, cp = await open_charger("CP-1")
    await cp.boot()
    assert (await cp.call("Authorize", {"idTag": "TAG-1"}))[2] == {"idTagInfo": {"status": "Accepted"}}
    assert (await cp.call("Authorize", {"idTag": "NOBODY"}))[2] == {"idTagInfo": {"status": "Invalid"}}
    start = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": "2026-01-01T10:00:00Z"}
    first = (await cp.call("StartTransaction", start))[2]
    again = (await cp.call("StartTransaction", start))[2]
    assert first == again and first["idTagInfo"]["status"] == "Accepted"
    tx_id = first["transactionId"]
    meter = {"connectorId": 1, "transactionId": tx_id, "meterValue": [
        {"timestamp": "2026-01-01T10:05:00Z", "sampledValue": [{"value": "1.5", "unit": "kWh"}]}]}
    assert (await cp.call("MeterValues", meter))[2] == {}
    assert (await cp.call("MeterValues", meter))[2] == {}
    stop = {"transactionId": tx_id, "meterStop": 2500, "timestamp": "2026-01-01T10:30:00Z", "idTag": "TAG-1"}
    assert (await cp.call("StopTransaction", stop))[2] == {"idTagInfo": {"status": "Accepted"}}
    assert (await cp.call("StopTransaction", {**stop, "meterStop": 9999}))[2] == {"idTagInfo": {"status": "Accepted"}}
    unknown = {"transactionId": 424242, "meterStop": 1, "timestamp": "2026-01-01T10:30:00Z"}
    assert (await cp.call("StopTransaction", unknown))[0] == 3
    tx = await db(Transaction.objects.get)()
    assert (tx.pk, tx.meter_stop, tx.energy_wh) == (tx_id, 2500, 1500)
    await committer().flush()
    rows = await db(lambda: list(OcppMessage.objects.filter(charge_point_id="CP-1").values_list("direction", "action")))()
    assert rows.count(("in", "StartTransaction")) == 2 and rows.count(("out", "StartTransaction")) == 2
    assert len(rows) == 2 * 10  # every frame in and out
    answers = await db(lambda: list(OcppMessage.objects.filter(
        charge_point_id="CP-1", direction="out", action="StartTransaction").values_list("message_type", "payload")))()
    assert answers == [(3, first), (3, first)]  # the answers as sent


async def test_an_ocpp_close_message_closes_the_socket_with_its_code(open_charger, monkeypatch) -> None:
    import channels.consumer
    from channels.layers import get_channel_layer

    # Messages skip Channels' stale-connection hop (this consumer's database work cleans up itself).
    hops: list[str] = []

    async def counted() -> None:
        hops.append("hop")

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    await db(StationFactory)(charge_point_id="CP-1")
    _, _, cp = await open_charger("CP-1")
    await cp.boot()
    channel = (await station("CP-1")).channel_name
    await get_channel_layer().send(channel, {"type": "ocpp.close", "reason": "silent", "code": 4408})
    assert await cp.ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4408}
    assert hops == []

