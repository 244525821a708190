from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import Role, User


def make_user(email: str, role: str = Role.DRIVER, **fields: object) -> User:
    """A user without a password hash (hashing takes a second each): tests log in with force_login."""
    fields.setdefault("balance", Decimal("10.00"))
    return User.objects.create(email=email, role=role, **fields)


@pytest.fixture
def operator(db: None) -> User:
    return make_user("operator@example.com", Role.ADMIN)


@pytest.fixture
def superadmin(db: None) -> User:
    return make_user("root@example.com", Role.SUPER_ADMIN)


@pytest.fixture
def driver(db: None) -> User:
    return make_user("driver@example.com", Role.DRIVER)


@pytest.fixture
def operator_client(client: Client, operator: User) -> Client:
    client.force_login(operator)
    return client
