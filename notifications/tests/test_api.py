"""GET /api/v1/notifications/, POST …/<id>/read/, POST …/read-all/, GET/PUT …/preferences/."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.api_fixtures import bearer
from accounts.tests.factories import AdminFactory, UserFactory
from notifications.models import NotificationKind, NotificationPreference
from notifications.services import notification_send

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def notify(user, key, kind=NotificationKind.LOW_BALANCE):
    return notification_send(user=user, kind=kind, dedup_key=key, params={"balance": "1.00", "currency": "EUR"})


@pytest.fixture
def driver():
    return UserFactory()


def test_anonymous_is_refused():
    client = APIClient()
    assert client.get("/api/v1/notifications/").status_code == 401
    assert client.post("/api/v1/notifications/read-all/").status_code == 401
    assert client.get("/api/v1/notifications/preferences/").status_code == 401


def test_the_list_shows_only_the_callers_in_app_notifications_newest_first(driver):
    first, second = notify(driver, "a"), notify(driver, "b")
    notify(UserFactory(), "a")
    NotificationPreference.objects.create(user=driver, kind=NotificationKind.LOW_BALANCE, channel="in_app",
                                          enabled=False)
    notify(driver, "c")  # e-mail only: not listed

    body = bearer(driver).get("/api/v1/notifications/").json()

    assert body["count"] == 2 and body["next"] is None
    assert [n["id"] for n in body["results"]] == [second.pk, first.pk]
    assert set(body["results"][0]) == {"id", "kind", "title", "body", "data", "created_at", "read_at", "read"}
    assert body["results"][0]["read"] is False


def test_marking_one_read_and_filtering_unread(driver):
    first, second = notify(driver, "a"), notify(driver, "b")
    client = bearer(driver)
    response = client.post(f"/api/v1/notifications/{first.pk}/read/")
    assert response.status_code == 200
    assert response.json()["read"] is True
    unread = client.get("/api/v1/notifications/?unread=true").json()
    assert [n["id"] for n in unread["results"]] == [second.pk]
    read = client.get("/api/v1/notifications/?unread=false").json()
    assert [n["id"] for n in read["results"]] == [first.pk]


def test_someone_elses_or_an_unknown_notification_is_404(driver):
    other = notify(UserFactory(), "a")
    client = bearer(driver)
    assert client.post(f"/api/v1/notifications/{other.pk}/read/").status_code == 404
    assert client.post("/api/v1/notifications/999999/read/").status_code == 404
    assert "detail" in client.post("/api/v1/notifications/999999/read/").json()


def test_read_all(driver):
    notify(driver, "a"), notify(driver, "b")
    client = bearer(driver)
    assert client.post("/api/v1/notifications/read-all/").json() == {"marked": 2, "unread": 0}
    assert client.post("/api/v1/notifications/read-all/").json() == {"marked": 0, "unread": 0}


def test_preferences_default_on_and_drivers_see_only_their_kinds(driver):
    body = bearer(driver).get("/api/v1/notifications/preferences/").json()
    kinds = {p["kind"] for p in body["results"]}
    assert body["count"] == len(body["results"])
    assert NotificationKind.CHARGING_FINISHED in kinds and NotificationKind.STATION_OFFLINE not in kinds
    assert all(p["email"] and p["in_app"] for p in body["results"])


def test_admins_also_get_the_operator_kinds():
    body = bearer(AdminFactory()).get("/api/v1/notifications/preferences/").json()
    assert NotificationKind.STATION_OFFLINE in {p["kind"] for p in body["results"]}


def test_put_preferences_changes_only_what_it_names(driver):
    client = bearer(driver)
    response = client.put("/api/v1/notifications/preferences/", {"results": [
        {"kind": "charging_finished", "email": False},
        {"kind": "low_balance", "email": False, "in_app": False},
    ]}, format="json")
    assert response.status_code == 200
    prefs = {p["kind"]: p for p in response.json()["results"]}
    assert (prefs["charging_finished"]["email"], prefs["charging_finished"]["in_app"]) == (False, True)
    assert (prefs["low_balance"]["email"], prefs["low_balance"]["in_app"]) == (False, False)
    assert prefs["receipt"]["email"] is True

    again = client.put("/api/v1/notifications/preferences/", [{"kind": "charging_finished", "email": True}],
                       format="json")
    assert {p["kind"]: p for p in again.json()["results"]}["charging_finished"]["email"] is True


@pytest.mark.parametrize("body", [
    {"results": [{"kind": "no_such_kind", "email": False}]},
    {"results": [{"kind": "low_balance", "email": "maybe"}]},
    {"results": [{"email": False}]},
    {"nothing": []},
])
def test_put_preferences_rejects_bad_input(driver, body):
    response = bearer(driver).put("/api/v1/notifications/preferences/", body, format="json")
    assert response.status_code == 400
    assert "detail" in response.json()
    assert not NotificationPreference.objects.filter(user=driver).exists()


def test_a_driver_cannot_choose_operator_kinds(driver):
    response = bearer(driver).put("/api/v1/notifications/preferences/",
                                  {"results": [{"kind": "station_offline", "email": False}]}, format="json")
    assert response.status_code == 400


def test_demo_users_have_their_own_notifications_too():
    demo = UserFactory(role=Role.DEMO)
    notify(demo, "a")
    assert bearer(demo).get("/api/v1/notifications/").json()["count"] == 1
