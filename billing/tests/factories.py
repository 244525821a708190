"""Factories for billing: ``TariffFactory``, ``TariffPeriodFactory``, ``LedgerEntryFactory``-free by design.

Ledger entries are made through ``billing.services.ledger_credit`` only, so the balance stays the sum.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import factory

from billing.models import Tariff, TariffPeriod


class TariffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tariff

    name = factory.Sequence(lambda n: f"Tariff {n}")
    currency = "EUR"
    price_per_kwh = Decimal("0.30")


class TariffPeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TariffPeriod

    tariff = factory.SubFactory(TariffFactory)
    weekdays = factory.LazyFunction(list)
    start_time = time(18)
    end_time = time(22)
    price_per_kwh = Decimal("0.50")
    name = "peak"
