"""Small helpers shared by the apps' admin modules: read-only admins and CSV export."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse


class ReadOnlyAdminMixin:
    """For records written by the system only (message log, command ledger, ledger entries).

    Operators may read and filter them; nobody edits or adds them through the admin.
    """

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([str(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return response


def short_json(value: Any, limit: int = 80) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


Getter = Callable[[Any], Any]
