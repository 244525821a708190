from django.urls import path

from stations.api import commands, views

urlpatterns = [
    path("stations/<str:charge_point_id>/commands/<str:action>/", commands.StationCommandApi.as_view(),
         name="station-command"),
    path("commands/<int:pk>/", commands.CommandDetailApi.as_view(), name="command-detail"),
    path("stations/<str:charge_point_id>/power-limit/", commands.StationPowerLimitApi.as_view(),
         name="station-power-limit-api"),
    path("stations/", views.StationListApi.as_view(), name="station-list"),
    path("stations/<str:charge_point_id>/", views.StationDetailApi.as_view(), name="station-detail"),
    path("stations/<str:charge_point_id>/start/", views.StationStartApi.as_view(), name="station-start"),
    path("stations/<str:charge_point_id>/reserve/", views.StationReserveApi.as_view(), name="station-reserve"),
    path("stations/<str:charge_point_id>/connectors/<int:connector_id>/qr.svg",
         views.ConnectorQrSvgApi.as_view(), name="connector-qr-svg"),
    path("stations/<str:charge_point_id>/connectors/<int:connector_id>/qr.png",
         views.ConnectorQrPngApi.as_view(), name="connector-qr-png"),
]
