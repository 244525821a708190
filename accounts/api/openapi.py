"""Shared OpenAPI pieces: the error body of every endpoint and a helper to list error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every error: a human ``detail`` and, for domain errors, a stable ``code``."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)


class ValidationErrorSerializer(serializers.Serializer):
    """400: ``detail`` names the fields; each invalid field maps to its messages."""

    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="Field name → messages (also repeated at the top level, as DRF does).",
    )


class ChargerRefusalSerializer(ErrorSerializer):
    """409 when the charger answered Rejected: ``status`` is the charger's answer."""

    status = serializers.CharField(required=False)


DESCRIPTIONS = {
    400: "Invalid input: the body names each invalid field.",
    401: "No token, a bad or expired token, or bad credentials.",
    402: "Balance too low.",
    403: "The caller's role does not allow this.",
    404: "Unknown, hidden or someone else's object.",
    409: "The state does not allow it: charger offline, connector not free, or the charger answered "
         "Rejected (then `status` carries its answer).",
    502: "The charger answered with a CALLERROR.",
    504: "The charger did not answer within CSMS_CALL_TIMEOUT seconds.",
}


def errors(*codes: int) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for code in codes:
        if code == 400:
            out[code] = OpenApiResponse(ValidationErrorSerializer, description=DESCRIPTIONS[code])
        elif code == 409:
            out[code] = OpenApiResponse(ChargerRefusalSerializer, description=DESCRIPTIONS[code])
        else:
            out[code] = OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[code])
    return out
