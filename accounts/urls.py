from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("reset/<str:uidb64>/<str:token>/", views.password_reset_confirm, name="password-reset-confirm"),
]
