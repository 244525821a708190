"""Import users and their id tags from a JSON or CSV file (first-run setup).

JSON: a list of objects; CSV: a header row. Fields: ``email`` (required), ``first_name``,
``last_name``, ``role`` (driver, demo, admin, super_admin; default driver), ``password`` (empty:
the user sets one through the password reset), ``id_tags`` (a list, or in CSV ``;``-separated;
none: one is generated), ``balance`` (default CSMS_INITIAL_BALANCE, as an initial ledger entry).
Existing e-mail addresses are skipped; bad rows are rejected with the reason; nothing else stops
the import. ``--dry-run`` reports without writing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import users_import


class Command(BaseCommand):
    help = "Import users and their id tags from a JSON or CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="A .json or .csv file.")
        parser.add_argument("--format", choices=["json", "csv"], help="Default: from the file name.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        kind = options["format"] or path.suffix.lower().lstrip(".")
        try:
            if kind == "json":
                rows = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(rows, dict):
                    rows = rows.get("users", [])
                if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                    raise CommandError("The JSON file must hold a list of objects (or {\"users\": [...]}).")
            elif kind == "csv":
                with path.open(newline="", encoding="utf-8-sig") as handle:
                    rows = list(csv.DictReader(handle))
            else:
                raise CommandError("Give a .json or .csv file, or --format.")
        except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        report = users_import(rows=rows, dry_run=options["dry_run"])
        prefix = "Would have " if options["dry_run"] else ""
        for email in report.created:
            self.stdout.write(f"created  {email}")
        for email in report.skipped:
            self.stdout.write(f"skipped  {email} (already exists)")
        for label, reason in report.rejected:
            self.stdout.write(f"rejected {label}: {reason}")
        self.stdout.write(self.style.SUCCESS(
            f"{prefix}created {len(report.created)}, skipped {len(report.skipped)}, rejected {len(report.rejected)}."
        ))
