from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.api.fields import UtcModelSerializer

from accounts.models import IdTag, IdTagStatus, Role, User


class MeSerializer(UtcModelSerializer):
    """A user's own profile (CONTRACT.md ``/me/``)."""

    balance = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    id_tags = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role", "balance", "currency", "id_tags",
                  "language", "time_zone"]
        read_only_fields = fields

    def get_id_tags(self, user: User) -> list[str]:
        return sorted(t.id_tag for t in user.id_tags.all())


class MeUpdateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=["", "en", "fr", "de", "it"], required=False)
    time_zone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    password = serializers.CharField(write_only=True, required=False, help_text=_("New password."))
    current_password = serializers.CharField(
        write_only=True, required=False, help_text=_("Required with a new password.")
    )

    def validate_time_zone(self, value: str) -> str:
        if value:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise serializers.ValidationError(_("Unknown time zone.")) from None
        return value


class MeUpdateResponseSerializer(MeSerializer):
    """The profile; after a password change also fresh ``access`` and ``refresh`` tokens
    (every token issued before the change stops working)."""

    access = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)

    class Meta(MeSerializer.Meta):
        fields = [*MeSerializer.Meta.fields, "access", "refresh"]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterResponseSerializer(TokenPairSerializer):
    user = MeSerializer()


class LoginSerializer(serializers.Serializer):
    email = serializers.CharField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class AccessSerializer(serializers.Serializer):
    access = serializers.CharField()


class VerifySerializer(serializers.Serializer):
    token = serializers.CharField()


class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField()
    token = serializers.CharField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class UserSerializer(MeSerializer):
    """A user as admins see them."""

    class Meta(MeSerializer.Meta):
        fields = [*MeSerializer.Meta.fields, "is_active", "date_joined", "last_login", "locked_until"]
        read_only_fields = fields


class UserUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False, help_text=_("false blocks the user."))
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class CreditSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=_("A decimal string; negative for a correction.")
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class IdTagSerializer(UtcModelSerializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), allow_null=True, required=False)
    status = serializers.ChoiceField(choices=IdTagStatus.choices, required=False, default=IdTagStatus.ACCEPTED)
    parent = serializers.SlugRelatedField(
        slug_field="id_tag", queryset=IdTag.objects.all(), allow_null=True, required=False
    )
    id_tag = serializers.CharField(max_length=20)

    class Meta:
        model = IdTag
        fields = ["id", "id_tag", "user", "status", "expiry_date", "parent", "description", "created_at"]
        read_only_fields = ["id", "created_at"]


class IdTagUpdateSerializer(IdTagSerializer):
    class Meta(IdTagSerializer.Meta):
        read_only_fields = ["id", "id_tag", "created_at"]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["status"] = serializers.ChoiceField(choices=IdTagStatus.choices, required=False)
        return fields
