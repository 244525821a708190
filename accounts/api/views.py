"""Accounts API: registration, tokens, profile, password reset, users and id tags (admin)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken

import accounts.schema  # noqa: F401  (registers the OpenAPI auth scheme)
from accounts import selectors, services
from accounts.api.openapi import errors
from accounts.api.serializers import (
    AccessSerializer,
    CreditSerializer,
    DetailSerializer,
    IdTagSerializer,
    IdTagUpdateSerializer,
    LoginSerializer,
    MeSerializer,
    MeUpdateResponseSerializer,
    MeUpdateSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    RefreshSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
    UserUpdateSerializer,
    VerifySerializer,
)
from accounts.authentication import token_is_stale
from accounts.exceptions import InvalidCredentials
from accounts.models import IdTag, User
from accounts.permissions import IsAdmin, IsUser


def token_pair(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _user_for_token(token: Any) -> User:
    """The token's user, refusing blocked users and tokens older than the last password change."""
    user = User.objects.filter(pk=token.get("user_id")).first()
    if user is None or not user.is_active or token_is_stale(user, token):
        raise InvalidCredentials(_("Token is invalid or expired."), code="token_not_valid")
    return user


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        tags=["auth"], request=RegisterSerializer,
        responses={201: RegisterResponseSerializer, **errors(400)},
        summary="Create a driver account",
        description="The new user gets an id tag and CSMS_INITIAL_BALANCE (an `initial` ledger entry).",
    )
    def post(self, request: Request) -> Response:
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response({"user": MeSerializer(user).data, **token_pair(user)}, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        tags=["auth"], request=LoginSerializer, responses={200: TokenPairSerializer, **errors(400, 401)},
        summary="Log in with e-mail and password",
        description="401 on bad credentials. After CSMS_LOGIN_MAX_ATTEMPTS wrong passwords the account "
                    "is locked for CSMS_LOGIN_LOCKOUT_MINUTES (401 with code `account_locked`).",
    )
    def post(self, request: Request) -> Response:
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_authenticate(**data.validated_data)
        return Response(token_pair(user))


class TokenRefreshApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(tags=["auth"], request=RefreshSerializer, responses={200: AccessSerializer, **errors(400, 401)},
                   summary="A new access token from a refresh token")
    def post(self, request: Request) -> Response:
        data = RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(data.validated_data["refresh"])
        except TokenError as exc:
            raise InvalidCredentials(str(exc), code="token_not_valid") from None
        _user_for_token(refresh)
        return Response({"access": str(refresh.access_token)})


class TokenVerifyApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(tags=["auth"], request=VerifySerializer,
                   responses={200: OpenApiResponse(description="The token is valid."), **errors(400, 401)},
                   summary="Check a token")
    def post(self, request: Request) -> Response:
        data = VerifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = UntypedToken(data.validated_data["token"])
        except TokenError as exc:
            raise InvalidCredentials(str(exc), code="token_not_valid") from None
        _user_for_token(token)
        return Response({})


class PasswordResetApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        tags=["auth"], request=PasswordResetRequestSerializer, responses={200: DetailSerializer, **errors(400)},
        summary="Mail a password reset link",
        description="Answers the same whether or not the address is registered. The e-mail holds a link "
                    "to a page that sets the new password, and the uid and token for "
                    "`/auth/password-reset/confirm/`. Single use; expires after CSMS_PASSWORD_RESET_HOURS.",
    )
    def post(self, request: Request) -> Response:
        data = PasswordResetRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response({"detail": str(_("If the address is registered, a reset link is on its way."))})


class PasswordResetConfirmApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(tags=["auth"], request=PasswordResetConfirmSerializer,
                   responses={200: DetailSerializer, **errors(400)}, summary="Set a new password with a reset token")
    def post(self, request: Request) -> Response:
        data = PasswordResetConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(**data.validated_data)
        return Response({"detail": str(_("Your password has been set."))})


class MeApi(APIView):
    permission_classes = [IsUser]

    @extend_schema(tags=["accounts"], responses={200: MeSerializer, **errors(401)}, summary="Own profile")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        tags=["accounts"], request=MeUpdateSerializer,
        responses={200: MeUpdateResponseSerializer, **errors(400, 401, 403)},
        summary="Update own profile",
        description="A new `password` needs `current_password`; every token issued before it stops "
                    "working, and the answer carries a fresh `access` and `refresh`.",
    )
    def patch(self, request: Request) -> Response:
        data = MeUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **data.validated_data)
        body = dict(MeSerializer(user).data)
        if "password" in data.validated_data:
            body.update(token_pair(user))
        return Response(body)


