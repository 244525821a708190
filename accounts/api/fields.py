"""Serializer pieces every API area uses: times in UTC with a ``Z`` (CONTRACT.md), whatever time
zone is active for the request (pages activate the operator's)."""

from __future__ import annotations

from datetime import UTC

from django.db import models
from rest_framework import serializers


class UtcDateTimeField(serializers.DateTimeField):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class UtcModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }


def utc_iso(value: object) -> str | None:
    return None if value is None else UtcDateTimeField().to_representation(value)
