from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.exceptions import AccountLocked, InvalidCredentials
from accounts.services import user_authenticate
from accounts.tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_parallel_wrong_passwords_all_count(settings):
    """Guesses sent in parallel are each counted (UPDATE … F()), so they cannot outrun the lockout."""
    settings.CSMS_LOGIN_MAX_ATTEMPTS = 3
    UserFactory(email="d@example.com")

    def guess(_: int) -> str:
        try:
            user_authenticate(email="d@example.com", password="wrong")
        except InvalidCredentials as exc:
            return exc.code
        finally:
            connection.close()
        return "ok"

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(guess, range(3))) == ["invalid_credentials"] * 3
    with pytest.raises(AccountLocked):
        user_authenticate(email="d@example.com", password="pass-word-123")
