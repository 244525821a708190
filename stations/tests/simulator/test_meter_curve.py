"""The simulated car and meter: a CC/CV charging curve and a consistent meter reading."""

from __future__ import annotations

import random

from stations.simulator import Meter, Vehicle


def test_power_is_constant_below_the_cv_threshold():
    vehicle = Vehicle(soc=0.3, max_power_w=11_000, ramp_seconds=0)
    assert vehicle.acceptance_w(elapsed_s=100) == 11_000


def test_power_tapers_above_the_cv_threshold():
    low = Vehicle(soc=0.85, max_power_w=11_000, ramp_seconds=0).acceptance_w(elapsed_s=100)
    high = Vehicle(soc=0.95, max_power_w=11_000, ramp_seconds=0).acceptance_w(elapsed_s=100)
    assert 11_000 > low > high > 0


def test_a_full_battery_takes_no_power():
    assert Vehicle(soc=1.0).acceptance_w(elapsed_s=100) == 0


def test_power_ramps_up_at_the_start():
    vehicle = Vehicle(soc=0.3, max_power_w=11_000, ramp_seconds=10)
    assert vehicle.acceptance_w(elapsed_s=1) < vehicle.acceptance_w(elapsed_s=5) < 11_000


def test_the_charger_limit_caps_the_power():
    meter = Meter(energy_wh=1000, rng=random.Random(1))
    sample = meter.step(vehicle=Vehicle(soc=0.3, max_power_w=22_000, ramp_seconds=0),
                        limit_w=7_000, elapsed_s=60, dt_s=1)
    assert 6_900 <= sample.power_w <= 7_100


def test_the_register_integrates_power_over_time():
    meter = Meter(energy_wh=1000, rng=random.Random(1))
    vehicle = Vehicle(soc=0.3, max_power_w=11_000, ramp_seconds=0)
    for _ in range(3600):
        meter.step(vehicle=vehicle, limit_w=22_000, elapsed_s=60, dt_s=1)
    assert 1000 + 10_800 < meter.energy_wh < 1000 + 11_200  # about 11 kWh in an hour
    assert 0.45 < vehicle.soc < 0.50  # 11 kWh × 92 % into 60 kWh


def test_a_long_session_ends_with_a_full_battery_and_no_power():
    meter = Meter(rng=random.Random(1))
    vehicle = Vehicle(soc=0.9, capacity_wh=10_000, max_power_w=11_000, ramp_seconds=0)
    for _ in range(3 * 3600):
        sample = meter.step(vehicle=vehicle, limit_w=22_000, elapsed_s=60, dt_s=1)
    assert vehicle.soc == 1.0
    assert sample.power_w == 0


def test_phase_currents_and_voltages_add_up_to_the_power():
    meter = Meter(rng=random.Random(1))
    sample = meter.step(vehicle=Vehicle(soc=0.3, max_power_w=11_000, ramp_seconds=0),
                        limit_w=22_000, elapsed_s=60, dt_s=1)
    total = sum(v * a for v, a in zip(sample.voltage_v, sample.current_a))
    assert abs(total - sample.power_w) < 1
    assert all(225 <= v <= 235 for v in sample.voltage_v)


def test_sampled_values_carry_measurand_unit_phase_and_context():
    meter = Meter(energy_wh=1234.4, rng=random.Random(1))
    values = meter.step(vehicle=Vehicle(soc=0.5, ramp_seconds=0), limit_w=11_000, elapsed_s=60,
                        dt_s=1).sampled_values(context="Sample.Periodic")
    by_key = {(v["measurand"], v.get("phase")): v for v in values}
    assert by_key[("Energy.Active.Import.Register", None)]["unit"] == "Wh"
    assert by_key[("Power.Active.Import", None)]["unit"] == "W"
    assert by_key[("SoC", None)]["location"] == "EV"
    assert {p for (m, p) in by_key if m == "Voltage"} == {"L1-N", "L2-N", "L3-N"}
    assert {p for (m, p) in by_key if m == "Current.Import"} == {"L1", "L2", "L3"}
    assert all(isinstance(v["value"], str) and v["context"] == "Sample.Periodic" for v in values)
