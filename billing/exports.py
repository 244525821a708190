"""CSV renderings shared by the API and the pages."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from billing.selectors import Statement

STATEMENT_COLUMNS = [
    "transaction_id", "charge_point_id", "station", "connector_id", "id_tag", "started_at", "stopped_at",
    "energy_kwh", "cost", "currency",
]


def statement_csv(statement: Statement) -> str:
    """One row per session, then a total row; times in UTC ISO 8601, money with its currency."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STATEMENT_COLUMNS)
    for tx in statement.transactions:
        writer.writerow([
            tx.pk, tx.station.charge_point_id, str(tx.station), tx.connector.connector_id, tx.id_tag,
            _iso(tx.started_at), _iso(tx.stopped_at), f"{tx.energy_wh / 1000:.3f}", f"{tx.cost:.2f}", tx.currency,
        ])
    writer.writerow(["total", "", "", "", statement.id_tag, "", "", f"{statement.energy_wh / 1000:.3f}",
                     f"{statement.total:.2f}", statement.currency])
    return out.getvalue()


def statement_filename(statement: Statement) -> str:
    who = statement.id_tag or (f"user-{statement.user.pk}" if statement.user else "all")
    return f"statement-{statement.year}-{statement.month:02d}-{who}.csv"


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
