"""JWT authentication that also refuses tokens issued before the user's last password change."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from django.db import connection
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from accounts.models import User
from core import sql


def token_is_stale(user: User, token: Token | dict[str, Any]) -> bool:
    """True when the token was issued before the user last set a password.

    ``iat`` has one-second resolution, so the change instant is truncated to the second: a token
    issued in the same second as the change stays valid (the tokens a password change hands back
    must work), one issued in any earlier second does not.
    """
    changed = user.password_changed_at
    if changed is None:
        return False
    iat = token.get("iat")
    if iat is None:
        return True
    return int(iat) < int(changed.timestamp())


def _user_by_id(user_id: Any) -> User | None:
    """The user row in one hand-written query (every API call authenticates)."""
    names, select = sql.columns(User, "u")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {select} FROM "{User._meta.db_table}" u WHERE u.id = %s', [int(user_id)])
        row = cursor.fetchone()
    return sql.instance(User, names, row) if row is not None else None


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token: Token) -> User:
        fast = (connection.vendor == "postgresql" and api_settings.USER_ID_FIELD == "id"
                and not api_settings.CHECK_REVOKE_TOKEN)
        if not fast:
            user: User = super().get_user(validated_token)
        else:  # simplejwt's get_user, with the row read without the ORM compiler
            try:
                user_id = validated_token[api_settings.USER_ID_CLAIM]
            except KeyError as e:
                raise InvalidToken(_("Token contained no recognizable user identification")) from e
            try:
                found = _user_by_id(user_id)
            except (TypeError, ValueError):
                found = None
            if found is None:
                raise AuthenticationFailed(_("User not found"), code="user_not_found")
            user = found
            if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
                raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if token_is_stale(user, validated_token):
            raise AuthenticationFailed(
                _("The password was changed: log in again."), code="password_changed"
            )
        return user
