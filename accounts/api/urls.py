from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/register/", views.RegisterApi.as_view(), name="auth-register"),
    path("auth/token/", views.TokenApi.as_view(), name="auth-token"),
    path("auth/token/refresh/", views.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/token/verify/", views.TokenVerifyApi.as_view(), name="auth-token-verify"),
    path("auth/password-reset/", views.PasswordResetApi.as_view(), name="auth-password-reset"),
    path("auth/password-reset/confirm/", views.PasswordResetConfirmApi.as_view(), name="auth-password-reset-confirm"),
    path("me/", views.MeApi.as_view(), name="me"),
    path("users/", views.UserListApi.as_view(), name="user-list"),
    path("users/<int:pk>/", views.UserDetailApi.as_view(), name="user-detail"),
    path("users/<int:pk>/credit/", views.UserCreditApi.as_view(), name="user-credit"),
    path("id-tags/", views.IdTagListApi.as_view(), name="id-tag-list"),
    path("id-tags/<int:pk>/", views.IdTagDetailApi.as_view(), name="id-tag-detail"),
    path("id-tags/<int:pk>/block/", views.IdTagBlockApi.as_view(), name="id-tag-block"),
]
