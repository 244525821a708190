from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import views

router = SimpleRouter()
router.register("tariffs", views.TariffViewSet, basename="tariff")

urlpatterns = [
    path("ledger/", views.LedgerListApi.as_view(), name="billing-ledger"),
    path("topups/", views.TopupCreateApi.as_view(), name="billing-topup"),
    path("refunds/", views.RefundCreateApi.as_view(), name="billing-refund"),
    path("guest-sessions/", views.GuestSessionCreateApi.as_view(), name="billing-guest-session"),
    path("guest-sessions/<str:token>/", views.GuestSessionDetailApi.as_view(), name="billing-guest-session-detail"),
    path("webhooks/stripe/", views.StripeWebhookApi.as_view(), name="billing-stripe-webhook"),
    path("receipts/<int:pk>/", views.ReceiptApi.as_view(), name="billing-receipt"),
    path("statements/", views.StatementApi.as_view(), name="billing-statement"),
    path("statements/csv/", views.StatementCsvApi.as_view(), name="billing-statement-csv"),
    path("revenue/", views.RevenueApi.as_view(), name="billing-revenue"),
    *router.urls,
]
