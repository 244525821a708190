from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from dashboard.tests.conftest import make_user
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db


def test_selected_transactions_export_as_csv(client: Client) -> None:
    client.force_login(make_user("op@example.com", Role.ADMIN))
    done = TransactionFactory(stopped=True, cost="2.10")
    TransactionFactory()
    response = client.post(reverse("admin:transactions_transaction_changelist"), {
        "action": "export_csv", "_selected_action": [done.pk]})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    assert rows[0]["id"] == str(done.pk)
    assert rows[0]["energy_kwh"] == "7.000" and rows[0]["cost"] == "2.10" and rows[0]["active"] == "no"


def test_the_transaction_list_filters_active_sessions(client: Client) -> None:
    client.force_login(make_user("op@example.com", Role.ADMIN))
    TransactionFactory(stopped=True)
    active = TransactionFactory()
    listing = client.get(reverse("admin:transactions_transaction_changelist"), {"active": "yes"})
    assert [t.pk for t in listing.context["cl"].result_list] == [active.pk]
    assert client.get(reverse("admin:transactions_transaction_change", args=[active.pk])).status_code == 200
