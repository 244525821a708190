"""REST doors to remote control (admins): send any CSMS-initiated call, read a command record."""

from __future__ import annotations

import re
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.openapi import errors
from accounts.permissions import IsAdmin
from core.exceptions import InvalidInput
from stations.models import CHARGE_POINT_ID_PATTERN, Command
from stations.protocol.remote import CSMS_ACTIONS, call
from stations.remote_services import power_limit_set

_CHARGE_POINT_ID_RE = re.compile(CHARGE_POINT_ID_PATTERN)


class CommandSerializer(serializers.ModelSerializer):
    charge_point_id = serializers.CharField(source="station.charge_point_id", read_only=True)
    request = serializers.JSONField(read_only=True)
    response = serializers.JSONField(read_only=True, allow_null=True)
    error = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = Command
        fields = ["id", "charge_point_id", "action", "request", "state", "response", "error",
                  "source", "created_at", "sent_at", "answered_at"]
        read_only_fields = fields


class StationCommandApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        tags=["commands"],
        summary="Send a CSMS-initiated OCPP 1.6 call to a charger (admin)",
        description=(
            "The body is the OCPP request payload (camelCase), validated against the OCPP 1.6 JSON "
            "schema before anything is sent. `Action` is one of: " + ", ".join(CSMS_ACTIONS) + ". "
            "The call is recorded in the command ledger (`GET /api/v1/commands/<id>/`). "
            "200: the charger's response payload, whatever its status; with `?wait=false`, 202 and "
            "the command record at once."
        ),
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(CSMS_ACTIONS)),
            OpenApiParameter("wait", OpenApiTypes.BOOL, OpenApiParameter.QUERY, default=True,
                             description="false: return 202 with the command record without waiting."),
        ],
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The charger's response payload."),
            202: OpenApiResponse(CommandSerializer, description="The command record (`?wait=false`)."),
            **errors(400, 401, 403, 404, 409, 502, 504),
        },
    )
    def post(self, request: Request, charge_point_id: str, action: str) -> Response:
        if not _CHARGE_POINT_ID_RE.match(charge_point_id):
            raise InvalidInput(errors={"charge_point_id": ["1 to 48 characters of A-Z a-z 0-9 . _ - :"]})
        wait = request.query_params.get("wait", "true").lower() not in ("false", "0", "no")
        payload: Any = request.data
        if hasattr(payload, "dict") and not isinstance(payload, dict):
            payload = payload.dict()  # a form-encoded empty body
        command = call(charge_point_id, action, dict(payload) if isinstance(payload, dict) else payload,
                       wait=wait, requested_by=request.user, source="api")
        if not wait:
            return Response(CommandSerializer(command).data, status=202)
        return Response(command.response)


class CommandDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(tags=["commands"], summary="A command record (admin)",
                   responses={200: CommandSerializer, **errors(401, 403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        command = get_object_or_404(Command.objects.select_related("station"), pk=pk)
        return Response(CommandSerializer(command).data)


class PowerLimitSerializer(serializers.Serializer):
    power_limit_w = serializers.IntegerField(min_value=1, allow_null=True)


class PowerLimitResultSerializer(serializers.Serializer):
    power_limit_w = serializers.IntegerField(allow_null=True)
    command = CommandSerializer(allow_null=True)


class StationPowerLimitApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        tags=["commands"], summary="Set a station's power limit (admin)",
        description="Kept on the station and sent as a ChargePointMaxProfile on connector 0 (a "
                    "TxDefaultProfile when the charger rejects it), now when the charger is connected "
                    "and again after each reboot. `null` removes the limit (ClearChargingProfile).",
        request=PowerLimitSerializer,
        responses={200: OpenApiResponse(PowerLimitResultSerializer,
                                        description="The limit kept and the last command sent (null when none)."),
                   **errors(400, 401, 403, 404, 409, 502, 504)},
    )
    def post(self, request: Request, charge_point_id: str) -> Response:
        serializer = PowerLimitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        command = power_limit_set(charge_point_id=charge_point_id,
                                  power_limit_w=serializer.validated_data["power_limit_w"], requested_by=request.user)
        return Response({"power_limit_w": serializer.validated_data["power_limit_w"],
                         "command": CommandSerializer(command).data if command else None})
