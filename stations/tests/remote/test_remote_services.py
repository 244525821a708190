"""Power limit and local list services, against the in-process charger (real channel layer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.models import IdTagStatus
from accounts.tests.factories import IdTagFactory, UserFactory
from stations import remote_services
from stations.command_effects import POWER_LIMIT_PROFILE_ID
from stations.models import ChargingProfile, Station

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def _sync(fn: Any) -> Any:
    return database_sync_to_async(fn, thread_sensitive=False)


async def test_power_limit_is_sent_as_charge_point_max_profile(linked_consumer: Any) -> None:
    consumer = await linked_consumer(power_limit_w=11000)
    command = await _sync(remote_services.power_limit_send)(charge_point_id=consumer.charge_point_id)
    assert command.response == {"status": "Accepted"}
    [(action, payload)] = consumer.charger.received
    assert action == "SetChargingProfile" and payload["connectorId"] == 0
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 11000.0}]
    stored = await database_sync_to_async(ChargingProfile.objects.get)(is_power_limit=True, cleared_at__isnull=True)
    assert stored.profile_id == POWER_LIMIT_PROFILE_ID


async def test_power_limit_falls_back_to_tx_default_profile_when_rejected(linked_consumer: Any) -> None:
    consumer = await linked_consumer(power_limit_w=7000)
    original = consumer.charger._answer  # this charger rejects ChargePointMaxProfile

    async def answer(action: str, kwargs: dict[str, Any]) -> Any:
        purpose = kwargs.get("cs_charging_profiles", {}).get("charging_profile_purpose")
        consumer.charger.behaviour["SetChargingProfile"] = (
            {"status": "Rejected"} if purpose == "ChargePointMaxProfile" else {"status": "Accepted"})
        return await original(action, kwargs)

    consumer.charger._answer = answer
    command = await _sync(remote_services.power_limit_send)(charge_point_id=consumer.charge_point_id)
    assert command.response == {"status": "Accepted"}
    purposes = [p["csChargingProfiles"]["chargingProfilePurpose"] for _, p in consumer.charger.received]
    assert purposes == ["ChargePointMaxProfile", "TxDefaultProfile"]
    active = await database_sync_to_async(
        lambda: list(ChargingProfile.objects.filter(is_power_limit=True, cleared_at__isnull=True).values_list("purpose", flat=True)))()
    assert active == ["TxDefaultProfile"]


async def test_power_limit_is_sent_again_after_a_reboot(linked_consumer: Any) -> None:
    consumer = await linked_consumer(power_limit_w=11000, last_boot_at=timezone.now() - timedelta(hours=1))
    await _sync(remote_services.power_limit_send)(charge_point_id=consumer.charge_point_id)
    assert not await _sync(remote_services.power_limit_needs_resend)(charge_point_id=consumer.charge_point_id)
    # The charger reboots: a BootNotification newer than the accepted profile, then ready again.
    await database_sync_to_async(Station.objects.filter(charge_point_id=consumer.charge_point_id).update)(
        last_boot_at=timezone.now() + timedelta(seconds=1))
    assert await _sync(remote_services.power_limit_needs_resend)(charge_point_id=consumer.charge_point_id)
    await consumer.commands_on_ready()
    await consumer._commands_ready_task
    assert [a for a, _ in consumer.charger.received] == ["SetChargingProfile", "SetChargingProfile"]


async def test_no_power_limit_sends_nothing_on_ready(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    await consumer.commands_on_ready()
    await consumer._commands_ready_task
    assert consumer.charger.received == []


async def test_full_local_list_push_sends_every_tag_with_its_status_and_next_version(linked_consumer: Any) -> None:
    consumer = await linked_consumer(local_list_version=4)

    def tags() -> None:
        IdTagFactory(id_tag="GOOD")
        IdTagFactory(id_tag="BLOCKED", status=IdTagStatus.BLOCKED)
        IdTagFactory(id_tag="OLD", expiry_date=timezone.now() - timedelta(days=1))
        IdTagFactory(id_tag="GONEUSER", user=UserFactory(is_active=False))

    await database_sync_to_async(tags)()
    command = await _sync(remote_services.local_list_push)(charge_point_id=consumer.charge_point_id)
    assert command.response == {"status": "Accepted"}
    [(_, payload)] = consumer.charger.received
    assert payload["listVersion"] == 5 and payload["updateType"] == "Full"
    statuses = {e["idTag"]: e["idTagInfo"]["status"] for e in payload["localAuthorizationList"]}
    assert statuses == {"BLOCKED": "Blocked", "GOOD": "Accepted", "OLD": "Expired"}
    station = await database_sync_to_async(Station.objects.get)(charge_point_id=consumer.charge_point_id)
    assert station.local_list_version == 5


async def test_differential_local_list_push_sends_only_the_named_tags(linked_consumer: Any) -> None:
    consumer = await linked_consumer()
    await database_sync_to_async(IdTagFactory)(id_tag="BLOCKED", status=IdTagStatus.BLOCKED)
    await _sync(remote_services.local_list_push)(
        charge_point_id=consumer.charge_point_id, full=False, id_tags=["BLOCKED", "DELETED"])
    [(_, payload)] = consumer.charger.received
    assert payload["updateType"] == "Differential"
    assert payload["localAuthorizationList"] == [
        {"idTag": "BLOCKED", "idTagInfo": {"status": "Blocked"}}, {"idTag": "DELETED"}]
