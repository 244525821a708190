"""Reads of the accounts area."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import IdTag, User


def user_list(*, role: str | None = None, search: str | None = None, is_active: bool | None = None) -> QuerySet[User]:
    qs = User.objects.prefetch_related(Prefetch("id_tags", queryset=IdTag.objects.order_by("id_tag")))
    if role:
        qs = qs.filter(role=role)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    if search:
        qs = qs.filter(Q(email__icontains=search) | Q(first_name__icontains=search) | Q(last_name__icontains=search))
    return qs.order_by("email")


def id_tag_list(*, user_id: int | None = None, status: str | None = None, search: str | None = None) -> QuerySet[IdTag]:
    qs = IdTag.objects.select_related("user", "parent")
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(id_tag__icontains=search)
    return qs.order_by("id_tag")


def user_charging_id_tag(*, user: User) -> IdTag | None:
    """The id tag the API uses to charge for the user: their first accepted, unexpired tag."""
    from django.utils import timezone

    now = timezone.now()
    for tag in user.id_tags.filter(status="Accepted").order_by("created_at", "id"):
        if not tag.is_expired(now):
            return tag
    return None
