from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import IdTag, User
from accounts.tests.factories import IdTagFactory, UserFactory
from billing.models import LedgerEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def run(path, *args) -> str:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("import_users", str(path), *args, stdout=out)
    return out.getvalue()


def test_json_import_creates_skips_and_rejects(tmp_path, settings):
    settings.CSMS_INITIAL_BALANCE = Decimal("5.00")
    UserFactory(email="old@example.com")
    IdTagFactory(id_tag="TAKEN", user=None)
    path = tmp_path / "users.json"
    path.write_text(json.dumps([
        {"email": "ada@example.com", "first_name": "Ada", "role": "admin", "password": "Sunny-Harbour-77",
         "id_tags": ["CARD-1", "CARD-2"], "balance": "20.00"},
        {"email": "bob@example.com"},
        {"email": "OLD@example.com"},
        {"email": "not-an-email"},
        {"email": "eve@example.com", "role": "emperor"},
        {"email": "tag@example.com", "id_tags": ["TAKEN"]},
        {"email": "long@example.com", "id_tags": ["X" * 21]},
        {"email": "money@example.com", "balance": "lots"},
        {"email": "twice@example.com", "id_tags": ["SAME", "SAME"]},
    ]))
    out = run(path)
    assert "created 2, skipped 1, rejected 6." in out
    assert "rejected eve@example.com: unknown role emperor" in out
    ada = User.objects.get(email="ada@example.com")
    assert ada.role == "admin" and ada.check_password("Sunny-Harbour-77") and ada.balance == Decimal("20.00")
    assert sorted(ada.id_tags.values_list("id_tag", flat=True)) == ["CARD-1", "CARD-2"]
    bob = User.objects.get(email="bob@example.com")
    assert bob.role == "driver" and not bob.has_usable_password() and bob.balance == Decimal("5.00")
    assert bob.id_tags.count() == 1
    assert LedgerEntry.objects.filter(user=bob, kind="initial").count() == 1
    assert not User.objects.filter(email__in=["eve@example.com", "tag@example.com", "long@example.com",
                                             "twice@example.com"]).exists()


def test_csv_import_with_semicolon_separated_tags(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("email,first_name,last_name,role,id_tags\ncarla@example.com,Carla,Rossi,driver,A1;B2\n"
                    "dan@example.com,Dan,,demo,\n")
    assert "created 2, skipped 0, rejected 0." in run(path)
    assert sorted(IdTag.objects.filter(user__email="carla@example.com").values_list("id_tag", flat=True)) == ["A1", "B2"]
    assert User.objects.get(email="dan@example.com").role == "demo"


def test_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": [{"email": "ada@example.com"}]}))
    assert "Would have created 1" in run(path, "--dry-run")
    assert not User.objects.exists() and not IdTag.objects.exists()


def test_running_it_twice_skips_everyone(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps([{"email": "ada@example.com", "id_tags": ["CARD-1"]}]))
    run(path)
    assert "created 0, skipped 1, rejected 0." in run(path)


@pytest.mark.parametrize("name, content", [("users.json", "{not json"), ("users.json", "[1, 2]"),
                                           ("users.txt", "email\n")])
def test_unreadable_files_are_a_command_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CommandError):
        run(path)


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError):
        run(tmp_path / "nope.json")
