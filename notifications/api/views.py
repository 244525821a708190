"""Notifications API: the user's in-app notifications, marking them read, and preferences."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.serializers import (
    MarkedSerializer,
    NotificationSerializer,
    PreferenceListSerializer,
    PreferenceSerializer,
)
from notifications.models import Notification, NotificationChannel
from notifications.selectors import notification_list, notification_preference_list, notification_unread_count
from notifications.services import (
    PreferenceChange,
    notification_mark_all_read,
    notification_mark_read,
    notification_preferences_update,
)

ERRORS = {401: OpenApiTypes.OBJECT}


@extend_schema(
    tags=["notifications"],
    parameters=[OpenApiParameter("unread", bool, description="true: only unread; false: only read")],
    responses={200: NotificationSerializer(many=True), **ERRORS},
)
class NotificationListApi(ListAPIView[Notification]):
    """The caller's in-app notifications, newest first."""

    serializer_class = NotificationSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Notification.objects.none()
        raw = self.request.query_params.get("unread")
        unread = {"true": True, "1": True, "false": False, "0": False}.get((raw or "").lower())
        return notification_list(user=self.request.user, unread=unread)  # type: ignore[arg-type]


class NotificationReadApi(APIView):
    @extend_schema(tags=["notifications"], request=None,
                   responses={200: NotificationSerializer, 404: OpenApiTypes.OBJECT, **ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        """Mark one of the caller's notifications read (again: no change)."""
        notification = notification_mark_read(user=request.user, notification_id=pk)  # type: ignore[arg-type]
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllApi(APIView):
    @extend_schema(tags=["notifications"], request=None, responses={200: MarkedSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Mark every unread notification of the caller read."""
        marked = notification_mark_all_read(user=request.user)  # type: ignore[arg-type]
        return Response({"marked": marked, "unread": notification_unread_count(user=request.user)})  # type: ignore[arg-type]


def _page(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(results), "next": None, "previous": None, "results": results}


PreferencePage = inline_serializer(
    "NotificationPreferencePage",
    fields={
        "count": serializers.IntegerField(),
        "next": serializers.CharField(allow_null=True),
        "previous": serializers.CharField(allow_null=True),
        "results": PreferenceSerializer(many=True),
    },
)


class NotificationPreferencesApi(APIView):
    @extend_schema(tags=["notifications"], responses={200: PreferencePage, **ERRORS})
    def get(self, request: Request) -> Response:
        """Per kind the caller receives: on or off by e-mail and in the app (default on)."""
        return Response(_page(notification_preference_list(user=request.user)))  # type: ignore[arg-type]

    @extend_schema(
        tags=["notifications"],
        request=PreferenceListSerializer,
        responses={200: PreferencePage, 400: OpenApiTypes.OBJECT, **ERRORS},
        description="Body: `{\"results\": [{\"kind\", \"email\", \"in_app\"}]}` (or the bare list); kinds "
        "left out and channels left out keep their choice.",
    )
    def put(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, list):
            data = {"results": data}
        serializer = PreferenceListSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        changes = [
            PreferenceChange(kind=item["kind"], channel=channel, enabled=item[channel])
            for item in serializer.validated_data["results"]
            for channel in NotificationChannel.values
            if channel in item
        ]
        notification_preferences_update(user=request.user, changes=changes)  # type: ignore[arg-type]
        return Response(_page(notification_preference_list(user=request.user)))  # type: ignore[arg-type]
