from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.models import Notification, NotificationKind


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "data", "created_at", "read_at", "read"]
        read_only_fields = fields

    def get_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


class PreferenceSerializer(serializers.Serializer[dict[str, Any]]):
    """One kind's choice on both channels; on update, an absent channel is left as it is."""

    kind = serializers.ChoiceField(choices=NotificationKind.choices)
    label = serializers.CharField(read_only=True)
    email = serializers.BooleanField(required=False)
    in_app = serializers.BooleanField(required=False)


class PreferenceListSerializer(serializers.Serializer[dict[str, Any]]):
    results = PreferenceSerializer(many=True)


class MarkedSerializer(serializers.Serializer[dict[str, Any]]):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()
