"""Billing API: tariffs, the ledger, top-ups, guest sessions, webhooks, receipts, statements, revenue."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from billing import payments
from billing.api.permissions import IsAdmin, IsPayingUser, ReadAnyWriteAdmin, is_admin
from billing.api.serializers import (
    GuestSessionCreateSerializer,
    LedgerEntrySerializer,
    PaymentSerializer,
    ReceiptSerializer,
    RefundSerializer,
    RevenueQuerySerializer,
    RevenueSerializer,
    StatementQuerySerializer,
    StatementSerializer,
    TariffSerializer,
    TopupSerializer,
)
from billing.exports import statement_csv, statement_filename
from billing.models import Tariff
from billing.providers import WebhookSignatureError
from billing.receipts import receipt_url
from billing.selectors import ledger_list, receipt_get, revenue_by_month, statement_get
from billing.services import session_refund
from core.exceptions import NotFound
from stations.models import Station
from transactions.models import Transaction

ERROR = OpenApiResponse(
    response=inline_serializer("BillingError", {"detail": serializers.CharField(), "code": serializers.CharField(required=False)}),
    description="An error: `detail`, and the field errors on 400.",
)


class TariffViewSet(viewsets.ModelViewSet[Tariff]):
    """Tariffs: anyone signed in reads them; admins create, change and delete."""

    serializer_class = TariffSerializer
    permission_classes = [ReadAnyWriteAdmin]
    queryset = Tariff.objects.prefetch_related("periods").order_by("name", "pk")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class LedgerListApi(APIView):
    """The caller's ledger (admins: ``?user=<id>`` for another user's), newest first."""

    permission_classes = [IsPayingUser]

    @extend_schema(responses={200: LedgerEntrySerializer(many=True), 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def get(self, request: Request) -> Response:
        user = request.user
        if "user" in request.query_params and is_admin(user):
            user = get_object_or_404(User, pk=_int(request.query_params["user"], "user"))
        paginator = self.paginator
        page = paginator.paginate_queryset(ledger_list(user=user), request, view=self)  # type: ignore[arg-type]
        return paginator.get_paginated_response(LedgerEntrySerializer(page, many=True).data)

    @property
    def paginator(self) -> Any:
        from core.pagination import Pagination

        if not hasattr(self, "_paginator"):
            self._paginator = Pagination()
        return self._paginator


class RefundCreateApi(APIView):
    """Refund (part of) a finished session to its driver's balance (admins): a ``refund`` ledger entry."""

    permission_classes = [IsAdmin]

    @extend_schema(request=RefundSerializer, responses={201: LedgerEntrySerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request) -> Response:
        data = RefundSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = session_refund(created_by=request.user, **data.validated_data)  # type: ignore[arg-type]
        return Response(LedgerEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class TopupCreateApi(APIView):
    """Start a card top-up: 201 with the Checkout URL; the balance moves when Stripe confirms."""

    permission_classes = [IsPayingUser]

    @extend_schema(request=TopupSerializer, responses={
        201: PaymentSerializer, 400: ERROR, 401: ERROR, 403: ERROR,
        409: OpenApiResponse(description="Online payments are not configured (no STRIPE_SECRET_KEY).")})
    def post(self, request: Request) -> Response:
        data = TopupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = payments.topup_start(user=request.user, amount=data.validated_data["amount"])  # type: ignore[arg-type]
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


GuestSessionOut = inline_serializer("GuestSession", {
    "payment_id": serializers.IntegerField(), "token": serializers.CharField(),
    "client_secret": serializers.CharField(required=False), "status": serializers.CharField(),
    "amount": serializers.CharField(), "currency": serializers.CharField(),
    "transaction_id": serializers.IntegerField(allow_null=True), "cost": serializers.CharField(allow_null=True),
    "energy_kwh": serializers.CharField(allow_null=True), "active": serializers.BooleanField(),
    "receipt_url": serializers.CharField(allow_null=True),
})


def _guest_body(payment: Any) -> dict[str, Any]:
    tx = payment.transaction
    return {
        "payment_id": payment.pk,
        "token": payments.guest_token(payment),
        "status": payment.status,
        "amount": f"{payment.amount:.2f}",
        "captured_amount": None if payment.captured_amount is None else f"{payment.captured_amount:.2f}",
        "currency": payment.currency,
        "transaction_id": tx.pk if tx else None,
        "cost": f"{tx.cost:.2f}" if tx else None,
        "energy_kwh": f"{tx.energy_wh / 1000:.3f}" if tx else None,
        "active": bool(tx and tx.stopped_at is None),
        "receipt_url": receipt_url(transaction=tx, payment=payment) if tx and tx.stopped_at else None,
    }


class GuestSessionCreateApi(APIView):
    """Guest charging by QR code: a card hold for the session's maximum (Stripe PaymentIntent,
    manual capture). Confirm the card with ``client_secret``; the charger is started once Stripe
    reports the hold authorised, and the actual cost is captured at the stop."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=GuestSessionCreateSerializer, responses={201: GuestSessionOut, 400: ERROR, 404: ERROR, 409: ERROR})
    def post(self, request: Request) -> Response:
        data = GuestSessionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment, client_secret = payments.guest_session_create(**data.validated_data)
        return Response({**_guest_body(payment), "client_secret": client_secret}, status=status.HTTP_201_CREATED)


class GuestSessionDetailApi(APIView):
    """A guest follows their session (live cost) with the token they got."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses={200: GuestSessionOut, 404: ERROR})
    def get(self, request: Request, token: str) -> Response:
        return Response(_guest_body(payments.guest_payment_from_token(token)))


class StripeWebhookApi(APIView):
    """Stripe's webhook endpoint: signature checked, each event id processed once."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=None, responses={200: inline_serializer("WebhookResult", {"status": serializers.CharField()}),
                                            400: OpenApiResponse(description="bad signature")})
    def post(self, request: Request) -> Response:
        try:
            outcome = payments.payment_webhook(
                provider_name="stripe", payload=request.body, signature=request.headers.get("Stripe-Signature", ""),
            )
        except WebhookSignatureError:
            return Response({"detail": "Invalid signature."}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"status": outcome})


class ReceiptApi(APIView):
    """The receipt of a finished session (owner or admin)."""

    permission_classes = [IsPayingUser]

    @extend_schema(responses={200: ReceiptSerializer, 401: ERROR, 403: ERROR, 404: ERROR})
    def get(self, request: Request, pk: int) -> Response:
        tx = Transaction.objects.select_related("station", "connector").filter(pk=pk).first()
        if tx is None or not (is_admin(request.user) or tx.user_id == request.user.pk):
            raise NotFound()
        return Response(receipt_get(transaction=tx).as_dict())


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise serializers.ValidationError({field: ["A whole number is required."]}) from None


def _statement(request: Request) -> Any:
    query = StatementQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    q = query.validated_data
    user: Any = request.user
    if is_admin(user):
        user = get_object_or_404(User, pk=q["user"]) if "user" in q else (None if q["id_tag"] else user)
    elif q["id_tag"] and not user.id_tags.filter(id_tag=q["id_tag"]).exists():
        raise NotFound()
    return statement_get(year=q["year"], month=q["month"], user=user, id_tag=q["id_tag"])


class StatementApi(APIView):
    """A monthly statement: the caller's sessions (or one of their id tags'); admins any driver's or id tag's."""

    permission_classes = [IsPayingUser]

    @extend_schema(parameters=[StatementQuerySerializer],
                   responses={200: StatementSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def get(self, request: Request) -> Response:
        st = _statement(request)
        return Response({
            "year": st.year, "month": st.month, "id_tag": st.id_tag, "user": st.user.pk if st.user else None,
            "sessions": len(st.transactions), "energy_kwh": f"{st.energy_wh / 1000:.3f}",
            "total": f"{st.total:.2f}", "currency": st.currency,
            "transactions": [receipt_get(transaction=tx).as_dict() for tx in st.transactions],
        })


class StatementCsvApi(APIView):
    permission_classes = [IsPayingUser]

    @extend_schema(parameters=[StatementQuerySerializer],
                   responses={(200, "text/csv"): OpenApiResponse(description="CSV, one row per session and a total"),
                              400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def get(self, request: Request) -> HttpResponse:
        st = _statement(request)
        response = HttpResponse(statement_csv(st), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{statement_filename(st)}"'
        return response


class RevenueApi(APIView):
    """Energy and revenue per month of a year (admins): the sum of the finished sessions' costs."""

    permission_classes = [IsAdmin]

    @extend_schema(parameters=[RevenueQuerySerializer],
                   responses={200: RevenueSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def get(self, request: Request) -> Response:
        query = RevenueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        station_id = None
        if query.validated_data.get("station"):
            station_id = get_object_or_404(Station, charge_point_id=query.validated_data["station"]).pk
        rows = revenue_by_month(year=query.validated_data["year"], station_id=station_id)
        return Response({"year": query.validated_data["year"], "months": [
            {**r, "energy_kwh": f"{r['energy_wh'] / 1000:.3f}", "revenue": f"{r['revenue']:.2f}"} for r in rows
        ]})
