from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    SUPER_ADMIN = "super_admin", _("Super admin")
    ADMIN = "admin", _("Admin")
    DRIVER = "driver", _("Driver")
    DEMO = "demo", _("Demo")


STAFF_ROLES = (Role.SUPER_ADMIN, Role.ADMIN)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields["role"] = Role.SUPER_ADMIN
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser):
    """A person: driver, operator or demo visitor. Logs in with e-mail.

    ``balance`` is the cached sum of the user's ``billing.LedgerEntry`` rows; only
    billing services change it, in the same database transaction as the entry.
    """

    email = models.EmailField(_("e-mail address"), unique=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.DRIVER)
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Unset to block the user."))
    balance = models.DecimalField(_("balance"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    language = models.CharField(_("language"), max_length=8, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    failed_login_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        # Tokens issued before this instant stop working (see accounts.authentication).
        self.password_changed_at = timezone.now()

    # Roles decide everything; Django's staff/superuser flags are derived from them.
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.role in STAFF_ROLES

    @property
    def is_superuser(self) -> bool:
        return self.is_active and self.role == Role.SUPER_ADMIN

    @property
    def is_admin(self) -> bool:
        return self.is_staff

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_staff

    def has_perms(self, perm_list: Any, obj: object = None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff


class IdTagStatus(models.TextChoices):
    ACCEPTED = "Accepted", _("Accepted")
    BLOCKED = "Blocked", _("Blocked")
    EXPIRED = "Expired", _("Expired")


class IdTag(models.Model):
    """An OCPP idToken (RFID card, app token). The string is what chargers send."""

    id_tag = models.CharField(_("id tag"), max_length=20, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="id_tags", verbose_name=_("user"),
    )
    status = models.CharField(_("status"), max_length=16, choices=IdTagStatus.choices, default=IdTagStatus.ACCEPTED)
    expiry_date = models.DateTimeField(_("expiry date"), null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
        verbose_name=_("parent id tag"),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("id tag")
        verbose_name_plural = _("id tags")
        ordering = ["id_tag"]

    def __str__(self) -> str:
        return self.id_tag

    def is_expired(self, now: Any) -> bool:
        return self.status == IdTagStatus.EXPIRED or (self.expiry_date is not None and self.expiry_date <= now)
