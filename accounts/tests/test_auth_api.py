from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdTag, User
from accounts.tests.factories import UserFactory
from billing.models import LedgerEntry, LedgerKind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PASSWORD = "pass-word-123"
STRONG = "Sunny-Harbour-77"


def login(api: APIClient, email: str, password: str):  # type: ignore[no-untyped-def]
    return api.post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")


def test_register_creates_a_driver_with_an_id_tag_and_the_initial_balance(api, settings):
    settings.CSMS_INITIAL_BALANCE = Decimal("12.50")
    r = api.post("/api/v1/auth/register/", {"email": "Ada@Example.com", "password": STRONG,
                                             "first_name": "Ada", "last_name": "Lovelace"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {"user", "access", "refresh"}
    user = body["user"]
    assert user["email"] == "ada@example.com"
    assert user["role"] == "driver"
    assert user["balance"] == "12.50" and user["currency"] == "EUR"
    assert len(user["id_tags"]) == 1 and IdTag.objects.get(id_tag=user["id_tags"][0]).user_id == user["id"]
    entry = LedgerEntry.objects.get(user_id=user["id"])
    assert entry.kind == LedgerKind.INITIAL and entry.amount == Decimal("12.50")
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.get("/api/v1/me/").json()["email"] == "ada@example.com"


@pytest.mark.parametrize("payload, field", [
    ({"password": STRONG}, "email"),
    ({"email": "x@example.com"}, "password"),
    ({"email": "not-an-address", "password": STRONG}, "email"),
    ({"email": "x@example.com", "password": "123"}, "password"),
    ({"email": "x@example.com", "password": STRONG, "first_name": ["a"]}, "first_name"),
])
def test_register_bad_input_is_a_400_naming_the_field(api, payload, field):
    r = api.post("/api/v1/auth/register/", payload, format="json")
    assert r.status_code == 400
    assert field in r.json() and field in r.json()["detail"]
    assert User.objects.count() == 0


def test_register_with_a_taken_email_is_a_400(api):
    UserFactory(email="taken@example.com")
    r = api.post("/api/v1/auth/register/", {"email": "TAKEN@example.com", "password": STRONG}, format="json")
    assert r.status_code == 400 and "email" in r.json()


def test_token_with_good_credentials(api):
    UserFactory(email="d@example.com")
    r = login(api, "D@example.com", PASSWORD)
    assert r.status_code == 200 and set(r.json()) == {"access", "refresh"}


@pytest.mark.parametrize("email, password", [("d@example.com", "wrong"), ("nobody@example.com", PASSWORD)])
def test_token_with_bad_credentials_is_a_401(api, email, password):
    UserFactory(email="d@example.com")
    r = login(api, email, password)
    assert r.status_code == 401 and r.json()["detail"]


@pytest.mark.parametrize("payload, field", [({"password": PASSWORD}, "email"), ({"email": "d@example.com"}, "password"),
                                            ({"email": ["d@example.com"], "password": PASSWORD}, "email")])
def test_token_missing_or_wrong_typed_fields_are_a_400(api, payload, field):
    UserFactory(email="d@example.com")
    r = api.post("/api/v1/auth/token/", payload, format="json")
    assert r.status_code == 400 and field in r.json()


def test_blocked_user_cannot_log_in(api):
    UserFactory(email="d@example.com", is_active=False)
    assert login(api, "d@example.com", PASSWORD).status_code == 401


def test_lockout_after_max_wrong_passwords_then_unlocks(api, settings):
    settings.CSMS_LOGIN_MAX_ATTEMPTS = 3
    settings.CSMS_LOGIN_LOCKOUT_MINUTES = 5
    UserFactory(email="d@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(3):
            assert login(api, "d@example.com", "wrong").status_code == 401
        locked = login(api, "d@example.com", PASSWORD)
        assert locked.status_code == 401 and locked.json()["code"] == "account_locked"
        traveller.shift(timedelta(minutes=4, seconds=59))
        assert login(api, "d@example.com", PASSWORD).status_code == 401
        traveller.shift(timedelta(seconds=2))
        assert login(api, "d@example.com", PASSWORD).status_code == 200


def test_a_good_login_resets_the_failure_count(api, settings):
    settings.CSMS_LOGIN_MAX_ATTEMPTS = 3
    UserFactory(email="d@example.com")
    for _ in range(2):
        login(api, "d@example.com", "wrong")
    assert login(api, "d@example.com", PASSWORD).status_code == 200
    for _ in range(2):
        login(api, "d@example.com", "wrong")
    assert login(api, "d@example.com", PASSWORD).status_code == 200


def test_refresh_gives_a_new_access_token(api):
    UserFactory(email="d@example.com")
    refresh = login(api, "d@example.com", PASSWORD).json()["refresh"]
    r = api.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert r.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {r.json()['access']}")
    assert api.get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize("payload, status", [({}, 400), ({"refresh": "garbage"}, 401)])
def test_refresh_bad_input(api, payload, status):
    assert api.post("/api/v1/auth/token/refresh/", payload, format="json").status_code == status


def test_an_access_token_cannot_refresh(api):
    UserFactory(email="d@example.com")
    access = login(api, "d@example.com", PASSWORD).json()["access"]
    assert api.post("/api/v1/auth/token/refresh/", {"refresh": access}, format="json").status_code == 401


def test_verify(api):
    UserFactory(email="d@example.com")
    tokens = login(api, "d@example.com", PASSWORD).json()
    assert api.post("/api/v1/auth/token/verify/", {"token": tokens["access"]}, format="json").status_code == 200
    assert api.post("/api/v1/auth/token/verify/", {"token": "x.y.z"}, format="json").status_code == 401
    assert api.post("/api/v1/auth/token/verify/", {}, format="json").status_code == 400


def test_me_get_and_patch(api):
    user = UserFactory(email="d@example.com", first_name="A")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(api, 'd@example.com', PASSWORD).json()['access']}")
    body = api.get("/api/v1/me/").json()
    assert {"id", "email", "first_name", "last_name", "role", "balance", "currency", "id_tags"} <= set(body)
    assert body["balance"] == "10.00"
    r = api.patch("/api/v1/me/", {"first_name": "Bea", "time_zone": "Europe/Paris"}, format="json")
    assert r.status_code == 200 and r.json()["first_name"] == "Bea"
    user.refresh_from_db()
    assert user.first_name == "Bea" and user.time_zone == "Europe/Paris"


@pytest.mark.parametrize("payload, field", [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"language": "xx"}, "language"),
    ({"first_name": ["Bea"]}, "first_name"),
    ({"password": STRONG}, "current_password"),
    ({"password": STRONG, "current_password": "wrong"}, "current_password"),
    ({"password": "short", "current_password": PASSWORD}, "password"),
])
def test_me_patch_bad_input(api, payload, field):
    UserFactory(email="d@example.com")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(api, 'd@example.com', PASSWORD).json()['access']}")
    r = api.patch("/api/v1/me/", payload, format="json")
    assert r.status_code == 400 and field in r.json()


