"""JWT authentication that also refuses tokens issued before the user's last password change."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.tokens import Token

from accounts.models import User


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


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token: Token) -> User:
        user: User = super().get_user(validated_token)
        if token_is_stale(user, validated_token):
            raise AuthenticationFailed(
                _("The password was changed: log in again."), code="password_changed"
            )
        return user
