"""End to end: the simulator against a live daphne on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio

import pytest

from accounts.tests.factories import IdTagFactory, UserFactory
from stations.models import Station
from stations.simulator import SimulatorConfig, run_simulator
from stations.tests.factories import StationFactory
from transactions.models import MeterValue, Transaction

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_simulated_session_lands_in_the_database(start_daphne):
    StationFactory(charge_point_id="SIM-E2E-1")
    IdTagFactory(id_tag="SIM-TAG-1", user=UserFactory())
    host = start_daphne()
    config = SimulatorConfig("SIM-E2E-1", url=f"ws://{host}/ocpp/", sessions=1, session_seconds=3,
                             meter_interval=1, speed=60, seed=3, reconnect=False, id_tag="SIM-TAG-1")

    cp = asyncio.run(asyncio.wait_for(run_simulator(config), timeout=60))

    assert cp.sessions_done == 1
    tx = Transaction.objects.get(station__charge_point_id="SIM-E2E-1")
    assert (tx.connector.connector_id, tx.id_tag) == (1, "SIM-TAG-1")
    assert tx.stopped_at is not None and tx.stop_reason == "Local"
    assert tx.meter_stop > tx.meter_start and tx.energy_wh == tx.meter_stop - tx.meter_start
    samples = MeterValue.objects.filter(transaction=tx)
    measurands = set(samples.values_list("measurand", flat=True))
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Voltage", "Current.Import", "SoC"} <= measurands
    registers = list(samples.filter(measurand="Energy.Active.Import.Register", phase="")
                     .order_by("timestamp").values_list("value", flat=True))
    assert len(registers) >= 2 and registers == sorted(registers)
    station = Station.objects.get(charge_point_id="SIM-E2E-1")
    assert station.vendor == "CSMS" and station.model == "Simulator AC22"
    assert list(station.connectors.order_by("connector_id").values_list("connector_id", "status")) == [
        (1, "Available"), (2, "Available")]


class SimulatorThread:
    """A simulator on its own event loop, so that a sync test can command it through the CSMS."""

    def __init__(self, config: SimulatorConfig) -> None:
        import threading

        self.config = config
        self.loop = asyncio.new_event_loop()
        self.stop: asyncio.Event | None = None
        self.cp = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.stop = asyncio.Event()
            self.cp = await run_simulator(self.config, self.stop)

        self.loop.run_until_complete(main())

    def __enter__(self) -> SimulatorThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=20)


def wait_until(predicate, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_the_csms_commands_the_simulator_through_the_command_ledger(start_daphne, settings):
    settings.CSMS_CALL_ACK_TIMEOUT = 5  # a loaded 2-core machine
    from stations.protocol.remote import call

    StationFactory(charge_point_id="SIM-E2E-2")
    IdTagFactory(id_tag="SIM-TAG-2", user=UserFactory())
    host = start_daphne()
    config = SimulatorConfig("SIM-E2E-2", url=f"ws://{host}/ocpp/", meter_interval=1, speed=60, seed=5)
    with SimulatorThread(config):
        wait_until(lambda: Station.objects.filter(charge_point_id="SIM-E2E-2", connected=True,
                                                  connectors__connector_id=2).exists())
        configuration = call("SIM-E2E-2", "GetConfiguration", {"key": ["NumberOfConnectors"]}, timeout=10)
        assert configuration.response["configurationKey"][0]["value"] == "2"

        started = call("SIM-E2E-2", "RemoteStartTransaction", {"idTag": "SIM-TAG-2", "connectorId": 2}, timeout=10)
        assert started.response == {"status": "Accepted"}
        wait_until(lambda: MeterValue.objects.filter(transaction__station__charge_point_id="SIM-E2E-2",
                                                     context="Sample.Periodic").exists())
        tx = Transaction.objects.get(station__charge_point_id="SIM-E2E-2", stopped_at__isnull=True)
        assert tx.connector.connector_id == 2

        stopped = call("SIM-E2E-2", "RemoteStopTransaction", {"transactionId": tx.pk}, timeout=10)
        assert stopped.response == {"status": "Accepted"}
        wait_until(lambda: Transaction.objects.filter(pk=tx.pk, stopped_at__isnull=False).exists())
    tx.refresh_from_db()
    assert tx.stop_reason == "Remote" and tx.meter_stop >= tx.meter_start