def test_me_cannot_change_role_or_balance(api):
    user = UserFactory(email="d@example.com")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(api, 'd@example.com', PASSWORD).json()['access']}")
    api.patch("/api/v1/me/", {"role": "admin", "balance": "999.00"}, format="json")
    user.refresh_from_db()
    assert user.role == "driver" and user.balance == Decimal("10.00")


def test_password_change_invalidates_earlier_tokens(api):
    UserFactory(email="d@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        old = login(api, "d@example.com", PASSWORD).json()
        traveller.shift(timedelta(seconds=5))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {old['access']}")
        r = client.patch("/api/v1/me/", {"password": STRONG, "current_password": PASSWORD}, format="json")
        assert r.status_code == 200
        fresh = r.json()
        traveller.shift(timedelta(seconds=5))
        assert client.get("/api/v1/me/").status_code == 401
        assert api.post("/api/v1/auth/token/refresh/", {"refresh": old["refresh"]}, format="json").status_code == 401
        assert api.post("/api/v1/auth/token/verify/", {"token": old["access"]}, format="json").status_code == 401
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
        assert client.get("/api/v1/me/").status_code == 200
        assert login(api, "d@example.com", STRONG).status_code == 200


def _reset_link() -> tuple[str, str, str]:
    body = mail.outbox[-1].body
    url = re.search(r"https?://\S+/accounts/reset/\S+/", body).group(0)
    uid = re.search(r"uid=(\S+)", body).group(1)
    token = re.search(r"token=(\S+)", body).group(1)
    return url, uid, token


def test_password_reset_by_json_is_single_use(api):
    UserFactory(email="d@example.com")
    r = api.post("/api/v1/auth/password-reset/", {"email": "d@example.com"}, format="json")
    assert r.status_code == 200 and len(mail.outbox) == 1 and mail.outbox[0].to == ["d@example.com"]
    _url, uid, token = _reset_link()
    payload = {"uid": uid, "token": token, "password": STRONG}
    assert api.post("/api/v1/auth/password-reset/confirm/", payload, format="json").status_code == 200
    assert login(api, "d@example.com", STRONG).status_code == 200
    again = api.post("/api/v1/auth/password-reset/confirm/", {**payload, "password": "Other-Pass-99"}, format="json")
    assert again.status_code == 400 and "token" in again.json()


def test_password_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(api):
    r = api.post("/api/v1/auth/password-reset/", {"email": "nobody@example.com"}, format="json")
    assert r.status_code == 200 and mail.outbox == []


def test_password_reset_token_expires(api, settings):
    settings.CSMS_PASSWORD_RESET_HOURS = 2
    UserFactory(email="d@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        api.post("/api/v1/auth/password-reset/", {"email": "d@example.com"}, format="json")
        _url, uid, token = _reset_link()
        traveller.shift(timedelta(hours=2, minutes=1))
        r = api.post("/api/v1/auth/password-reset/confirm/", {"uid": uid, "token": token, "password": STRONG},
                     format="json")
    assert r.status_code == 400 and "token" in r.json()


@pytest.mark.parametrize("payload, field", [
    ({"uid": "MQ", "token": "abc-def", "password": STRONG}, "token"),
    ({"uid": "MQ", "password": STRONG}, "token"),
])
def test_password_reset_confirm_bad_input(api, payload, field):
    UserFactory(email="d@example.com")
    r = api.post("/api/v1/auth/password-reset/confirm/", payload, format="json")
    assert r.status_code == 400 and field in r.json()


def test_password_reset_page_sets_the_password_once(client):
    UserFactory(email="d@example.com")
    APIClient().post("/api/v1/auth/password-reset/", {"email": "d@example.com"}, format="json")
    url, _uid, _token = _reset_link()
    path = url.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200 and b'name="password"' in page.content
    mismatch = client.post("/" + path, {"password": STRONG, "password2": "other"})
    assert mismatch.status_code == 400
    done = client.post("/" + path, {"password": STRONG, "password2": STRONG})
    assert done.status_code == 200 and b'id="done"' in done.content
    assert User.objects.get(email="d@example.com").check_password(STRONG)
    assert client.get("/" + path).status_code == 400
