"""Non-JSON endpoints (CSV, images) of every API area: errors are still JSON ``{"detail": …}``."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers
from rest_framework.response import Response


class JsonErrorsMixin:
    """Render error responses as JSON whatever renderer the request negotiated."""

    def handle_exception(self, exc: Exception) -> Response:
        response: Response = super().handle_exception(exc)  # type: ignore[misc]
        request = self.request  # type: ignore[attr-defined]
        request.accepted_renderer = renderers.JSONRenderer()
        request.accepted_media_type = "application/json"
        return response


class PassThroughRenderer(renderers.BaseRenderer):
    """Bytes and text pass through (the view built them); anything else is JSON."""

    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, bytes):
            return data
        if isinstance(data, str):
            return data.encode()
        import json

        return json.dumps(data).encode()


class SvgRenderer(PassThroughRenderer):
    media_type = "image/svg+xml"
    format = "svg"


class PngRenderer(PassThroughRenderer):
    media_type = "image/png"
    format = "png"


class CsvRenderer(PassThroughRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"
