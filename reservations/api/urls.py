from django.urls import path

from reservations.api import views

urlpatterns = [
    path("reservations/", views.ReservationListApi.as_view(), name="reservation-list"),
    path("reservations/<int:pk>/", views.ReservationDetailApi.as_view(), name="reservation-detail"),
    path("reservations/<int:pk>/cancel/", views.ReservationCancelApi.as_view(), name="reservation-cancel"),
]
