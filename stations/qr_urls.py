from django.urls import path

from stations import qr_views

app_name = "stations_qr"

urlpatterns = [
    path("", qr_views.qr_sheet, name="sheet-all"),
    path("<str:charge_point_id>/", qr_views.qr_sheet, name="sheet"),
]
