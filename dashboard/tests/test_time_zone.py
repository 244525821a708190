from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from dashboard.tests.conftest import make_user
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db

STARTED = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("time_zone", "shown"), [("America/New_York", "6 a.m."), ("", "noon"), ("Asia/Tokyo", "7 p.m.")])
def test_times_are_shown_in_the_operators_time_zone(client: Client, time_zone: str, shown: str) -> None:
    # settings.TIME_ZONE (Europe/Rome) is the default: 10:00 UTC is noon in July there.
    client.force_login(make_user("op@example.com", Role.ADMIN, time_zone=time_zone))
    TransactionFactory(started_at=STARTED, stopped=True)
    html = client.get(reverse("dashboard:transactions")).content.decode()
    assert f"07/01/2026 {shown}" in html


def test_the_language_switcher_translates_the_pages(client: Client) -> None:
    client.force_login(make_user("op@example.com", Role.ADMIN))
    client.post(reverse("set_language"), {"language": "de", "next": reverse("dashboard:overview")})
    html = client.get(reverse("dashboard:overview")).content.decode()
    assert '<html lang="de">' in html
    assert "Stationen" in html


def test_pages_are_in_the_users_language_until_the_switcher_says_otherwise(client: Client) -> None:
    client.force_login(make_user("op@example.com", Role.ADMIN, language="it"))
    assert "Panoramica" in client.get(reverse("dashboard:overview")).content.decode()
    client.post(reverse("set_language"), {"language": "fr", "next": reverse("dashboard:overview")})
    assert "<h2>Carte</h2>" in client.get(reverse("dashboard:overview")).content.decode()
