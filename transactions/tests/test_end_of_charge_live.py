"""End of charge end to end: a real ``ocpp`` charger on a live daphne, the job in this process.

The charger draws less than the station's threshold for its minutes; the watch job detects the
end of charge, tells the driver, and stops the session and unlocks the connector through the
remote call (Redis channel layer to the daphne holding the socket). Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async
from ocpp.v16 import call

from accounts.tests.factories import IdTagFactory
from notifications.models import Notification, NotificationKind
from stations.models import Command
from stations.tests.factories import ConnectorFactory, StationFactory
from stations.tests.remote.charger import TestCharger
from transactions.models import Transaction
from transactions.tasks import transaction_watch

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]


def ocpp_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await database_sync_to_async(predicate)()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_a_real_charger_is_stopped_and_unlocked_at_end_of_charge(start_daphne: Callable[..., str]) -> None:
    host = await asyncio.to_thread(start_daphne)

    def setup() -> tuple[str, str, int]:
        station = StationFactory(eoc_power_threshold_w=1000, eoc_minutes=1, eoc_stop_transaction=True,
                                 eoc_unlock_connector=True)
        ConnectorFactory(station=station, connector_id=1)
        tag = IdTagFactory()
        return station.charge_point_id, tag.id_tag, tag.user_id

    cp_id, id_tag, user_id = await database_sync_to_async(setup)()
    ws = await websockets.connect(f"ws://{host}/ocpp/{cp_id}", subprotocols=["ocpp1.6"])
    charger = TestCharger(cp_id, ws)
    runner = asyncio.create_task(charger.start())
    try:
        assert (await charger.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="W22"))).status == "Accepted"
        now = datetime.now(UTC)
        started = await charger.call(call.StartTransaction(
            connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=ocpp_time(now - timedelta(minutes=10))))
        tx_id = started.transaction_id
        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        for minutes_ago, watts, wh in ((5, 7400, 1500), (2, 300, 9000), (1, 250, 9004)):
            await charger.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[{
                "timestamp": ocpp_time(now - timedelta(minutes=minutes_ago)),
                "sampledValue": [
                    {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                ],
            }]))
        await wait_for(lambda: Transaction.objects.filter(pk=tx_id, energy_wh=8004).exists())

        result = await database_sync_to_async(transaction_watch)()

        assert result["end_of_charge_detected"] == [tx_id]
        assert result["end_of_charge_acted"] == [tx_id]
        await wait_for(lambda: len(charger.received) >= 2)
        assert charger.received == [("RemoteStopTransaction", {"transactionId": tx_id}),
                                    ("UnlockConnector", {"connectorId": 1})]
        await wait_for(lambda: Command.objects.filter(source="end_of_charge", state="answered").count() == 2)

        # The charger stops as asked; the driver hears start, end of charge and finish, once each.
        await charger.call(call.StopTransaction(meter_stop=9004, timestamp=ocpp_time(datetime.now(UTC)),
                                                transaction_id=tx_id, reason="Remote"))
        await wait_for(lambda: Notification.objects.filter(user_id=user_id, kind=NotificationKind.CHARGING_FINISHED).exists())
        kinds = await database_sync_to_async(
            lambda: sorted(Notification.objects.filter(user_id=user_id).values_list("kind", flat=True)))()
        assert kinds == sorted([NotificationKind.CHARGING_STARTED, NotificationKind.END_OF_CHARGE,
                                NotificationKind.CHARGING_FINISHED])
        again = await database_sync_to_async(transaction_watch)()
        assert again["end_of_charge_acted"] == []
    finally:
        await ws.close()
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
