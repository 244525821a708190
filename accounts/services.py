"""Accounts services: registration, login with lockout, profile, password reset, roles, id tags,
admin credit and the users import."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from accounts.exceptions import AccountLocked, Forbidden, InvalidCredentials, field_error
from accounts.models import STAFF_ROLES, IdTag, IdTagStatus, Role, User
from core.exceptions import NotFound

ID_TAG_MAX_LENGTH = 20


# --- Registration and id tags ------------------------------------------------------------------

def _password_errors(password: str, user: User | None = None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return [str(m) for m in exc.messages]
    return []


@transaction.atomic
def user_register(
    *, email: str, password: str, first_name: str = "", last_name: str = "", role: str = Role.DRIVER,
    initial_balance: Decimal | None = None, created_by: User | None = None,
) -> User:
    """Create a user with a generated id tag and the initial balance (one ledger entry).

    Raises InvalidInput naming ``email`` (taken) or ``password`` (too weak).
    """
    from billing.models import LedgerKind
    from billing.services import ledger_credit

    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise field_error("email", _g("This e-mail address is already registered."))
    candidate = User(email=email, first_name=first_name, last_name=last_name)
    errors = _password_errors(password, candidate)
    if errors:
        raise field_error("password", *errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, first_name=first_name, last_name=last_name, role=role,
                currency=settings.CSMS_CURRENCY,
            )
    except IntegrityError:  # a concurrent registration with the same address
        raise field_error("email", _g("This e-mail address is already registered.")) from None
    id_tag_generate(user=user)
    amount = settings.CSMS_INITIAL_BALANCE if initial_balance is None else initial_balance
    if amount:
        ledger_credit(user_id=user.pk, amount=Decimal(amount), kind=LedgerKind.INITIAL,
                      reason=_g("Initial credit"), created_by=created_by)
        user.refresh_from_db(fields=["balance"])
    return user


def id_tag_generate(*, user: User) -> IdTag:
    """A fresh random id tag (8 hex digits, like an RFID UID) for the user."""
    for _attempt in range(10):
        candidate = secrets.token_hex(4).upper()
        try:
            with transaction.atomic():
                return IdTag.objects.create(id_tag=candidate, user=user, description=_g("App"))
        except IntegrityError:
            continue
    raise RuntimeError("could not generate a unique id tag")


def user_ensure_id_tag(*, user: User) -> None:
    """Every user has an id tag: one is generated for a user who has none at all (a superuser made
    with createsuperuser, a user added in the admin). Blocked or expired tags are left alone."""
    if not IdTag.objects.filter(user=user).exists():
        id_tag_generate(user=user)


def id_tag_create(
    *, id_tag: str, user: User | None = None, status: str = IdTagStatus.ACCEPTED,
    expiry_date: datetime | None = None, parent: IdTag | None = None, description: str = "",
) -> IdTag:
    """Raises InvalidInput naming ``id_tag`` when it is taken or too long."""
    id_tag = id_tag.strip()
    if not id_tag or len(id_tag) > ID_TAG_MAX_LENGTH:
        raise field_error("id_tag", _g("1 to 20 characters."))
    try:
        with transaction.atomic():
            return IdTag.objects.create(
                id_tag=id_tag, user=user, status=status, expiry_date=expiry_date, parent=parent,
                description=description,
            )
    except IntegrityError:
        raise field_error("id_tag", _g("This id tag already exists.")) from None


def id_tag_update(*, id_tag: IdTag, **changes: Any) -> IdTag:
    allowed = {"user", "status", "expiry_date", "parent", "description"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    for name, value in changes.items():
        setattr(id_tag, name, value)
    id_tag.save(update_fields=list(changes) or None)
    return id_tag


def id_tag_block(*, id_tag: IdTag) -> IdTag:
    return id_tag_update(id_tag=id_tag, status=IdTagStatus.BLOCKED)


# --- Login with lockout --------------------------------------------------------------------------

def user_authenticate(*, email: str, password: str, now: datetime | None = None) -> User:
    """Check e-mail and password, counting failures.

    After ``CSMS_LOGIN_MAX_ATTEMPTS`` wrong passwords in a row the account is locked for
    ``CSMS_LOGIN_LOCKOUT_MINUTES``: even the right password fails (AccountLocked) until then.
    The counter is incremented with an UPDATE … F() so parallel guesses all count.
    Raises InvalidCredentials (401) for an unknown e-mail, a wrong password or a blocked user.
    """
    now = now or timezone.now()
    user = User.objects.filter(email__iexact=(email or "").strip()).first()
    if user is None:
        # Same work as a real check, so timing does not tell which addresses exist.
        User().set_password(password)
        raise InvalidCredentials()
    if user.locked_until and user.locked_until > now:
        raise AccountLocked()
    if not user.check_password(password):
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(failed_login_attempts=F("failed_login_attempts") + 1)
            attempts = User.objects.values_list("failed_login_attempts", flat=True).get(pk=user.pk)
            if attempts >= settings.CSMS_LOGIN_MAX_ATTEMPTS:
                User.objects.filter(pk=user.pk).update(
                    failed_login_attempts=0,
                    locked_until=now + timedelta(minutes=settings.CSMS_LOGIN_LOCKOUT_MINUTES),
                )
        raise InvalidCredentials()
    if not user.is_active:
        raise InvalidCredentials()
    User.objects.filter(pk=user.pk).update(failed_login_attempts=0, locked_until=None, last_login=now)
    user.failed_login_attempts, user.locked_until, user.last_login = 0, None, now
    return user


# --- Profile ---------------------------------------------------------------------------------------

PROFILE_FIELDS = ("first_name", "last_name", "language", "time_zone")


@transaction.atomic
def user_update_profile(
    *, user: User, password: str | None = None, current_password: str | None = None, **changes: Any
) -> User:
    """Update the user's own profile. A new password needs the current one and invalidates every
    token issued before it (``password_changed_at``)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    fields = list(changes)
    for name, value in changes.items():
        setattr(user, name, value)
    if password is not None:
        if not current_password or not user.check_password(current_password):
            raise field_error("current_password", _g("The current password is wrong."))
        errors = _password_errors(password, user)
        if errors:
            raise field_error("password", *errors)
        user.set_password(password)
        fields += ["password", "password_changed_at"]
    if fields:
        user.save(update_fields=fields)
    return user


