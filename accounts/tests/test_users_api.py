from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import IdTag, User
from accounts.tests.api_fixtures import bearer
from accounts.tests.factories import AdminFactory, IdTagFactory, UserFactory
from billing.models import LedgerEntry, LedgerKind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_admin_lists_users_with_filters(admin_client, admin):
    UserFactory(email="ada@example.com", first_name="Ada")
    UserFactory(email="bob@example.com", role="demo", is_active=False)
    body = admin_client.get("/api/v1/users/").json()
    assert body["count"] == 3
    row = next(u for u in body["results"] if u["email"] == "ada@example.com")
    assert {"id", "email", "role", "balance", "currency", "id_tags", "is_active"} <= set(row)
    assert [u["email"] for u in admin_client.get("/api/v1/users/", {"role": "demo"}).json()["results"]] == ["bob@example.com"]
    assert [u["email"] for u in admin_client.get("/api/v1/users/", {"search": "ada"}).json()["results"]] == ["ada@example.com"]
    assert admin_client.get("/api/v1/users/", {"is_active": "false"}).json()["count"] == 1


def test_admin_changes_a_role_and_blocks_a_driver(admin_client):
    user = UserFactory()
    r = admin_client.patch(f"/api/v1/users/{user.pk}/", {"role": "demo"}, format="json")
    assert r.status_code == 200 and r.json()["role"] == "demo"
    r = admin_client.patch(f"/api/v1/users/{user.pk}/", {"is_active": False}, format="json")
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert bearer(user).get("/api/v1/me/").status_code == 401  # a blocked user's tokens stop working


def test_only_a_super_admin_makes_or_changes_admins(admin_client, super_admin):
    driver, other_admin = UserFactory(), AdminFactory()
    assert admin_client.patch(f"/api/v1/users/{driver.pk}/", {"role": "admin"}, format="json").status_code == 403
    assert admin_client.patch(f"/api/v1/users/{driver.pk}/", {"role": "super_admin"}, format="json").status_code == 403
    assert admin_client.patch(f"/api/v1/users/{other_admin.pk}/", {"role": "driver"}, format="json").status_code == 403
    boss = bearer(super_admin)
    assert boss.patch(f"/api/v1/users/{driver.pk}/", {"role": "admin"}, format="json").json()["role"] == "admin"
    assert boss.patch(f"/api/v1/users/{other_admin.pk}/", {"role": "driver"}, format="json").json()["role"] == "driver"


def test_nobody_demotes_or_blocks_themselves(super_admin):
    boss = bearer(super_admin)
    assert boss.patch(f"/api/v1/users/{super_admin.pk}/", {"role": "driver"}, format="json").status_code == 403
    assert boss.patch(f"/api/v1/users/{super_admin.pk}/", {"is_active": False}, format="json").status_code == 403
    assert User.objects.get(pk=super_admin.pk).role == "super_admin"


@pytest.mark.parametrize("payload, field", [({"role": "emperor"}, "role"), ({"is_active": "perhaps"}, "is_active")])
def test_user_update_bad_input(admin_client, payload, field):
    user = UserFactory()
    r = admin_client.patch(f"/api/v1/users/{user.pk}/", payload, format="json")
    assert r.status_code == 400 and field in r.json()


def test_unknown_user_is_a_404(admin_client):
    assert admin_client.get("/api/v1/users/999999/").status_code == 404
    assert admin_client.patch("/api/v1/users/999999/", {"role": "demo"}, format="json").status_code == 404
    assert admin_client.post("/api/v1/users/999999/credit/", {"amount": "1.00"}, format="json").status_code == 404


def test_credit_writes_a_ledger_entry_and_answers_the_new_balance(admin_client, admin):
    user = UserFactory(balance=Decimal("0.00"))
    r = admin_client.post(f"/api/v1/users/{user.pk}/credit/", {"amount": "15.50", "reason": "cash"}, format="json")
    assert r.status_code == 200 and r.json()["balance"] == "15.50" and r.json()["currency"] == "EUR"
    r = admin_client.post(f"/api/v1/users/{user.pk}/credit/", {"amount": "-0.50", "reason": "correction"}, format="json")
    assert r.json()["balance"] == "15.00"
    entries = list(LedgerEntry.objects.filter(user=user).order_by("id").values_list("kind", "amount", "created_by"))
    assert entries == [(LedgerKind.TOPUP, Decimal("15.50"), admin.pk), (LedgerKind.ADJUSTMENT, Decimal("-0.50"), admin.pk)]


@pytest.mark.parametrize("payload", [{}, {"amount": "ten"}, {"amount": "1.001"}, {"amount": "0"}, {"amount": "0.00"}])
def test_credit_bad_input_is_a_400_naming_amount(admin_client, payload):
    user = UserFactory()
    r = admin_client.post(f"/api/v1/users/{user.pk}/credit/", payload, format="json")
    assert r.status_code == 400 and "amount" in r.json()
    assert not LedgerEntry.objects.filter(user=user).exists()


def test_id_tags_create_list_block(admin_client):
    owner = UserFactory()
    r = admin_client.post("/api/v1/id-tags/", {"id_tag": "04A2B3C4", "user": owner.pk, "status": "Accepted",
                                               "expiry_date": "2027-01-01T00:00:00Z"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body == {**body, "id_tag": "04A2B3C4", "user": owner.pk, "status": "Accepted",
                    "expiry_date": "2027-01-01T00:00:00Z"}
    free = admin_client.post("/api/v1/id-tags/", {"id_tag": "FLEET-1", "user": None}, format="json").json()
    assert free["user"] is None and free["status"] == "Accepted"
    listed = admin_client.get("/api/v1/id-tags/").json()
    assert {"04A2B3C4", "FLEET-1"} <= {t["id_tag"] for t in listed["results"]}
    assert admin_client.get("/api/v1/id-tags/", {"user": owner.pk}).json()["count"] == 1
    blocked = admin_client.post(f"/api/v1/id-tags/{body['id']}/block/")
    assert blocked.status_code == 200 and blocked.json()["status"] == "Blocked"
    assert admin_client.get("/api/v1/id-tags/", {"status": "Blocked"}).json()["count"] == 1
    expired = admin_client.patch(f"/api/v1/id-tags/{free['id']}/", {"status": "Expired"}, format="json")
    assert expired.json()["status"] == "Expired"


@pytest.mark.parametrize("payload, field", [
    ({}, "id_tag"), ({"id_tag": "X" * 21}, "id_tag"), ({"id_tag": "TAKEN"}, "id_tag"),
    ({"id_tag": "T2", "user": 999999}, "user"), ({"id_tag": "T2", "status": "Lost"}, "status"),
    ({"id_tag": "T2", "expiry_date": "soon"}, "expiry_date"), ({"id_tag": "T2", "parent": "NOPE"}, "parent"),
])
def test_id_tag_create_bad_input(admin_client, payload, field):
    IdTagFactory(id_tag="TAKEN", user=None)
    before = IdTag.objects.count()
    r = admin_client.post("/api/v1/id-tags/", payload, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert IdTag.objects.count() == before


def test_id_tag_unknown_is_a_404(admin_client):
    assert admin_client.post("/api/v1/id-tags/999999/block/").status_code == 404
    assert admin_client.patch("/api/v1/id-tags/999999/", {"status": "Blocked"}, format="json").status_code == 404
