"""Transactions API: lists, detail, stop, meter values, the user's current and last session,
CSV export and the monthly report (admins)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, renderers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.openapi import errors
from accounts.api.renderers import CsvRenderer, JsonErrorsMixin
from accounts.exceptions import field_error
from accounts.permissions import CanCharge, IsAdmin, is_admin
from transactions import reports
from transactions.api.serializers import (
    CurrentSessionSerializer,
    MeterValueSerializer,
    MonthlyReportSerializer,
    StopResponseSerializer,
    TransactionSerializer,
)
from transactions.charging import charging_stop, transaction_for_user
from transactions.models import MeterValue, Transaction

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def transactions_for(request: Request) -> Any:
    """The caller's transactions (admins: all) with the filters ``station`` and ``active``."""
    qs = Transaction.objects.select_related("station", "connector")
    if not is_admin(request.user):
        qs = qs.filter(user=request.user)
    params = request.query_params
    if params.get("station"):
        qs = qs.filter(station__charge_point_id=params["station"])
    active = params.get("active")
    if active not in (None, ""):
        if active.lower() in _TRUE:
            qs = qs.filter(stopped_at__isnull=True)
        elif active.lower() in _FALSE:
            qs = qs.filter(stopped_at__isnull=False)
        else:
            raise field_error("active", str(_("Use true or false.")))
    if is_admin(request.user) and params.get("user"):
        if not params["user"].isdigit():
            raise field_error("user", str(_("A user id.")))
        qs = qs.filter(user_id=int(params["user"]))
    return qs.order_by("-started_at", "-id")


FILTERS = [
    OpenApiParameter("station", str, description="A charge point id."),
    OpenApiParameter("active", bool, description="true: running sessions; false: finished ones."),
    OpenApiParameter("user", int, description="Admins: one user's sessions."),
]


class TransactionListApi(generics.ListAPIView):
    permission_classes = [CanCharge]
    serializer_class = TransactionSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Transaction.objects.none()
        return transactions_for(self.request)

    @extend_schema(tags=["transactions"], summary="Own transactions (admin: all)", parameters=FILTERS,
                   responses={200: TransactionSerializer(many=True), **errors(400, 401, 403)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class TransactionDetailApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(tags=["transactions"], summary="One transaction (owner, admin)",
                   responses={200: TransactionSerializer, **errors(401, 403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(TransactionSerializer(transaction_for_user(user=request.user, transaction_id=pk)).data)


class TransactionStopApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(
        tags=["charging"], request=None, summary="Stop a session (owner, admin)",
        description="RemoteStopTransaction; the session ends when the charger sends StopTransaction. "
                    "409 when it already ended, the charger is offline or it answered Rejected.",
        responses={200: StopResponseSerializer, **errors(401, 403, 404, 409, 502, 504)},
    )
    def post(self, request: Request, pk: int) -> Response:
        return Response({"status": charging_stop(user=request.user, transaction_id=pk).status})


class MeterValuePagination(PageNumberPagination):
    """A day-long session has thousands of samples: large pages."""

    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 10000


class TransactionMeterValuesApi(generics.ListAPIView):
    permission_classes = [CanCharge]
    serializer_class = MeterValueSerializer
    pagination_class = MeterValuePagination

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return MeterValue.objects.none()
        tx = transaction_for_user(user=self.request.user, transaction_id=self.kwargs["pk"])
        qs = tx.meter_values.order_by("timestamp", "id")
        measurand = self.request.query_params.get("measurand")
        if measurand:
            qs = qs.filter(measurand=measurand)
        return qs

    @extend_schema(
        tags=["transactions"], summary="A session's meter values, oldest first (owner, admin)",
        parameters=[OpenApiParameter("measurand", str, description="e.g. Energy.Active.Import.Register")],
        responses={200: MeterValueSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class CurrentSessionApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(
        tags=["charging"], summary="The caller's running session with live energy and cost",
        responses={200: CurrentSessionSerializer, 204: OpenApiResponse(description="No session is running."),
                   **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        tx = (Transaction.objects.select_related("station", "connector")
              .filter(user=request.user, stopped_at__isnull=True).order_by("-started_at", "-id").first())
        if tx is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(CurrentSessionSerializer(tx, context={"now": timezone.now()}).data)


class LastUsageApi(APIView):
    permission_classes = [CanCharge]

    @extend_schema(
        tags=["charging"], summary="The caller's most recent session (running or finished)",
        responses={200: CurrentSessionSerializer, 204: OpenApiResponse(description="No session yet."),
                   **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        tx = (Transaction.objects.select_related("station", "connector")
              .filter(user=request.user).order_by("-started_at", "-id").first())
        if tx is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(CurrentSessionSerializer(tx, context={"now": timezone.now()}).data)


CSV_COLUMNS = ["id", "charge_point_id", "connector_id", "id_tag", "user", "started_at", "stopped_at",
               "meter_start", "meter_stop", "energy_kwh", "cost", "currency", "stop_reason"]


class TransactionExportApi(JsonErrorsMixin, APIView):
    permission_classes = [IsAdmin]
    renderer_classes = [CsvRenderer, renderers.JSONRenderer]

    @extend_schema(tags=["transactions"], summary="All transactions as CSV (admin)", parameters=FILTERS,
                   responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), **errors(400, 401, 403)})
    def get(self, request: Request) -> HttpResponse:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for tx in transactions_for(request).iterator(chunk_size=2000):
            row = TransactionSerializer(tx).data
            writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="transactions.csv"'
        return response


def _year(request: Request) -> int:
    raw = request.query_params.get("year")
    if raw in (None, ""):
        return timezone.localdate().year
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise field_error("year", str(_("A year between 2000 and 2100.")))
    return int(raw)


REPORT_PARAMETERS = [
    OpenApiParameter("year", int, description="Default: this year."),
    OpenApiParameter("station", str, description="Only this charge point id."),
]


class MonthlyReportApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        tags=["reports"], summary="Energy and revenue per month of a year, per station (admin)",
        description="Revenue is the sum of the sessions' costs; a session counts in the month it "
                    "started (TIME_ZONE).", parameters=REPORT_PARAMETERS,
        responses={200: MonthlyReportSerializer, **errors(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        report = reports.monthly_report(year=_year(request), charge_point_id=request.query_params.get("station"))
        return Response(reports.report_as_dict(report))


class MonthlyReportCsvApi(JsonErrorsMixin, APIView):
    permission_classes = [IsAdmin]
    renderer_classes = [CsvRenderer, renderers.JSONRenderer]

    @extend_schema(tags=["reports"], summary="The monthly report as CSV (admin)", parameters=REPORT_PARAMETERS,
                   responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), **errors(400, 401, 403)})
    def get(self, request: Request) -> HttpResponse:
        year = _year(request)
        report = reports.monthly_report(year=year, charge_point_id=request.query_params.get("station"))
        response = HttpResponse(reports.report_as_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="report-{year}.csv"'
        return response