class UserListApi(generics.ListAPIView):
    permission_classes = [IsAdmin]
    serializer_class = UserSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        active = params.get("is_active")
        return selectors.user_list(
            role=params.get("role") or None, search=params.get("search") or None,
            is_active=None if active is None else active.lower() in ("1", "true", "yes"),
        )

    @extend_schema(
        tags=["users"], summary="List users (admin)", responses={200: UserSerializer(many=True), **errors(401, 403)},
        parameters=[
            OpenApiParameter("role", str, enum=["super_admin", "admin", "driver", "demo"]),
            OpenApiParameter("search", str, description="Part of e-mail or name."),
            OpenApiParameter("is_active", bool),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class UserDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(tags=["users"], responses={200: UserSerializer, **errors(401, 403, 404)}, summary="One user (admin)")
    def get(self, request: Request, pk: int) -> Response:
        return Response(UserSerializer(get_object_or_404(User, pk=pk)).data)

    @extend_schema(
        tags=["users"], request=UserUpdateSerializer, responses={200: UserSerializer, **errors(400, 401, 403, 404)},
        summary="Change a user's role or block them (admin)",
        description="Only a super admin makes, changes or demotes admins (else 403).",
    )
    def patch(self, request: Request, pk: int) -> Response:
        user = get_object_or_404(User, pk=pk)
        data = UserUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_admin_update(actor=request.user, user=user, **data.validated_data)
        return Response(UserSerializer(user).data)


class UserCreditApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        tags=["users"], request=CreditSerializer, responses={200: UserSerializer, **errors(400, 401, 403, 404)},
        summary="Credit a user's balance (admin)",
        description="One ledger entry (`topup`, or `adjustment` when negative); answers the user with the new balance.",
    )
    def post(self, request: Request, pk: int) -> Response:
        data = CreditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_credit(actor=request.user, user_id=pk, **data.validated_data)
        return Response(UserSerializer(user).data)


class IdTagListApi(generics.ListAPIView):
    permission_classes = [IsAdmin]
    serializer_class = IdTagSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        user = params.get("user")
        return selectors.id_tag_list(
            user_id=int(user) if user and user.isdigit() else None,
            status=params.get("status") or None, search=params.get("search") or None,
        )

    @extend_schema(
        tags=["id-tags"], summary="List id tags (admin)", responses={200: IdTagSerializer(many=True), **errors(401, 403)},
        parameters=[
            OpenApiParameter("user", int), OpenApiParameter("status", str, enum=["Accepted", "Blocked", "Expired"]),
            OpenApiParameter("search", str),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["id-tags"], request=IdTagSerializer, responses={201: IdTagSerializer, **errors(400, 401, 403)},
                   summary="Create an id tag (admin)")
    def post(self, request: Request) -> Response:
        data = IdTagSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tag = services.id_tag_create(**data.validated_data)
        return Response(IdTagSerializer(tag).data, status=status.HTTP_201_CREATED)


class IdTagDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(tags=["id-tags"], responses={200: IdTagSerializer, **errors(401, 403, 404)}, summary="One id tag (admin)")
    def get(self, request: Request, pk: int) -> Response:
        return Response(IdTagSerializer(get_object_or_404(IdTag, pk=pk)).data)

    @extend_schema(tags=["id-tags"], request=IdTagUpdateSerializer,
                   responses={200: IdTagSerializer, **errors(400, 401, 403, 404)},
                   summary="Change an id tag: owner, status (block), expiry (admin)")
    def patch(self, request: Request, pk: int) -> Response:
        tag = get_object_or_404(IdTag, pk=pk)
        data = IdTagUpdateSerializer(tag, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tag = services.id_tag_update(id_tag=tag, **data.validated_data)
        return Response(IdTagSerializer(tag).data)


class IdTagBlockApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(tags=["id-tags"], request=None, responses={200: IdTagSerializer, **errors(401, 403, 404)},
                   summary="Block an id tag (admin)")
    def post(self, request: Request, pk: int) -> Response:
        tag = services.id_tag_block(id_tag=get_object_or_404(IdTag, pk=pk))
        return Response(IdTagSerializer(tag).data)
