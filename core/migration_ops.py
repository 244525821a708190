"""Migration operations the ORM has no word for."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def fillfactor(table: str, percent: int) -> migrations.RunPython:
    """Leave ``100 - percent`` % of each page of ``table`` free (PostgreSQL; nothing elsewhere).

    For rows updated over and over (a session at every MeterValues, a station at every heartbeat):
    the new version fits on the same page and no index changes (a HOT update), where a full page
    would send it elsewhere and add an entry to every index.
    """

    def forward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'ALTER TABLE "{table}" SET (fillfactor = {int(percent)})')

    def backward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'ALTER TABLE "{table}" RESET (fillfactor)')

    return migrations.RunPython(forward, backward)
