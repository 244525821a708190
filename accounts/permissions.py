"""The role matrix, enforced by DRF permissions.

===================================  =========  ====  ======  =====  ===========
what                                 anonymous  demo  driver  admin  super admin
===================================  =========  ====  ======  =====  ===========
stations, station, QR codes (read)   yes        yes   yes     yes    yes
station create / update / dismiss    401        403   403     yes    yes
own profile (read)                   401        yes   yes     yes    yes
own profile (update)                 401        403   yes     yes    yes
start, stop, reserve, cancel         401        403   own     all    all
transactions, reservations (read)    401        403   own     all    all
users, id tags, reports, CSV export  401        403   403     yes    yes
make or change an admin              401        403   403     403    yes
===================================  =========  ====  ======  =====  ===========

Demo users are read-only and see no one's data: in a station's last charge and last
reservation, user and id tag are shown only to admins and to the user they belong to.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import STAFF_ROLES, Role

CHARGING_ROLES = (Role.SUPER_ADMIN, Role.ADMIN, Role.DRIVER)


def _role(request: Request) -> str | None:
    user = request.user
    if not user or not user.is_authenticated or not user.is_active:
        return None
    return str(user.role)


def is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role in STAFF_ROLES)


def is_super_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role == Role.SUPER_ADMIN)


class IsAdmin(BasePermission):
    """Admins and super admins."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return _role(request) in STAFF_ROLES


class IsSuperAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return _role(request) == Role.SUPER_ADMIN


class CanCharge(BasePermission):
    """Start, stop, reserve, cancel; read own sessions and reservations (not demo)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return _role(request) in CHARGING_ROLES


class IsUser(BasePermission):
    """Any logged-in role; demo users only read."""

    def has_permission(self, request: Request, view: Any) -> bool:
        role = _role(request)
        if role is None:
            return False
        return role != Role.DEMO or request.method in SAFE_METHODS


class ReadAnyoneWriteAdmin(BasePermission):
    """Stations: everyone reads (anonymous too); only admins write."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return _role(request) in STAFF_ROLES
