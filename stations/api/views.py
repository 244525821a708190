"""Stations API for apps and operators: list and map filters, detail, admin writes, start,
reserve and the connectors' QR codes. Views parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, renderers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.openapi import errors
from accounts.api.renderers import JsonErrorsMixin, PngRenderer, SvgRenderer
from accounts.exceptions import field_error
from accounts.permissions import CanCharge, ReadAnyoneWriteAdmin, is_admin
from reservations.api.serializers import ReservationSerializer
from reservations.services import reservation_create
from stations import qr, registry
from stations.api.serializers import (
    ConnectorRequestSerializer,
    ReserveRequestSerializer,
    StationAdminSerializer,
    StationSerializer,
    StationUpdateSerializer,
    StationWriteSerializer,
    StatusSerializer,
)
from stations.models import Connector, Station
from transactions.charging import charging_start


def _floats(request: Request, name: str, count: int) -> list[float] | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        values = [float(part) for part in raw.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise field_error(name, str(_("Expected %(n)s comma-separated numbers.") % {"n": count}))
    return values


def _station_serializer(request: Request) -> type[StationSerializer]:
    return StationAdminSerializer if is_admin(request.user) else StationSerializer


MAP_PARAMETERS = [
    OpenApiParameter("bbox", str, description="min_lon,min_lat,max_lon,max_lat: stations inside the box."),
    OpenApiParameter("near", str, description="lat,lon: adds `distance_km`, nearest first."),
    OpenApiParameter("radius_km", float, description="With `near`: only stations within this distance."),
]


class StationListApi(generics.ListAPIView):
    permission_classes = [ReadAnyoneWriteAdmin]

    def get_serializer_class(self) -> Any:
        return _station_serializer(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def get_queryset(self) -> Any:
        request = self.request
        bbox = _floats(request, "bbox", 4)
        if bbox is not None and not (-180 <= bbox[0] <= 180 and -90 <= bbox[1] <= bbox[3] <= 90 and -180 <= bbox[2] <= 180):
            raise field_error("bbox", str(_("Longitudes in -180..180, latitudes in -90..90, min before max.")))
        near = _floats(request, "near", 2)
        if near is not None and not (-90 <= near[0] <= 90 and -180 <= near[1] <= 180):
            raise field_error("near", str(_("Latitude in -90..90, longitude in -180..180.")))
        radius = _floats(request, "radius_km", 1)
        if radius is not None and (near is None or radius[0] <= 0):
            raise field_error("radius_km", str(_("A positive distance, together with `near`.")))
        return registry.station_api_list(
            admin=is_admin(request.user),
            bbox=tuple(bbox) if bbox else None,  # type: ignore[arg-type]
            near=tuple(near) if near else None,  # type: ignore[arg-type]
            radius_km=radius[0] if radius else None,
        )

    @extend_schema(
        tags=["stations"], summary="Stations visible to the caller", parameters=MAP_PARAMETERS,
        description="Users see accepted stations that have connected and are not dismissed; admins see "
                    "all, with more fields. `status` is the station status of CONTRACT.md.",
        responses={200: StationSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["stations"], summary="Create a station (admin)", request=StationWriteSerializer,
        responses={201: StationAdminSerializer, **errors(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        data = StationWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        station = registry.station_create(**data.validated_data)
        return Response(StationAdminSerializer(station, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


def _visible_station(request: Request, charge_point_id: str) -> Station:
    station = registry.station_api_list(admin=is_admin(request.user)).filter(charge_point_id=charge_point_id).first()
    if station is None:
        from core.exceptions import NotFound

        raise NotFound(_("Unknown station."))
    return station


class StationDetailApi(APIView):
    permission_classes = [ReadAnyoneWriteAdmin]

    @extend_schema(tags=["stations"], summary="One station", responses={200: StationSerializer, **errors(404)})
    def get(self, request: Request, charge_point_id: str) -> Response:
        station = _visible_station(request, charge_point_id)
        return Response(_station_serializer(request)(station, context={"request": request}).data)

    @extend_schema(
        tags=["stations"], summary="Update a station (admin)", request=StationUpdateSerializer,
        description="`password` (write-only) sets the charger's Basic-auth password; an empty string "
                    "removes it. `connectors` creates or updates connectors by number.",
        responses={200: StationAdminSerializer, **errors(400, 401, 403, 404)},
    )
    def patch(self, request: Request, charge_point_id: str) -> Response:
        station = get_object_or_404(Station, charge_point_id=charge_point_id)
        data = StationUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        registry.station_update(station=station, **data.validated_data)
        station = _visible_station(request, charge_point_id)
        return Response(StationAdminSerializer(station, context={"request": request}).data)

    @extend_schema(tags=["stations"], summary="Dismiss a station (admin): hidden from users, history kept",
                   responses={204: None, **errors(401, 403, 404)})
    def delete(self, request: Request, charge_point_id: str) -> Response:
        registry.station_dismiss(station=get_object_or_404(Station, charge_point_id=charge_point_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class StationStartApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(
        tags=["charging"], summary="Start charging on a connector",
        request=ConnectorRequestSerializer,
        description="RemoteStartTransaction with the caller's id tag. 200 `{status}` when the charger "
                    "accepted; the transaction appears when the charger sends StartTransaction.",
        responses={200: StatusSerializer, **errors(400, 401, 402, 403, 404, 409, 502, 504)},
    )
    def post(self, request: Request, charge_point_id: str) -> Response:
        data = ConnectorRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = charging_start(user=request.user, charge_point_id=charge_point_id,
                                connector_id=data.validated_data["connector_id"])
        return Response({"status": result.status})


class StationReserveApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(
        tags=["reservations"], summary="Reserve a connector (0 or absent: any)",
        request=ReserveRequestSerializer,
        description="ReserveNow with a new reservationId (the reservation's `id`) expiring after "
                    "CSMS_RESERVATION_MINUTES. One active reservation per user.",
        responses={201: ReservationSerializer, **errors(400, 401, 402, 403, 404, 409, 502, 504)},
    )
    def post(self, request: Request, charge_point_id: str) -> Response:
        data = ReserveRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reservation = reservation_create(user=request.user, charge_point_id=charge_point_id,
                                         connector_id=data.validated_data["connector_id"])
        return Response(ReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)


class _ConnectorQrApi(JsonErrorsMixin, APIView):
    permission_classes = [ReadAnyoneWriteAdmin]
    kind = "svg"

    def get(self, request: Request, charge_point_id: str, connector_id: int) -> HttpResponse:
        station = _visible_station(request, charge_point_id)
        if not Connector.objects.filter(station=station, connector_id=connector_id, connector_id__gt=0).exists():
            from core.exceptions import NotFound

            raise NotFound(_("Unknown connector."))
        link = qr.connector_start_link(charge_point_id=station.charge_point_id, connector_id=connector_id)
        if self.kind == "svg":
            body, content_type = qr.qr_svg(link), "image/svg+xml"
        else:
            body, content_type = qr.qr_png(link), "image/png"
        response = HttpResponse(body, content_type=content_type)
        response["Cache-Control"] = "public, max-age=86400"
        response["Content-Disposition"] = (
            f'inline; filename="{station.charge_point_id}-{connector_id}.{self.kind}"'
        )
        return response


_QR_DESCRIPTION = ("The connector's QR code; it holds `{CSMS_PUBLIC_URL}/charge/<charge_point_id>/<connector_id>/`, "
                   "the link a driver's app opens to start charging there (also in each connector's `start_link`).")


class ConnectorQrSvgApi(_ConnectorQrApi):
    kind = "svg"
    renderer_classes = [SvgRenderer, renderers.JSONRenderer]

    @extend_schema(tags=["stations"], summary="QR code of a connector (SVG)", description=_QR_DESCRIPTION,
                   responses={(200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY), **errors(404)})
    def get(self, request: Request, charge_point_id: str, connector_id: int) -> HttpResponse:
        return super().get(request, charge_point_id, connector_id)


class ConnectorQrPngApi(_ConnectorQrApi):
    kind = "png"
    renderer_classes = [PngRenderer, renderers.JSONRenderer]

    @extend_schema(tags=["stations"], summary="QR code of a connector (PNG)", description=_QR_DESCRIPTION,
                   responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY), **errors(404)})
    def get(self, request: Request, charge_point_id: str, connector_id: int) -> HttpResponse:
        return super().get(request, charge_point_id, connector_id)
