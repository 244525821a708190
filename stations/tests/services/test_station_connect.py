from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from unittest import mock

import pytest

from stations.models import RefusedConnection, RegistrationStatus, Station
from stations.services import station_connect
from stations.tests.factories import StationFactory

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def connect(cp_id: str, *, password: str | None = None, channel: str = "chan.a", policy: str = "accept"):
    return station_connect(
        charge_point_id=cp_id, password=password, remote_address="10.0.0.7", channel_name=channel,
        server_id="host:1:abc", now=T0, unknown_policy=policy,
    )


def test_known_station_is_accepted_and_marked_present() -> None:
    StationFactory(charge_point_id="CP-1")
    result = connect("CP-1")
    assert not result.refused
    station = Station.objects.get(charge_point_id="CP-1")
    assert station.connected and station.channel_name == "chan.a" and station.server_id == "host:1:abc"
    assert station.connected_at == T0 and station.remote_address == "10.0.0.7"


def test_unknown_station_under_accept_is_registered_accepted() -> None:
    result = connect("NEW-1", policy="accept")
    assert result.created and not result.refused
    assert Station.objects.get(charge_point_id="NEW-1").registration_status == RegistrationStatus.ACCEPTED


def test_unknown_station_under_pending_is_registered_pending() -> None:
    result = connect("NEW-2", policy="pending")
    assert not result.refused and not result.ready
    assert Station.objects.get(charge_point_id="NEW-2").registration_status == RegistrationStatus.PENDING


def test_unknown_station_under_reject_is_refused_recorded_and_notified(django_capture_on_commit_callbacks) -> None:
    with mock.patch("notifications.services.unknown_charger_refused") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            result = connect("NEW-3", policy="reject")
        assert result.refused == "unknown charge point"
        notify.assert_called_once_with(charge_point_id="NEW-3", reason="unknown charge point")
    assert not Station.objects.filter(charge_point_id="NEW-3").exists()
    assert RefusedConnection.objects.get().reason == "unknown charge point"


@pytest.mark.parametrize("cp_id", ["", "has space", "x" * 49, "a/b", "ünï"])
def test_invalid_ids_are_refused(cp_id: str) -> None:
    assert connect(cp_id).refused == "invalid charge point id"
    assert RefusedConnection.objects.filter(charge_point_id=cp_id).exists()


def test_password_is_required_when_set() -> None:
    StationFactory(charge_point_id="CP-P", password="s3cret")
    assert connect("CP-P").refused == "missing Basic-auth password"
    assert connect("CP-P", password="wrong").refused == "wrong Basic-auth password"
    assert not Station.objects.get(charge_point_id="CP-P").connected
    assert not connect("CP-P", password="s3cret").refused
    assert RefusedConnection.objects.filter(charge_point_id="CP-P").count() == 2


def test_second_connection_names_the_first_channel() -> None:
    StationFactory(charge_point_id="CP-2")
    connect("CP-2", channel="chan.old")
    result = connect("CP-2", channel="chan.new")
    assert result.replaced_channel == "chan.old"
    assert Station.objects.get(charge_point_id="CP-2").channel_name == "chan.new"


def test_ready_at_once_only_for_an_accepted_station_that_booted_before() -> None:
    StationFactory(charge_point_id="CP-B", last_boot_at=T0)
    StationFactory(charge_point_id="CP-N")
    StationFactory(charge_point_id="CP-Q", last_boot_at=T0, registration_status=RegistrationStatus.PENDING)
    assert connect("CP-B").ready
    assert not connect("CP-N").ready
    assert not connect("CP-Q").ready
