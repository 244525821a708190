"""Errors of the accounts domain (rendered by core.exception_handlers like every DomainError)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError, InvalidInput


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status_code = 401
    default_message = _("No active account found with the given credentials.")


class AccountLocked(InvalidCredentials):
    code = "account_locked"
    default_message = _("Too many failed attempts: the account is locked for a few minutes.")


class Forbidden(DomainError):
    code = "forbidden"
    status_code = 403
    default_message = _("You do not have permission to perform this action.")


def field_error(field: str, *messages: str) -> InvalidInput:
    """A 400 naming the field, shaped like DRF's own: ``{"detail", field: [...], "errors": {...}}``."""
    listed = [str(m) for m in messages]
    return InvalidInput(f"Invalid input: {field}.", errors={field: listed}, **{field: listed})
