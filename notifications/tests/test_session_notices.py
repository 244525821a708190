"""A batch's session notices sent together (the group committer's after-commit work) store and
push exactly what sending them one by one does."""

from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import IdTagFactory, UserFactory
from core.events import PublishOnCommit
from notifications import services
from notifications.models import Notification, NotificationChannel, NotificationKind, NotificationPreference
from notifications.selectors import notification_unread_counts_up_to
from notifications.tests.fixtures import celery_eager  # noqa: F401
from transactions.models import Transaction
from transactions.tests.factories import TransactionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.usefixtures("celery_eager")]

STORED = ("user_id", "kind", "dedup_key", "title", "body", "data", "in_app", "email")


def sessions() -> list[services.SessionNotice]:
    """Starts and stops of several drivers: one low on credit, one who turned in-app off for
    starts, one inactive, one session without a driver, and a stop seen twice."""
    poor = UserFactory(balance=Decimal("1.00"), language="fr")
    quiet = UserFactory(balance=Decimal("80.00"))
    NotificationPreference.objects.create(
        user=quiet, kind=NotificationKind.CHARGING_STARTED, channel=NotificationChannel.IN_APP, enabled=False
    )
    gone = UserFactory(is_active=False)
    started = [TransactionFactory(tag=IdTagFactory(user=user)) for user in (poor, quiet, gone)]
    anonymous = TransactionFactory(tag=IdTagFactory(user=None))
    stopped = [TransactionFactory(stopped=True, tag=IdTagFactory(user=user), cost=Decimal("2.10"))
               for user in (poor, quiet)]
    notices = [services.SessionNotice(tx, stopped=False) for tx in [*started, anonymous]]
    notices += [services.SessionNotice(tx, stopped=True) for tx in stopped]
    notices.append(services.SessionNotice(stopped[0], stopped=True))  # a resent stop
    return notices


def outcome(run: Any, django_capture_on_commit_callbacks: Any) -> tuple[list[tuple[Any, ...]], list[Any], list[str]]:
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run()
    pushes = [(c.group, c.event["notification"]["title"], c.event["notification"]["id"])
              for c in callbacks if isinstance(c, PublishOnCommit)]
    for callback in callbacks:
        callback()
    rows = sorted(Notification.objects.values_list(*STORED), key=repr)
    return rows, pushes, sorted(m.subject for m in mail.outbox)


def test_sent_together_as_one_by_one(django_capture_on_commit_callbacks: Any) -> None:
    notices = sessions()
    one_by_one = outcome(lambda: [notice() for notice in notices], django_capture_on_commit_callbacks)
    ends = dict(Transaction.objects.values_list("pk", "end_of_charge_at"))
    Notification.objects.all().delete()
    Transaction.objects.update(end_of_charge_at=None)
    one_by_one = (one_by_one[0], [push[:2] for push in one_by_one[1]], one_by_one[2])

    queries = CaptureQueriesContext(connection)

    def together_run() -> None:
        with queries:
            services.SessionNotice.run_many(notices)

    together = outcome(together_run, django_capture_on_commit_callbacks)
    together = (together[0], [push[:2] for push in together[1]], together[2])
    assert together == one_by_one
    assert dict(Transaction.objects.values_list("pk", "end_of_charge_at")) == ends
    rows, pushes, subjects = together
    kinds = sorted(kind for _user, kind, *_rest in rows)
    assert kinds == sorted([NotificationKind.CHARGING_STARTED] * 2 + [NotificationKind.CHARGING_FINISHED] * 2
                           + [NotificationKind.LOW_BALANCE])
    assert len(pushes) == 4  # the quiet driver's start is stored, not pushed
    assert len(subjects) == 5
    # One UPDATE, the users, the preferences, one INSERT (and a savepoint pair); no unread counts.
    assert len(queries) <= 6, [q["sql"][:80] for q in queries.captured_queries]


def test_the_unread_count_of_each_push_grows_one_by_one(django_capture_on_commit_callbacks: Any) -> None:
    user = UserFactory(balance=Decimal("1.00"))
    a, b = (TransactionFactory(stopped=True, tag=IdTagFactory(user=user)) for _ in range(2))
    _rows, pushes, _subjects = outcome(
        lambda: services.SessionNotice.run_many(
            [services.SessionNotice(a, stopped=True), services.SessionNotice(b, stopped=True)]
        ),
        django_capture_on_commit_callbacks,
    )
    ids = [pk for _group, _title, pk in pushes]
    # What the listening user's consumer adds to each push as it forwards it.
    assert list(notification_unread_counts_up_to(user=user, ids=ids).values()) == [1, 2, 3, 4]
    Notification.objects.filter(pk=ids[1]).update(read_at=timezone.now())
    assert notification_unread_counts_up_to(user=user, ids=ids) == dict(zip(ids, [1, 1, 2, 3]))


def test_a_repeat_sends_nothing(django_capture_on_commit_callbacks: Any) -> None:
    notices = sessions()
    outcome(lambda: services.SessionNotice.run_many(notices), django_capture_on_commit_callbacks)
    rows, pushes, subjects = outcome(lambda: services.SessionNotice.run_many(notices),
                                     django_capture_on_commit_callbacks)
    assert len(rows) == 5 and pushes == [] and subjects == []
