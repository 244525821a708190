"""Factories for transactions: ``TransactionFactory``, ``MeterValueFactory``."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from accounts.tests.factories import IdTagFactory
from stations.tests.factories import ConnectorFactory
from transactions.models import MeterValue, Transaction


class TransactionFactory(factory.django.DjangoModelFactory):
    """An active transaction on a connector, with the id tag's user.

    ``TransactionFactory(stopped=True)`` makes a finished one (meter_stop, stopped_at, energy).
    """

    class Meta:
        model = Transaction

    class Params:
        tag = factory.SubFactory(IdTagFactory)
        stopped = factory.Trait(
            stopped_at=factory.LazyAttribute(lambda o: o.started_at + dt.timedelta(hours=1)),
            meter_stop=factory.LazyAttribute(lambda o: o.meter_start + 7000),
            energy_wh=7000,
            stop_reason="Local",
        )

    connector = factory.SubFactory(ConnectorFactory)
    station = factory.LazyAttribute(lambda o: o.connector.station)
    id_tag = factory.LazyAttribute(lambda o: o.tag.id_tag)
    user = factory.LazyAttribute(lambda o: o.tag.user)
    meter_start = 1000
    started_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=30))
    currency = "EUR"
    tariff_snapshot = factory.LazyAttribute(
        lambda o: {"price_per_kwh": str(o.station.price_per_kwh), "currency": o.station.currency}
    )


class MeterValueFactory(factory.django.DjangoModelFactory):
    """An energy register sample of a transaction (value in Wh)."""

    class Meta:
        model = MeterValue

    transaction = factory.SubFactory(TransactionFactory)
    station = factory.LazyAttribute(lambda o: o.transaction.station)
    connector_id = factory.LazyAttribute(lambda o: o.transaction.connector.connector_id)
    timestamp = factory.Sequence(lambda n: timezone.now() - dt.timedelta(minutes=30) + dt.timedelta(seconds=60 * n))
    measurand = "Energy.Active.Import.Register"
    phase = ""
    location = "Outlet"
    context = "Sample.Periodic"
    unit = "Wh"
    value = 2000.0
    raw_value = factory.LazyAttribute(lambda o: str(int(o.value)))
    raw_unit = "Wh"
