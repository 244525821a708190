"""``manage.py charge_points``: the stations and whether their charger is connected now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from stations.models import Station


class Command(BaseCommand):
    help = "List stations with their connected state (connected ones first with --connected)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connected", action="store_true", help="only connected chargers")

    def handle(self, *args: Any, **options: Any) -> None:
        stations = Station.objects.order_by("charge_point_id")
        if options["connected"]:
            stations = stations.filter(connected=True)
        rows = [("CHARGE POINT", "CONNECTED", "SINCE", "LAST MESSAGE", "SERVER", "MODEL")]
        for s in stations.only("charge_point_id", "connected", "connected_at", "last_heartbeat", "server_id",
                               "vendor", "model"):
            rows.append((
                s.charge_point_id, "yes" if s.connected else "no",
                s.connected_at.strftime("%Y-%m-%d %H:%M:%SZ") if s.connected and s.connected_at else "-",
                s.last_heartbeat.strftime("%Y-%m-%d %H:%M:%SZ") if s.last_heartbeat else "-",
                s.server_id or "-", f"{s.vendor} {s.model}".strip() or "-",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        connected = sum(1 for r in rows[1:] if r[1] == "yes")
        self.stdout.write(f"{len(rows) - 1} stations, {connected} connected")
