"""Domain errors: a stable code, a human message and the HTTP status the API answers with."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "error"
    status_code = 400
    default_message: Any = _("The request cannot be carried out.")

    def __init__(self, message: Any = None, *, code: str | None = None, **extra: Any) -> None:
        self.message = message if message is not None else self.default_message
        if code:
            self.code = code
        self.extra = extra
        super().__init__(str(self.message))


class NotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = _("Not found.")


class InvalidInput(DomainError):
    """Input that is well-formed but wrong. ``extra['errors']`` maps field names to messages."""

    code = "invalid"
    status_code = 400


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
    default_message = _("The current state does not allow this.")


class ChargerOffline(Conflict):
    code = "charger_offline"
    default_message = _("The charger is not connected.")


class ConnectorOccupied(Conflict):
    code = "connector_occupied"
    default_message = _("The connector is not free.")


class ChargerRejected(Conflict):
    """The charger answered Rejected (or another refusal); ``extra['status']`` carries it."""

    code = "charger_rejected"
    default_message = _("The charger refused the request.")


class InsufficientBalance(DomainError):
    code = "insufficient_balance"
    status_code = 402
    default_message = _("Your balance is too low.")


class ChargerCallError(DomainError):
    """The charger answered with a CALLERROR."""

    code = "charger_call_error"
    status_code = 502
    default_message = _("The charger answered with an error.")


class ChargerTimeout(DomainError):
    code = "charger_timeout"
    status_code = 504
    default_message = _("The charger did not answer in time.")
