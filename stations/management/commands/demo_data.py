"""``manage.py demo_data``: what ``make run`` needs to be tried at once. Safe to run again.

Creates (only what is missing; it never overwrites what an operator changed):
an admin and a driver with credit, whose credentials it prints; the driver's id tags DEMO-TAG-1
and DEMO-TAG-2 and a blocked one, DEMO-BLOCKED; the charge points DEMO-1 and DEMO-2 near Genoa,
accepted without a password, two Type 2 connectors each; a default tariff.

Passwords are random at the first run and kept in ``<CSMS_VAR_DIR>/demo-accounts.json``
(readable by the owner only) so that later runs can print them again.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import IdTag, IdTagStatus, Role, User
from billing.models import LedgerEntry, LedgerKind, Tariff
from billing.services import ledger_credit
from stations.models import Connector, RegistrationStatus, Station

ADMIN_EMAIL = "admin@example.com"
DRIVER_EMAIL = "driver@example.com"
DRIVER_CREDIT = Decimal("50.00")
DRIVER_CREDIT_REF = "demo-data:driver-credit"
DEMO_ID_TAGS = (("DEMO-TAG-1", IdTagStatus.ACCEPTED), ("DEMO-TAG-2", IdTagStatus.ACCEPTED),
                ("DEMO-BLOCKED", IdTagStatus.BLOCKED))
DEMO_STATIONS = (
    {"charge_point_id": "DEMO-1", "name": "Genova Porto Antico", "address": "Calata Molo Vecchio, Genova",
     "latitude": Decimal("44.409730"), "longitude": Decimal("8.926910"),
     "description": "Demo charger: two Type 2 sockets, 22 kW."},
    {"charge_point_id": "DEMO-2", "name": "Genova Brignole", "address": "Piazza Verdi, Genova",
     "latitude": Decimal("44.406240"), "longitude": Decimal("8.946900"),
     "description": "Demo charger: two Type 2 sockets, 22 kW."},
)


@dataclass
class DemoAccount:
    role: str
    email: str
    password: str | None  # None: changed since it was generated (not shown)
    created: bool


@dataclass
class DemoData:
    accounts: list[DemoAccount] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # what this run added


def _secrets_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-accounts.json"


def _load_secrets() -> dict[str, str]:
    try:
        return dict(json.loads(_secrets_path().read_text()))
    except (OSError, ValueError):
        return {}


def _save_secrets(data: dict[str, str]) -> None:
    path = _secrets_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def _account(email: str, role: str, first_name: str, last_name: str, stored: dict[str, str],
             result: DemoData) -> User:
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if user is None:
        password = secrets.token_urlsafe(9)
        user = User.objects.create_user(email, password, role=role, first_name=first_name, last_name=last_name,
                                        currency=settings.CSMS_CURRENCY)
        stored[email] = password
        result.created.append(f"user {email}")
    password = stored.get(email)
    shown = password if password and user.check_password(password) else None
    result.accounts.append(DemoAccount(role=role, email=email, password=shown, created=created))
    return user


@transaction.atomic
def demo_data_ensure() -> DemoData:
    """Create whatever of the demo data is missing. Returns the accounts and what was added."""
    result = DemoData()
    stored = _load_secrets()

    _account(ADMIN_EMAIL, Role.SUPER_ADMIN, "Demo", "Admin", stored, result)
    driver = _account(DRIVER_EMAIL, Role.DRIVER, "Demo", "Driver", stored, result)
    if not LedgerEntry.objects.filter(external_ref=DRIVER_CREDIT_REF).exists():
        ledger_credit(user_id=driver.pk, amount=DRIVER_CREDIT, kind=LedgerKind.TOPUP,
                      reason="Demo credit", external_ref=DRIVER_CREDIT_REF)
        result.created.append(f"credit {DRIVER_CREDIT} {driver.currency} for {driver.email}")
    for tag, status in DEMO_ID_TAGS:
        _tag, created = IdTag.objects.get_or_create(
            id_tag=tag, defaults={"user": driver, "status": status, "description": "Demo card"})
        if created:
            result.created.append(f"id tag {tag}")

    if not Tariff.objects.filter(is_default=True).exists():
        Tariff.objects.create(name="Standard", currency=settings.CSMS_CURRENCY, price_per_kwh=Decimal("0.30"),
                              is_default=True)
        result.created.append("default tariff")

    for spec in DEMO_STATIONS:
        station, created = Station.objects.get_or_create(
            charge_point_id=spec["charge_point_id"],
            defaults={**spec, "registration_status": RegistrationStatus.ACCEPTED, "password_hash": "",
                      "currency": settings.CSMS_CURRENCY},
        )
        if created:
            result.created.append(f"station {station.charge_point_id}")
            for number in (1, 2):
                Connector.objects.get_or_create(
                    station=station, connector_id=number,
                    defaults={"connector_type": "Type2", "max_power_kw": Decimal("22.0")})

    if result.created:
        _save_secrets(stored)
    return result


class Command(BaseCommand):
    help = "Create the demo accounts, id tags, charge points and tariff (only what is missing)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_data_ensure()
        out = self.stdout
        if result.created:
            out.write("Demo data created: " + ", ".join(result.created) + ".")
        out.write("")
        out.write(self.style.SUCCESS("Demo accounts (admin at /admin/, dashboard at /dashboard/, API at /api/v1/docs/):"))
        for account in result.accounts:
            password = account.password or "(changed since it was generated; not shown)"
            out.write(f"  {account.role:<12} {account.email:<22} password: {password}")
        tags = ", ".join(tag for tag, status in DEMO_ID_TAGS if status == IdTagStatus.ACCEPTED)
        out.write(f"  driver id tags: {tags} (DEMO-BLOCKED is blocked)")
        out.write("Demo chargers: DEMO-1, DEMO-2 (accepted, no password). Try one:")
        port = os.environ.get("PORT", "8000")
        python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else "python"
        out.write(f"  {python} manage.py simulate_charger DEMO-1 --url ws://127.0.0.1:{port}/ocpp/ --sessions 1")
        out.write("")
