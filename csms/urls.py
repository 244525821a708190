from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("accounts.api.urls")),
    path("", include("stations.api.urls")),
    path("", include("transactions.api.urls")),
    path("", include("reservations.api.urls")),
    path("billing/", include("billing.api.urls")),
    path("", include("notifications.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("billing/", include("billing.urls")),
    path("accounts/", include("accounts.urls")),
    path("qr/", include("stations.qr_urls")),
    path("charge/", include("stations.charge_urls")),
    path("dashboard/", include("dashboard.urls")),
    path("admin-tools/stations/", include("stations.views_admin_commands")),
    path("files/", include("stations.files")),
]
