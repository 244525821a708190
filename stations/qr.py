"""QR codes on connectors: each holds the link a driver's app opens to start charging there."""

from __future__ import annotations

import io
from urllib.parse import quote

import segno
from django.conf import settings


def connector_start_link(*, charge_point_id: str, connector_id: int) -> str:
    """``{CSMS_PUBLIC_URL}/charge/<charge_point_id>/<connector_id>/``: the app reads the two ids and
    calls ``POST /api/v1/stations/<charge_point_id>/start/`` with ``{"connector_id": …}``."""
    base = settings.CSMS_PUBLIC_URL.rstrip("/")
    return f"{base}/charge/{quote(charge_point_id, safe='')}/{connector_id}/"


def qr_svg(data: str, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="svg", scale=scale, border=2, xmldecl=True)
    return out.getvalue()


def qr_png(data: str, *, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()
