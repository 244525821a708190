"""Factories for accounts: ``UserFactory(email=, role=)``, ``IdTagFactory(id_tag=, user=, status=)``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory

from accounts.models import IdTag, IdTagStatus, Role, User


class UserFactory(factory.django.DjangoModelFactory):
    """A driver with a usable password (``password``, default "pass-word-123") and some credit."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    role = Role.DRIVER
    balance = Decimal("10.00")
    currency = "EUR"

    @factory.post_generation
    def password(obj: User, create: bool, extracted: str | None, **kwargs: Any) -> None:  # noqa: N805
        obj.set_password(extracted or "pass-word-123")
        if create:
            obj.save(update_fields=["password", "password_changed_at"])


class AdminFactory(UserFactory):
    role = Role.ADMIN


class IdTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdTag
        django_get_or_create = ("id_tag",)

    id_tag = factory.Sequence(lambda n: f"TAG{n:05d}")
    user = factory.SubFactory(UserFactory)
    status = IdTagStatus.ACCEPTED
    expiry_date = None
