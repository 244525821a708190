from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.openapi import errors
from accounts.permissions import CanCharge
from reservations import selectors, services
from reservations.api.serializers import ReservationSerializer
from reservations.models import Reservation


class ReservationListApi(generics.ListAPIView):
    permission_classes = [CanCharge]
    serializer_class = ReservationSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Reservation.objects.none()
        params = self.request.query_params
        return selectors.reservation_list(user=self.request.user, status=params.get("status") or None,
                                          charge_point_id=params.get("station") or None)

    @extend_schema(
        tags=["reservations"], summary="Own reservations (admin: all)",
        responses={200: ReservationSerializer(many=True), **errors(401, 403)},
        parameters=[OpenApiParameter("status", str, enum=["active", "used", "cancelled", "expired"]),
                    OpenApiParameter("station", str, description="A charge point id.")],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ReservationDetailApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(tags=["reservations"], summary="One reservation (owner, admin)",
                   responses={200: ReservationSerializer, **errors(401, 403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(ReservationSerializer(services.reservation_for_user(user=request.user, reservation_id=pk)).data)


class ReservationCancelApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(
        tags=["reservations"], request=None, summary="Cancel a reservation (owner, admin)",
        description="Sends CancelReservation when the charger is connected; the reservation ends "
                    "`cancelled` and its connector is free again. 409 when it is no longer active.",
        responses={200: ReservationSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        reservation = services.reservation_cancel(user=request.user, reservation_id=pk)
        return Response(ReservationSerializer(reservation).data)
