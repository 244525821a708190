from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from unittest import mock

import pytest
import time_machine

from stations.models import Connector, OcppMessage, RegistrationStatus, Station
from stations.services import (
    connector_status_update,
    message_log_purge,
    station_boot,
    station_diagnostics_status,
    station_firmware_status,
)
from stations.tests.factories import ConnectorFactory, OcppMessageFactory, StationFactory

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)
BOOT = {"charge_point_vendor": "ACME", "charge_point_model": "W22", "firmware_version": "1.2.3",
        "charge_point_serial_number": "SN-9"}

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_boot_of_an_accepted_station_answers_its_interval_and_stores_details() -> None:
    StationFactory(charge_point_id="CP-1", heartbeat_interval=120)
    result = station_boot(charge_point_id="CP-1", details=BOOT, now=T0)
    assert (result.status, result.interval) == ("Accepted", 120)
    station = Station.objects.get(charge_point_id="CP-1")
    assert (station.vendor, station.model, station.firmware_version, station.serial_number) == ("ACME", "W22", "1.2.3", "SN-9")
    assert station.last_boot_at == T0 and station.ocpp_version == "1.6"


def test_boot_of_a_pending_station_is_pending_until_an_operator_accepts() -> None:
    station = StationFactory(charge_point_id="CP-P", registration_status=RegistrationStatus.PENDING)
    assert station_boot(charge_point_id="CP-P", details=BOOT, now=T0).status == "Pending"
    station.refresh_from_db()
    assert station.last_boot_at is None
    Station.objects.filter(pk=station.pk).update(registration_status=RegistrationStatus.ACCEPTED)
    assert station_boot(charge_point_id="CP-P", details=BOOT, now=T0).status == "Accepted"


def test_status_of_connector_zero_is_the_whole_charger() -> None:
    StationFactory(charge_point_id="CP-1")
    connector_status_update(charge_point_id="CP-1", connector_id=0, status="Faulted", error_code="GroundFailure",
                            timestamp=T0, now=T0)
    station = Station.objects.get(charge_point_id="CP-1")
    assert (station.charger_status, station.charger_error_code) == ("Faulted", "GroundFailure")
    assert station.faulted_since == T0
    assert not Connector.objects.exists()


def test_connectors_appear_from_status_notification(django_capture_on_commit_callbacks) -> None:
    StationFactory(charge_point_id="CP-1")
    with mock.patch("notifications.services.connector_status_changed") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            changed = connector_status_update(
                charge_point_id="CP-1", connector_id=2, status="Charging", error_code="NoError",
                timestamp=T0, now=T0, info="hi", vendor_error_code="E1",
            )
    assert changed
    connector = Connector.objects.get(station__charge_point_id="CP-1", connector_id=2)
    assert (connector.status, connector.info, connector.vendor_error_code, connector.status_at) == ("Charging", "hi", "E1", T0)
    notify.assert_called_once_with(station_id=connector.station_id, connector_id=2, status="Charging")


def test_an_older_status_does_not_override_a_newer_one() -> None:
    connector = ConnectorFactory(station__charge_point_id="CP-1", status="Charging", status_at=T0)
    changed = connector_status_update(charge_point_id="CP-1", connector_id=1, status="Available",
                                      error_code="NoError", timestamp=T0 - timedelta(minutes=1), now=T0)
    assert not changed
    connector.refresh_from_db()
    assert connector.status == "Charging"


def test_diagnostics_and_firmware_status_are_stored() -> None:
    StationFactory(charge_point_id="CP-1")
    station_diagnostics_status(charge_point_id="CP-1", status="Uploaded", now=T0)
    station_firmware_status(charge_point_id="CP-1", status="Installing", now=T0)
    station = Station.objects.get(charge_point_id="CP-1")
    assert (station.diagnostics_status, station.firmware_status) == ("Uploaded", "Installing")


def test_message_log_purge_applies_age_and_per_station_bounds() -> None:
    station = StationFactory(charge_point_id="CP-1")
    old = OcppMessageFactory(station=station, created_at=T0 - timedelta(days=31))
    recent = [OcppMessageFactory(station=station, created_at=T0 - timedelta(minutes=i)) for i in range(5)]
    deleted = message_log_purge(now=T0, retention_days=30, max_per_station=3)
    assert deleted == 3
    remaining = set(OcppMessage.objects.values_list("pk", flat=True))
    assert remaining == {m.pk for m in recent[:3]}
    assert old.pk not in remaining


def test_connect_and_boot_publish_the_station_event_with_its_status(django_capture_on_commit_callbacks) -> None:
    from stations.services import station_connect

    station = StationFactory(charge_point_id="CP-EV", last_boot_at=T0, last_heartbeat=T0)
    ConnectorFactory(station=station, connector_id=1, status="Charging")
    with time_machine.travel(T0, tick=False), mock.patch("core.events.publish") as publish:
        with django_capture_on_commit_callbacks(execute=True):
            station_connect(charge_point_id="CP-EV", password=None, remote_address="", channel_name="c",
                            server_id="s", now=T0)
            station_boot(charge_point_id="CP-EV", details=BOOT, now=T0)
    events = [call.args for call in publish.call_args_list]
    expected = {"type": "station", "charge_point_id": "CP-EV", "status": "occupied", "connected": True}
    assert ("dashboard", expected) in events and ("station.CP-EV", expected) in events


def test_the_event_of_a_connect_and_a_boot_is_the_one_the_orm_computes(django_capture_on_commit_callbacks) -> None:
    # The connect's and the boot's statements return the event's columns themselves (PostgreSQL):
    # every numbered connector counts, in any order, and connector 0 (the whole charger) does not.
    from stations.models import Station
    from stations.services import station_connect, station_event

    station = StationFactory(charge_point_id="CP-EV2", last_boot_at=T0, last_heartbeat=T0)
    for number, status in ((2, "Available"), (0, "Faulted"), (1, "Charging")):
        ConnectorFactory(station=station, connector_id=number, status=status)
    with time_machine.travel(T0, tick=False), mock.patch("core.events.publish") as publish:
        with django_capture_on_commit_callbacks(execute=True):
            station_connect(charge_point_id="CP-EV2", password=None, remote_address="", channel_name="c",
                            server_id="s", now=T0)
        with django_capture_on_commit_callbacks(execute=True):
            station_boot(charge_point_id="CP-EV2", details=BOOT, now=T0)
        expected = station_event(Station.objects.get(pk=station.pk))
    events = [call.args for call in publish.call_args_list if call.args[0] == "dashboard"]
    assert expected["status"] == "available"
    assert events == [("dashboard", expected), ("dashboard", expected)]
