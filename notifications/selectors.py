"""Reads of notifications and preferences."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from accounts.models import User
from notifications import messages
from notifications.models import Notification, NotificationChannel, NotificationPreference


def notification_list(*, user: User, unread: bool | None = None) -> QuerySet[Notification]:
    """The user's in-app notifications, newest first (``unread``: only unread, or only read)."""
    qs = Notification.objects.filter(user=user, in_app=True)
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs.order_by("-created_at", "-id")


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, in_app=True, read_at__isnull=True).count()


def notification_unread_counts_up_to(*, user: User, ids: list[int]) -> dict[int, int]:
    """For each of the user's notification ids, how many unread in-app ones the user had up to
    and including it (the count a push of that notification carries), in one query."""
    if not ids:
        return {}
    counts = Notification.objects.filter(
        user=user, in_app=True, read_at__isnull=True, pk__lte=max(ids)
    ).aggregate(**{f"n{i}": Count("pk", filter=Q(pk__lte=pk)) for i, pk in enumerate(ids)})
    return {pk: int(counts[f"n{i}"] or 0) for i, pk in enumerate(ids)}


def notification_preference_list(*, user: User) -> list[dict[str, Any]]:
    """One entry per kind the user's role receives: ``{kind, label, email, in_app}`` (no row: on)."""
    chosen = {
        (kind, channel): enabled
        for kind, channel, enabled in NotificationPreference.objects.filter(user=user).values_list(
            "kind", "channel", "enabled"
        )
    }
    labels = dict(messages.Kind.choices)
    return [
        {
            "kind": kind,
            "label": str(labels[kind]),
            **{channel: chosen.get((kind, channel), True) for channel in NotificationChannel.values},
        }
        for kind in messages.kinds_for_role(user.role)
    ]
