from django.urls import path

from stations import qr_views

app_name = "charge"

urlpatterns = [
    path("<str:charge_point_id>/<int:connector_id>/", qr_views.charge_landing, name="landing"),
]
