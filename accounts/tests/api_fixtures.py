"""Fixtures for API tests of every area: clients logged in with a real JWT per role.

Imported by the conftest.py of accounts/tests, stations/tests/api, transactions/tests/api and
reservations/tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Role, User
from accounts.tests.factories import IdTagFactory, UserFactory

ROLES = ["anonymous", Role.DEMO.value, Role.DRIVER.value, Role.ADMIN.value, Role.SUPER_ADMIN.value]


def bearer(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Factories hash a password per user; PBKDF2 would dominate these tests' time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_client(db: None) -> Callable[..., tuple[APIClient, User | None]]:
    """``make_client(role)`` → (client, user); ``"anonymous"`` gives no token and no user.
    Every user gets an accepted id tag."""

    def make(role: str, **fields: object) -> tuple[APIClient, User | None]:
        if role == "anonymous":
            return APIClient(), None
        user = UserFactory(role=role, **fields)
        IdTagFactory(user=user)
        return bearer(user), user

    return make


@pytest.fixture
def driver(db: None) -> User:
    user = UserFactory(role=Role.DRIVER)
    IdTagFactory(user=user)
    return user


@pytest.fixture
def admin(db: None) -> User:
    user = UserFactory(role=Role.ADMIN)
    IdTagFactory(user=user)
    return user


@pytest.fixture
def super_admin(db: None) -> User:
    return UserFactory(role=Role.SUPER_ADMIN)


@pytest.fixture
def driver_client(driver: User) -> APIClient:
    return bearer(driver)


@pytest.fixture
def admin_client(admin: User) -> APIClient:
    return bearer(admin)