# --- Password reset --------------------------------------------------------------------------------

class PasswordResetTokens(PasswordResetTokenGenerator):
    """Django's reset tokens with our expiry (``CSMS_PASSWORD_RESET_HOURS``).

    Single use: the hash covers the password hash, which the reset changes.
    """

    key_salt = "accounts.services.PasswordResetTokens"

    def check_token(self, user: Any, token: str | None) -> bool:
        if not (user and token):
            return False
        try:
            ts_b36, _hash = token.split("-")
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        for secret in [self.secret, *self.secret_fallbacks]:
            if constant_time_compare(self._make_token_with_timestamp(user, ts, secret), token):
                break
        else:
            return False
        return (self._num_seconds(self._now()) - ts) <= settings.CSMS_PASSWORD_RESET_HOURS * 3600


password_reset_tokens = PasswordResetTokens()


def password_reset_link(*, user: User) -> tuple[str, str, str]:
    """(uid, token, absolute URL of the page that sets a new password)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = password_reset_tokens.make_token(user)
    path = reverse("accounts:password-reset-confirm", kwargs={"uidb64": uid, "token": token})
    return uid, token, settings.CSMS_PUBLIC_URL.rstrip("/") + path


def password_reset_request(*, email: str) -> bool:
    """Mail a reset link when the address belongs to an active user. Returns whether one was sent;
    callers answer the same either way so addresses cannot be probed."""
    user = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if user is None:
        return False
    uid, token, url = password_reset_link(user=user)
    hours = settings.CSMS_PASSWORD_RESET_HOURS
    send_mail(
        subject=_g("Reset your password"),
        message=_g(
            "Someone asked to reset the password of your charging account.\n\n"
            "Open this link to choose a new one (valid for %(hours)s hours, once):\n%(url)s\n\n"
            "Token for the app: uid=%(uid)s token=%(token)s\n\n"
            "If it was not you, ignore this message."
        ) % {"hours": hours, "url": url, "uid": uid, "token": token},
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return True


def password_reset_user(*, uid: str, token: str) -> User:
    """The user a (uid, token) pair resets, or InvalidInput naming ``token``."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
        user = User.objects.get(pk=pk, is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not password_reset_tokens.check_token(user, token):
        raise field_error("token", _g("This reset link is invalid, used or expired."))
    return user


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, password: str) -> User:
    """Set a new password with a reset token; the token then stops working (single use)."""
    user = password_reset_user(uid=uid, token=token)
    user = User.objects.select_for_update().get(pk=user.pk)
    # Checked again under the lock: two concurrent uses of one token, only one wins.
    if not password_reset_tokens.check_token(user, token):
        raise field_error("token", _g("This reset link is invalid, used or expired."))
    errors = _password_errors(password, user)
    if errors:
        raise field_error("password", *errors)
    user.set_password(password)
    user.failed_login_attempts = 0
    user.locked_until = None
    user.save(update_fields=["password", "password_changed_at", "failed_login_attempts", "locked_until"])
    return user


# --- Administration --------------------------------------------------------------------------------

