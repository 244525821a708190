from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from dashboard.tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_creating_a_user_in_the_admin_sets_the_password(client: Client) -> None:
    client.force_login(make_user("root@example.com", Role.SUPER_ADMIN))
    response = client.post(reverse("admin:accounts_user_add"), {
        "email": "new@example.com", "role": Role.DRIVER, "usable_password": "true",
        "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42",
    })
    assert response.status_code == 302, response.content.decode()[-3000:]
    user = User.objects.get(email="new@example.com")
    assert user.check_password("a-long-Passphrase-42")


def test_the_user_list_shows_role_and_balance(client: Client) -> None:
    client.force_login(make_user("root@example.com", Role.SUPER_ADMIN))
    make_user("driver@example.com", Role.DRIVER, balance="12.50")
    html = client.get(reverse("admin:accounts_user_changelist"), {"role__exact": Role.DRIVER}).content.decode()
    assert "driver@example.com" in html and "12.50" in html


def test_an_admin_cannot_make_admins_in_the_admin(client: Client) -> None:
    client.force_login(make_user("op@example.com", Role.ADMIN))
    driver = make_user("driver@example.com", Role.DRIVER)
    form = client.get(reverse("admin:accounts_user_change", args=[driver.pk])).context["adminform"].form
    assert {v for v, _label in form.fields["role"].choices} == {Role.DRIVER, Role.DEMO}


def test_a_super_admin_changes_a_role_through_the_service(client: Client) -> None:
    client.force_login(make_user("root@example.com", Role.SUPER_ADMIN))
    driver = make_user("driver@example.com", Role.DRIVER)
    response = client.post(reverse("admin:accounts_user_change", args=[driver.pk]), {
        "email": driver.email, "first_name": "", "last_name": "", "language": "", "time_zone": "",
        "role": Role.ADMIN, "is_active": "on", "currency": "EUR",
        "id_tags-TOTAL_FORMS": "0", "id_tags-INITIAL_FORMS": "0",
        "ledger-TOTAL_FORMS": "0", "ledger-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[-3000:]
    driver.refresh_from_db()
    assert driver.role == Role.ADMIN


def test_the_credit_action_adds_one_ledger_entry_per_user(client: Client) -> None:
    from billing.models import LedgerEntry

    client.force_login(make_user("root@example.com", Role.SUPER_ADMIN))
    driver = make_user("driver@example.com", Role.DRIVER, balance="0.00")
    url = reverse("admin:accounts_user_changelist")
    page = client.post(url, {"action": "credit_users", "_selected_action": [driver.pk]})
    assert page.status_code == 200 and "driver@example.com" in page.content.decode()
    client.post(url, {"action": "credit_users", "_selected_action": [driver.pk], "apply": "1",
                      "amount": "15.00", "reason": "welcome"})
    driver.refresh_from_db()
    assert str(driver.balance) == "15.00"
    assert list(LedgerEntry.objects.filter(user=driver).values_list("amount", "reason")) == [(15, "welcome")]
