"""``manage.py demo_data``, run by ``make run``: what it creates, and that a second run changes nothing."""

from __future__ import annotations

import io
import json
import stat
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import IdTag, Role, User
from billing.models import LedgerEntry, Tariff
from stations.models import Connector, Station


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def run() -> str:
    out = io.StringIO()
    call_command("demo_data", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_an_admin_whose_credentials_it_prints():
    output = run()
    admin = User.objects.get(email="admin@example.com")
    line = next(line for line in output.splitlines() if "admin@example.com" in line and "password:" in line)
    password = line.split("password:")[1].strip()
    assert admin.role == Role.SUPER_ADMIN and admin.is_staff
    assert admin.check_password(password)


@pytest.mark.django_db
def test_the_driver_has_credit_through_the_ledger_and_id_tags():
    run()
    driver = User.objects.get(email="driver@example.com")
    assert driver.role == Role.DRIVER
    assert driver.balance == Decimal("50.00")
    assert sum(e.amount for e in LedgerEntry.objects.filter(user=driver)) == driver.balance
    tags = {t.id_tag: t.status for t in IdTag.objects.filter(user=driver)}
    assert tags == {"DEMO-TAG-1": "Accepted", "DEMO-TAG-2": "Accepted", "DEMO-BLOCKED": "Blocked"}


@pytest.mark.django_db
def test_two_demo_stations_accepted_without_password_near_genoa():
    run()
    stations = Station.objects.order_by("charge_point_id")
    assert [s.charge_point_id for s in stations] == ["DEMO-1", "DEMO-2"]
    for station in stations:
        assert station.registration_status == "Accepted"
        assert station.password_hash == ""
        assert 44.3 < float(station.latitude) < 44.5 and 8.8 < float(station.longitude) < 9.1
        assert list(Connector.objects.filter(station=station).values_list("connector_id", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_a_default_tariff_exists():
    run()
    assert Tariff.objects.get(is_default=True).price_per_kwh == Decimal("0.30")


@pytest.mark.django_db
def test_a_second_run_changes_nothing_and_prints_the_same_passwords():
    first = run()
    counts = (User.objects.count(), Station.objects.count(), Connector.objects.count(), IdTag.objects.count(),
              LedgerEntry.objects.count(), Tariff.objects.count())
    second = run()
    assert counts == (User.objects.count(), Station.objects.count(), Connector.objects.count(),
                      IdTag.objects.count(), LedgerEntry.objects.count(), Tariff.objects.count())
    assert User.objects.get(email="driver@example.com").balance == Decimal("50.00")
    passwords = [line for line in first.splitlines() if "password:" in line]
    assert passwords == [line for line in second.splitlines() if "password:" in line]
    assert "Demo data created" not in second


@pytest.mark.django_db
def test_an_operators_changes_survive_a_second_run():
    run()
    Station.objects.filter(charge_point_id="DEMO-1").update(name="Renamed", price_per_kwh=Decimal("0.45"))
    admin = User.objects.get(email="admin@example.com")
    admin.set_password("a-new-secret-9")
    admin.save()
    output = run()
    station = Station.objects.get(charge_point_id="DEMO-1")
    assert (station.name, station.price_per_kwh) == ("Renamed", Decimal("0.45"))
    assert User.objects.get(email="admin@example.com").check_password("a-new-secret-9")
    assert "changed since it was generated" in output


@pytest.mark.django_db
def test_the_passwords_file_is_readable_by_its_owner_only(var_dir):
    run()
    path = var_dir / "demo-accounts.json"
    assert set(json.loads(path.read_text())) == {"admin@example.com", "driver@example.com"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