@transaction.atomic
def user_admin_update(
    *, actor: User, user: User, role: str | None = None, is_active: bool | None = None,
    first_name: str | None = None, last_name: str | None = None,
) -> User:
    """An admin changes a user's role or blocks them.

    Only a super admin grants or takes away an admin role, or touches an admin's account.
    Nobody blocks or demotes themselves (so the last super admin cannot lock everyone out).
    Raises Forbidden (403).
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    touches_admin = user.role in STAFF_ROLES or (role is not None and role in STAFF_ROLES)
    if touches_admin and actor.role != Role.SUPER_ADMIN:
        raise Forbidden(_("Only a super admin can make or change admins."))
    if user.pk == actor.pk and ((role is not None and role != user.role) or is_active is False):
        raise Forbidden(_("You cannot change your own role or block yourself."))
    fields = []
    for name, value in (("role", role), ("is_active", is_active), ("first_name", first_name),
                        ("last_name", last_name)):
        if value is not None:
            setattr(user, name, value)
            fields.append(name)
    if fields:
        user.save(update_fields=fields)
    return user


def user_credit(*, actor: User, user_id: int, amount: Decimal, reason: str = "") -> User:
    """Credit (or, negative, correct) a user's balance through one ledger entry."""
    from billing.models import LedgerKind
    from billing.services import ledger_credit

    if not User.objects.filter(pk=user_id).exists():
        raise NotFound()
    if amount == 0:
        raise field_error("amount", _g("The amount cannot be zero."))
    kind = LedgerKind.TOPUP if amount > 0 else LedgerKind.ADJUSTMENT
    ledger_credit(user_id=user_id, amount=amount, kind=kind, reason=reason, created_by=actor)
    return User.objects.get(pk=user_id)


# --- Import ----------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _import_row(row: dict[str, Any], *, created_by: User | None) -> tuple[str, str]:
    """One user and their id tags; returns (outcome, reason). Runs in its own savepoint."""
    email = str(row.get("email") or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        return "rejected", _g("invalid e-mail address")
    if User.objects.filter(email__iexact=email).exists():
        return "skipped", _g("already exists")
    role = str(row.get("role") or Role.DRIVER).strip()
    if role not in Role.values:
        return "rejected", _g("unknown role %(role)s") % {"role": role}
    tags = row.get("id_tags") or row.get("id_tag") or []
    if isinstance(tags, str):
        tags = [t for t in (p.strip() for p in tags.replace(",", ";").split(";")) if t]
    for tag in tags:
        if len(tag) > ID_TAG_MAX_LENGTH:
            return "rejected", _g("id tag %(tag)s is longer than 20 characters") % {"tag": tag}
        if IdTag.objects.filter(id_tag=tag).exists():
            return "rejected", _g("id tag %(tag)s already exists") % {"tag": tag}
    balance_raw = row.get("balance")
    balance: Decimal | None = None
    if balance_raw not in (None, ""):
        try:
            balance = Decimal(str(balance_raw))
        except InvalidOperation:
            return "rejected", _g("invalid balance %(balance)s") % {"balance": balance_raw}
    password = str(row.get("password") or "")
    with transaction.atomic():
        user = User.objects.create_user(
            email, password or None, first_name=str(row.get("first_name") or ""),
            last_name=str(row.get("last_name") or ""), role=role, currency=settings.CSMS_CURRENCY,
        )
        if not password:
            user.set_unusable_password()  # they set one through the password reset
            user.save(update_fields=["password"])
        if tags:
            for tag in tags:
                IdTag.objects.create(id_tag=tag, user=user)
        else:
            id_tag_generate(user=user)
        amount = settings.CSMS_INITIAL_BALANCE if balance is None else balance
        if amount:
            from billing.models import LedgerKind
            from billing.services import ledger_credit

            ledger_credit(user_id=user.pk, amount=amount, kind=LedgerKind.INITIAL,
                          reason=_g("Imported"), created_by=created_by)
    return "created", ""


def users_import(*, rows: list[dict[str, Any]], dry_run: bool = False, created_by: User | None = None) -> ImportReport:
    """Import users and their id tags (first-run setup). Existing e-mails are skipped; bad rows
    rejected with a reason; each row stands alone. ``dry_run`` rolls everything back."""
    report = ImportReport()
    with transaction.atomic():
        for number, row in enumerate(rows, start=1):
            label = str(row.get("email") or f"row {number}")
            try:
                with transaction.atomic():
                    outcome, reason = _import_row(row, created_by=created_by)
            except (IntegrityError, ValueError) as exc:  # e.g. the same id tag twice in one row
                outcome, reason = "rejected", str(exc).splitlines()[0]
            if outcome == "created":
                report.created.append(label)
            elif outcome == "skipped":
                report.skipped.append(label)
            else:
                report.rejected.append((label, reason))
        if dry_run:
            transaction.set_rollback(True)
    return report
