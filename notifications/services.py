"""Notifications. Interface used by the other apps (implemented by the notifications work).

Domain services call these through ``transaction.on_commit`` with ids only:
- ``transaction_started(transaction_id=)``, ``transaction_stopped(transaction_id=)``
- ``connector_status_changed(station_id=, connector_id=, status=)`` (connector_id 0: the charger)
- ``unknown_charger_refused(charge_point_id=, reason=)``
"""

from __future__ import annotations


def transaction_started(*, transaction_id: int) -> None:
    pass


def transaction_stopped(*, transaction_id: int) -> None:
    pass


def connector_status_changed(*, station_id: int, connector_id: int, status: str) -> None:
    pass


def unknown_charger_refused(*, charge_point_id: str, reason: str) -> None:
    pass
