"""Factories for stations: ``StationFactory``, ``ConnectorFactory``, ``OcppMessageFactory``."""

from __future__ import annotations

from typing import Any

import factory
from django.utils import timezone

from stations.models import Connector, ConnectorStatus, OcppMessage, RegistrationStatus, Station


class StationFactory(factory.django.DjangoModelFactory):
    """An accepted station without password, never connected.

    ``StationFactory(password="secret")`` sets the Basic-auth password;
    ``StationFactory(online=True)`` makes it connected and recently seen (status ``available``).
    """

    class Meta:
        model = Station
        django_get_or_create = ("charge_point_id",)
        skip_postgeneration_save = True

    class Params:
        online = factory.Trait(
            connected=True,
            connected_at=factory.LazyFunction(timezone.now),
            last_boot_at=factory.LazyFunction(timezone.now),
            last_heartbeat=factory.LazyFunction(timezone.now),
            vendor="ACME",
            model="Wallbox 22",
        )

    charge_point_id = factory.Sequence(lambda n: f"CP-{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Station {o.charge_point_id}")
    registration_status = RegistrationStatus.ACCEPTED
    heartbeat_interval = 60

    @factory.post_generation
    def password(obj: Station, create: bool, extracted: str | None, **kwargs: Any) -> None:  # noqa: N805
        if extracted:
            obj.set_password(extracted)
            if create:
                obj.save(update_fields=["password_hash"])


class ConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connector
        django_get_or_create = ("station", "connector_id")

    station = factory.SubFactory(StationFactory)
    connector_id = 1
    status = ConnectorStatus.AVAILABLE
    error_code = "NoError"


class OcppMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OcppMessage

    station = factory.SubFactory(StationFactory)
    charge_point_id = factory.LazyAttribute(lambda o: o.station.charge_point_id if o.station else "")
    direction = "in"
    message_type = 2
    action = "Heartbeat"
    unique_id = factory.Sequence(lambda n: f"msg-{n}")
    payload = factory.LazyFunction(dict)
