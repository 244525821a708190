"""The operators' doors: admin command buttons and form, ``ocpp_call`` and ``charge_points``."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import AdminFactory, UserFactory
from stations.models import Command
from stations.tests.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(AdminFactory())
    return client


def test_the_command_form_is_for_staff_only(client: Client) -> None:
    station = StationFactory()
    client.force_login(UserFactory())
    response = client.get(reverse("station-command-form", args=[station.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_command_form_lists_every_action(admin_client: Client) -> None:
    station = StationFactory()
    response = admin_client.get(reverse("station-command-form", args=[station.pk]))
    assert response.status_code == 200
    assert b"GetCompositeSchedule" in response.content and b"TriggerMessage" in response.content


def test_the_command_form_names_the_invalid_field_and_sends_nothing(admin_client: Client) -> None:
    station = StationFactory(connected=True, channel_name="specific.x!y")
    response = admin_client.post(reverse("station-command-form", args=[station.pk]),
                                 {"action": "Reset", "payload": '{"type": "Warm"}', "wait": "on"})
    assert response.status_code == 200
    assert b"type:" in response.content
    assert not Command.objects.exists()


def test_the_command_form_shows_an_offline_charger(admin_client: Client) -> None:
    station = StationFactory()
    response = admin_client.post(reverse("station-command-form", args=[station.pk]),
                                 {"action": "ClearCache", "payload": "{}", "wait": "on"})
    assert b"not connected" in response.content
    assert Command.objects.get().state == "offline"


def test_a_command_button_reports_its_outcome_and_returns(admin_client: Client) -> None:
    station = StationFactory()
    page = reverse("admin:stations_station_change", args=[station.pk])
    response = admin_client.post(reverse("station-command-button", args=[station.pk, "soft-reset"]),
                                 {"next": page}, follow=True)
    assert response.redirect_chain[-1][0] == page
    assert "not connected" in " ".join(str(m) for m in response.context["messages"])
    assert Command.objects.get().request == {"type": "Soft"}


def test_the_station_page_shows_the_command_buttons(admin_client: Client) -> None:
    station = StationFactory()
    response = admin_client.get(reverse("admin:stations_station_change", args=[station.pk]))
    assert response.status_code == 200
    assert reverse("station-command-button", args=[station.pk, "get-configuration"]).encode() in response.content


def test_charge_points_lists_stations_with_their_connected_state() -> None:
    StationFactory(charge_point_id="CP-ON", online=True)
    StationFactory(charge_point_id="CP-OFF")
    out = io.StringIO()
    call_command("charge_points", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("CP-OFF") and " no " in line for line in lines)
    assert any(line.startswith("CP-ON") and " yes " in line for line in lines)
    assert lines[-1] == "2 stations, 1 connected"


def test_ocpp_call_explains_bad_input_and_offline_chargers() -> None:
    StationFactory(charge_point_id="CP-1")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("ocpp_call", "CP-1", "Reset", "{type")
    with pytest.raises(CommandError, match="type"):
        call_command("ocpp_call", "CP-1", "Reset", '{"type": "Warm"}')
    with pytest.raises(CommandError, match="not a CSMS-initiated"):
        call_command("ocpp_call", "CP-1", "Heartbeat", "{}")
    with pytest.raises(CommandError, match="Unknown station"):
        call_command("ocpp_call", "CP-2", "ClearCache", "{}")
    with pytest.raises(CommandError, match="not connected"):
        call_command("ocpp_call", "CP-1", "ClearCache")


def test_the_command_api_is_for_admins_only() -> None:
    from rest_framework.test import APIClient

    station = StationFactory()
    api = APIClient()
    url = f"/api/v1/stations/{station.charge_point_id}/commands/ClearCache/"
    assert api.post(url, {}, format="json").status_code == 401
    api.force_authenticate(UserFactory())
    assert api.post(url, {}, format="json").status_code == 403
    command = Command.objects.create(station=station, action="ClearCache", request={})
    assert api.get(f"/api/v1/commands/{command.pk}/").status_code == 403
    assert not Command.objects.exclude(pk=command.pk).exists()


def test_the_command_api_answers_400_404_and_409_without_sending() -> None:
    from rest_framework.test import APIClient

    station = StationFactory()
    api = APIClient()
    api.force_authenticate(AdminFactory())
    assert api.post("/api/v1/stations/bad%20id/commands/ClearCache/", {}, format="json").status_code == 400
    assert api.post("/api/v1/stations/NOPE/commands/ClearCache/", {}, format="json").status_code == 404
    base = f"/api/v1/stations/{station.charge_point_id}/commands"
    assert api.post(f"{base}/Heartbeat/", {}, format="json").status_code == 404
    invalid = api.post(f"{base}/UnlockConnector/", {"connectorId": "one"}, format="json")
    assert invalid.status_code == 400 and "connectorId" in invalid.json()["errors"]
    offline = api.post(f"{base}/ClearCache/", {}, format="json")
    assert offline.status_code == 409 and offline.json()["code"] == "charger_offline"
    record = api.get(f"/api/v1/commands/{offline.json()['command']}/").json()
    assert record["state"] == "offline" and record["charge_point_id"] == station.charge_point_id
    assert api.get("/api/v1/commands/999999/").status_code == 404


def test_a_power_limit_is_kept_for_a_disconnected_station(admin_client: Client) -> None:
    from rest_framework.test import APIClient

    station = StationFactory()
    response = admin_client.post(reverse("station-power-limit", args=[station.pk]), {"power_limit_w": "7400"},
                                 follow=True)
    assert "7400 W" in " ".join(str(m) for m in response.context["messages"])
    station.refresh_from_db()
    assert station.power_limit_w == 7400
    api = APIClient()
    api.force_authenticate(AdminFactory())
    url = f"/api/v1/stations/{station.charge_point_id}/power-limit/"
    assert api.post(url, {"power_limit_w": 0}, format="json").status_code == 400
    assert api.post(url, {"power_limit_w": None}, format="json").json() == {"power_limit_w": None, "command": None}
    station.refresh_from_db()
    assert station.power_limit_w is None and not Command.objects.exists()


def test_without_redis_another_process_cannot_reach_a_charger_and_says_so(settings: Any) -> None:
    from core.exceptions import ChargerOffline
    from stations.models import Station
    from stations.protocol.remote import call

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CSMS_CALL_ACK_TIMEOUT = 0.2
    station = StationFactory(connected=True, channel_name="specific.abc!def")
    with pytest.raises(ChargerOffline, match="REDIS_URL"):
        call(station.charge_point_id, "ClearCache", {})
    # Nothing is known about the charger itself: its presence stays.
    assert Station.objects.get(pk=station.pk).connected is True
    assert Command.objects.get().state == "offline"
