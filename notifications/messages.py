"""The texts of every notification kind, as gettext msgids rendered in the recipient's language.

Titles and bodies are ``%``-format strings over named parameters; the parameters are stored
in ``Notification.data`` so a page can show them again. Rendering happens under
``translation.override(user.language)`` in ``notifications.services``.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.models import STAFF_ROLES
from notifications.models import NotificationKind

Kind = NotificationKind

TEXTS: dict[str, tuple[Any, Any]] = {
    Kind.CHARGING_STARTED: (
        _("Charging started"),
        _("Your charging session %(transaction_id)s started at %(station)s, connector %(connector)s."),
    ),
    Kind.CHARGING_FINISHED: (
        _("Charging finished"),
        _("Your charging session %(transaction_id)s at %(station)s finished: %(energy_kwh)s kWh, "
          "%(cost)s %(currency)s."),
    ),
    Kind.END_OF_CHARGE: (
        _("Your car has finished charging"),
        _("Your car at %(station)s, connector %(connector)s, is no longer charging "
          "(%(energy_kwh)s kWh so far). Please unplug it to free the connector."),
    ),
    Kind.THRESHOLD_REACHED: (
        _("Charging threshold reached"),
        _("Your session at %(station)s reached %(threshold)s%% %(what)s."),
    ),
    Kind.IDLE_FEE_STARTED: (
        _("Idle fee started"),
        _("Your car at %(station)s, connector %(connector)s, is no longer charging; an idle fee of "
          "%(fee)s %(currency)s per minute applies from now on until you unplug it."),
    ),
    Kind.RESERVATION_EXPIRING: (
        _("Reservation about to expire"),
        _("Your reservation %(reservation_id)s at %(station)s expires in %(minutes)s minutes."),
    ),
    Kind.RESERVATION_EXPIRED: (
        _("Reservation expired"),
        _("Your reservation %(reservation_id)s at %(station)s has expired; the connector is free again."),
    ),
    Kind.LOW_BALANCE: (
        _("Low balance"),
        _("Your balance is %(balance)s %(currency)s. Top up to keep charging."),
    ),
    Kind.RECEIPT: (
        _("Receipt for charging session %(transaction_id)s"),
        _("Charging session %(transaction_id)s at %(station)s: %(energy_kwh)s kWh, total "
          "%(cost)s %(currency)s."),
    ),
    Kind.STATION_FAULTED: (
        _("Station %(station)s is faulted"),
        _("Station %(station)s reported Faulted (%(error_code)s) on connector %(connector)s."),
    ),
    Kind.STATION_OFFLINE: (
        _("Station %(station)s is offline"),
        _("Station %(station)s has sent nothing since %(last_seen)s."),
    ),
    Kind.UNKNOWN_CHARGER: (
        _("Unknown charger tried to connect"),
        _("A charger with the unknown id %(charge_point_id)s tried to connect: %(reason)s."),
    ),
    Kind.DAILY_SUMMARY: (
        _("Daily summary for %(day)s"),
        _("%(sessions)s sessions, %(energy_kwh)s kWh, revenue %(revenue)s; %(faulted)s faulted and "
          "%(offline)s offline stations."),
    ),
    Kind.TRANSACTION_FLAGGED: (
        _("Session %(transaction_id)s flagged"),
        _("Session %(transaction_id)s at %(station)s needs an operator's attention: %(reason)s."),
    ),
}

# Extra texts: operators' variants (kind, title, body) and words used inside parameters.
STUCK_FAULTED_TITLE = _("Station %(station)s is still faulted")
STUCK_FAULTED = _("Station %(station)s has been faulted for %(minutes)s minutes.")
SILENT_TRANSACTION = _("Session %(transaction_id)s at %(station)s has sent no meter value for %(minutes)s minutes.")
INFERRED_STOPPED = _("Session %(transaction_id)s at %(station)s is inferred stopped: the charger has been gone "
                     "since %(last_seen)s.")
SOC_WHAT = _("state of charge")
ENERGY_WHAT = _("of the requested energy")

OPERATOR_KINDS = (
    Kind.STATION_FAULTED,
    Kind.STATION_OFFLINE,
    Kind.UNKNOWN_CHARGER,
    Kind.DAILY_SUMMARY,
    Kind.TRANSACTION_FLAGGED,
)
DRIVER_KINDS = tuple(k for k in Kind if k not in OPERATOR_KINDS)


def kinds_for_role(role: str) -> tuple[str, ...]:
    """Operators get every kind (they drive too); drivers and demo users only the drivers' kinds."""
    if role in STAFF_ROLES:
        return tuple(Kind)
    return DRIVER_KINDS
