from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import STAFF_ROLES, Role


def is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role in STAFF_ROLES)


class IsAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return is_admin(request.user)


class IsPayingUser(BasePermission):
    """Drivers and admins; demo users are read-only and see no one's money."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.role != Role.DEMO)


class ReadAnyWriteAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return bool(request.user and request.user.is_authenticated)
        return is_admin(request.user)
