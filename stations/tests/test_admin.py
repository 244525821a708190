from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from dashboard.tests.conftest import make_user
from stations.models import Command, OcppMessage, RefusedConnection, RegistrationStatus, Station
from stations.tests.factories import ConnectorFactory, OcppMessageFactory, StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(make_user("op@example.com", Role.ADMIN))
    return client


def test_every_registered_model_has_a_working_changelist(admin_client: Client) -> None:
    StationFactory(online=True)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url


def test_station_page_shows_connectors_messages_refusals_and_commands(admin_client: Client) -> None:
    station = StationFactory(online=True, charge_point_id="CP-ADMIN")
    ConnectorFactory(station=station, connector_id=1)
    OcppMessageFactory(station=station, action="BootNotification", payload={"chargePointVendor": "ACME"})
    RefusedConnection.objects.create(charge_point_id="CP-ADMIN", remote_address="10.0.0.9", reason="wrong password")
    Command.objects.create(station=station, action="Reset", request={"type": "Soft"}, state="answered",
                           response={"status": "Accepted"})
    response = admin_client.get(reverse("admin:stations_station_change", args=[station.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "BootNotification" in html and "chargePointVendor" in html
    assert "wrong password" in html and "10.0.0.9" in html
    assert "Reset" in html and "Accepted" in html
    assert 'id="station-commands"' in html
    assert "connectors-0-connector_id" in html


def test_a_pending_charger_is_accepted_with_the_button(admin_client: Client) -> None:
    station = StationFactory(registration_status=RegistrationStatus.PENDING)
    page = admin_client.get(reverse("admin:stations_station_change", args=[station.pk])).content.decode()
    assert "Accept this charger" in page
    response = admin_client.post(reverse("admin:stations_station_accept", args=[station.pk]))
    assert response.status_code == 302
    station.refresh_from_db()
    assert station.registration_status == RegistrationStatus.ACCEPTED


def test_pending_chargers_are_accepted_by_the_list_action(admin_client: Client) -> None:
    pending = StationFactory(registration_status=RegistrationStatus.PENDING)
    rejected = StationFactory(registration_status=RegistrationStatus.REJECTED)
    listing = admin_client.get(reverse("admin:stations_station_changelist"), {"pending": "yes"})
    assert [s.pk for s in listing.context["cl"].result_list] == [pending.pk]
    admin_client.post(reverse("admin:stations_station_changelist"), {
        "action": "accept_selected", "_selected_action": [pending.pk, rejected.pk]})
    assert Station.objects.get(pk=pending.pk).registration_status == RegistrationStatus.ACCEPTED
    assert Station.objects.get(pk=rejected.pk).registration_status == RegistrationStatus.REJECTED


def test_the_message_log_is_read_only_and_filterable(admin_client: Client) -> None:
    message = OcppMessageFactory(action="Heartbeat")
    OcppMessageFactory(action="StatusNotification")
    listing = admin_client.get(reverse("admin:stations_ocppmessage_changelist"), {"action": "Heartbeat"})
    assert [m.pk for m in listing.context["cl"].result_list] == [message.pk]
    assert admin_client.get(reverse("admin:stations_ocppmessage_add")).status_code == 403
    change = admin_client.post(reverse("admin:stations_ocppmessage_change", args=[message.pk]), {"action": "X"})
    assert change.status_code == 403
    assert OcppMessage.objects.get(pk=message.pk).action == "Heartbeat"


def test_the_command_ledger_filters_by_state(admin_client: Client) -> None:
    station = StationFactory()
    timed_out = Command.objects.create(station=station, action="Reset", state="timeout")
    Command.objects.create(station=station, action="Reset", state="answered")
    listing = admin_client.get(reverse("admin:stations_command_changelist"), {"state__exact": "timeout"})
    assert [c.pk for c in listing.context["cl"].result_list] == [timed_out.pk]


def test_drivers_cannot_open_the_admin(client: Client) -> None:
    client.force_login(make_user("d@example.com", Role.DRIVER))
    response = client.get(reverse("admin:stations_station_changelist"))
    assert response.status_code == 302


def test_the_admin_index_lists_pending_chargers_with_an_accept_button(admin_client: Client) -> None:
    pending = StationFactory(charge_point_id="UNKNOWN-7", registration_status=RegistrationStatus.PENDING)
    StationFactory(charge_point_id="KNOWN-1")
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "UNKNOWN-7" in html and "KNOWN-1" not in html
    assert reverse("admin:stations_station_accept", args=[pending.pk]) in html
