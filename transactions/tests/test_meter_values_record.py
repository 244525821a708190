from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from transactions.models import MeterValue, Transaction
from transactions.services import meter_values_record, samples_parse
from transactions.tests.conftest import T0
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def sample(minutes: float, *values: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": (T0 + timedelta(minutes=minutes)).isoformat(), "sampled_value": list(values)}


@pytest.fixture
def tx(connector, id_tag) -> Transaction:
    return TransactionFactory(connector=connector, tag=id_tag, meter_start=1000, started_at=T0,
                              tariff_snapshot={"price_per_kwh": "0.30", "currency": "EUR"})


def record(tx: Transaction, *entries: dict[str, Any], transaction_id: int | None = -1) -> int:
    return meter_values_record(
        charge_point_id="CP-1", connector_id=1, meter_values=list(entries), now=T0,
        transaction_id=tx.pk if transaction_id == -1 else transaction_id,
    )


def test_units_are_normalised_and_raw_kept() -> None:
    samples = samples_parse([sample(1,
        {"value": "1.5", "unit": "kWh"},
        {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import", "phase": "L1"},
        {"value": "230", "unit": "V", "measurand": "Voltage", "phase": "L1-N", "location": "Inlet",
         "context": "Sample.Clock"},
        {"value": "55", "measurand": "SoC", "location": "EV"},
        {"value": "3", "unit": "kvarh", "measurand": "Energy.Reactive.Import.Register"},
        {"value": "abcdef", "format": "SignedData"},
        {"value": "NaN"}, {"value": "inf", "measurand": "Power.Active.Import"}, {"value": "-1e400"},
    )])
    assert [(s.measurand, s.unit, s.value, s.raw_value, s.raw_unit) for s in samples] == [
        ("Energy.Active.Import.Register", "Wh", 1500.0, "1.5", "kWh"),
        ("Power.Active.Import", "W", 7200.0, "7.2", "kW"),
        ("Voltage", "V", 230.0, "230", "V"),
        ("SoC", "Percent", 55.0, "55", ""),
        ("Energy.Reactive.Import.Register", "varh", 3000.0, "3", "kvarh"),
    ]
    assert (samples[2].phase, samples[2].location, samples[2].context) == ("L1-N", "Inlet", "Sample.Clock")


def test_meter_values_update_the_running_figures_and_cost(tx) -> None:
    record(tx, sample(10,
        {"value": "4.0", "unit": "kWh"},
        {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "40", "measurand": "SoC", "unit": "Percent"},
    ))
    tx.refresh_from_db()
    assert (tx.energy_wh, tx.power_w, tx.soc) == (3000, 7000.0, 40.0)
    assert tx.last_meter_at == T0 + timedelta(minutes=10)
    assert str(tx.cost) == "0.90"
    assert MeterValue.objects.filter(transaction=tx).count() == 3


def test_per_phase_power_is_summed(tx) -> None:
    record(tx, sample(1, *({"value": "2", "unit": "kW", "measurand": "Power.Active.Import", "phase": p}
                          for p in ("L1", "L2", "L3"))))
    tx.refresh_from_db()
    assert tx.power_w == 6000.0


def test_resent_meter_values_store_nothing_new(tx) -> None:
    entry = sample(5, {"value": "2000"}, {"value": "3000", "measurand": "Power.Active.Import"})
    record(tx, entry)
    record(tx, entry)
    assert MeterValue.objects.count() == 2
    tx.refresh_from_db()
    assert tx.energy_wh == 1000


def test_register_going_backwards_is_flagged_and_not_trusted(tx) -> None:
    record(tx, sample(5, {"value": "5000"}))
    record(tx, sample(6, {"value": "4000"}))
    tx.refresh_from_db()
    assert tx.energy_wh == 4000 and tx.meter_anomaly
    suspect = MeterValue.objects.get(value=4000)
    assert suspect.suspect
    assert not MeterValue.objects.get(value=5000).suspect
    record(tx, sample(7, {"value": "5500"}))
    tx.refresh_from_db()
    assert tx.energy_wh == 4500


def test_late_samples_are_stored_with_their_own_time_and_change_no_figure(tx) -> None:
    record(tx, sample(10, {"value": "5000"}))
    record(tx, sample(3, {"value": "2500"}))
    tx.refresh_from_db()
    assert tx.energy_wh == 4000 and tx.last_meter_at == T0 + timedelta(minutes=10)
    assert list(MeterValue.objects.order_by("timestamp").values_list("timestamp", flat=True)) == [
        T0 + timedelta(minutes=3), T0 + timedelta(minutes=10)]


def test_without_transaction_id_samples_join_the_active_session(tx) -> None:
    record(tx, sample(2, {"value": "1500"}), transaction_id=None)
    assert MeterValue.objects.get().transaction_id == tx.pk


def test_unknown_transaction_id_keeps_samples_without_session(tx) -> None:
    record(tx, sample(2, {"value": "1500"}), transaction_id=999999)
    assert MeterValue.objects.get().transaction_id is None
    tx.refresh_from_db()
    assert tx.energy_wh == 0
