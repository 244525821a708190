from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest

from accounts.authorization import id_tag_authorize
from accounts.models import IdTagStatus
from accounts.tests.factories import IdTagFactory, UserFactory
from transactions.tests.factories import TransactionFactory

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=dt_timezone.utc)

pytestmark = pytest.mark.django_db


def status(id_tag: str, **kwargs: object) -> str:
    return id_tag_authorize(id_tag=id_tag, now=T0, **kwargs).status  # type: ignore[arg-type]


def test_accepted_tag_names_its_user_and_expiry() -> None:
    tag = IdTagFactory(id_tag="OK", expiry_date=T0 + timedelta(days=1))
    info = id_tag_authorize(id_tag="OK", now=T0)
    assert info.accepted and info.user_id == tag.user_id
    assert info.as_ocpp() == {"status": "Accepted", "expiry_date": "2026-03-02T10:00:00Z"}


def test_unknown_tag_is_invalid() -> None:
    assert status("NOPE") == "Invalid"


def test_blocked_tag_and_blocked_user_are_blocked() -> None:
    IdTagFactory(id_tag="B1", status=IdTagStatus.BLOCKED)
    IdTagFactory(id_tag="B2", user=UserFactory(is_active=False))
    assert status("B1") == "Blocked"
    assert status("B2") == "Blocked"


def test_expired_by_status_or_by_date() -> None:
    IdTagFactory(id_tag="E1", status=IdTagStatus.EXPIRED)
    IdTagFactory(id_tag="E2", expiry_date=T0 - timedelta(seconds=1))
    assert status("E1") == "Expired"
    assert status("E2") == "Expired"


def test_child_of_a_blocked_parent_is_blocked_and_names_the_parent() -> None:
    parent = IdTagFactory(id_tag="PARENT", status=IdTagStatus.BLOCKED)
    IdTagFactory(id_tag="CHILD", parent=parent)
    info = id_tag_authorize(id_tag="CHILD", now=T0)
    assert info.status == "Blocked" and info.parent_id_tag == "PARENT"


def test_tag_with_an_active_session_is_concurrent_tx() -> None:
    tx = TransactionFactory(tag=IdTagFactory(id_tag="BUSY"))
    assert status("BUSY") == "ConcurrentTx"
    assert status("BUSY", exclude_transaction_id=tx.pk) == "Accepted"
    assert status("BUSY", check_concurrent=False) == "Accepted"
