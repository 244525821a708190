"""Users (e-mail login, role, balance) and id tags for operators."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from accounts.models import STAFF_ROLES, IdTag, Role, User
from billing.models import LedgerEntry
from core.exceptions import DomainError


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "role")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class CreditForm(forms.Form):
    amount = forms.DecimalField(label=_("amount"), max_digits=12, decimal_places=2,
                                help_text=_("Negative for a correction."))
    reason = forms.CharField(label=_("reason"), max_length=200, required=False)


class IdTagInline(admin.TabularInline):
    model = IdTag
    fk_name = "user"
    extra = 0
    fields = ("id_tag", "status", "expiry_date", "parent", "description")
    raw_id_fields = ("parent",)


class LedgerInline(admin.TabularInline):
    model = LedgerEntry
    fk_name = "user"
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("created_at", "kind", "amount", "currency", "balance_after", "transaction", "reason")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name_plural = _("balance ledger")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ("email", "first_name", "last_name", "role", "balance", "currency", "is_active",
                    "date_joined", "last_login")
    list_filter = ("role", "is_active", "currency", "language")
    search_fields = ("email", "first_name", "last_name", "id_tags__id_tag")
    ordering = ("email",)
    filter_horizontal = ()
    inlines = (IdTagInline, LedgerInline)
    readonly_fields = ("balance", "date_joined", "last_login", "password_changed_at", "failed_login_attempts",
                       "locked_until")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "language", "time_zone")}),
        (_("Role and access"), {"fields": ("role", "is_active", "failed_login_attempts", "locked_until")}),
        (_("Balance"), {"fields": ("balance", "currency")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined", "password_changed_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "usable_password", "password1", "password2")}),
    )
    actions = ("credit_users", "block_users", "unblock_users")

    def get_inlines(self, request: HttpRequest, obj: User | None = None) -> tuple[Any, ...]:
        return self.inlines if obj is not None else ()

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        # Only a super admin makes or changes admins (the rule of accounts.services.user_admin_update).
        if not request.user.is_superuser and obj is not None and (obj.role in STAFF_ROLES or obj.pk == request.user.pk):
            fields += ("role", "is_active")
        return fields

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role" and not request.user.is_superuser:
            kwargs["choices"] = [(v, label) for v, label in Role.choices if v not in STAFF_ROLES]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change and {"role", "is_active"} & set(form.changed_data):
            from accounts.services import user_admin_update

            role, is_active = obj.role, obj.is_active
            original = User.objects.get(pk=obj.pk)
            obj.role, obj.is_active = original.role, original.is_active
            other = [f for f in form.changed_data if f not in ("role", "is_active")]
            if other:
                super().save_model(request, obj, form, change)
            user_admin_update(actor=request.user, user=obj,  # type: ignore[arg-type]
                              role=role if "role" in form.changed_data else None,
                              is_active=is_active if "is_active" in form.changed_data else None)
            obj.refresh_from_db()
            return
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Credit the selected users' balance"))
    def credit_users(self, request: HttpRequest, queryset: QuerySet[User]) -> TemplateResponse | None:
        """An intermediate page asks for the amount; each credit is one ledger entry (billing)."""
        from accounts.services import user_credit

        form = CreditForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for user in queryset:
                try:
                    user_credit(actor=request.user, user_id=user.pk,  # type: ignore[arg-type]
                                amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"])
                except DomainError as exc:
                    self.message_user(request, f"{user.email}: {exc}", messages.ERROR)
                else:
                    self.message_user(request, _("%(email)s credited %(amount)s.") % {
                        "email": user.email, "amount": form.cleaned_data["amount"]}, messages.SUCCESS)
            return None
        return TemplateResponse(request, "admin/accounts/user/credit.html", {
            **self.admin_site.each_context(request), "title": _("Credit balance"), "form": form,
            "users": queryset, "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    @admin.action(description=_("Block the selected users"))
    def block_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description=_("Unblock the selected users"))
    def unblock_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, True)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], active: bool) -> None:
        from accounts.services import user_admin_update

        done = 0
        for user in queryset:
            try:
                user_admin_update(actor=request.user, user=user, is_active=active)  # type: ignore[arg-type]
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{user.email}: {exc}", messages.ERROR)
        self.message_user(request, _("%(n)d user(s) changed.") % {"n": done}, messages.SUCCESS)


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    list_display = ("id_tag", "user", "status", "expiry_date", "parent", "description", "created_at")
    list_filter = ("status",)
    search_fields = ("id_tag", "user__email", "description")
    list_select_related = ("user", "parent")
    raw_id_fields = ("user", "parent")
    actions = ("block_tags",)

    @admin.action(description=_("Block the selected id tags"))
    def block_tags(self, request: HttpRequest, queryset: QuerySet[IdTag]) -> None:
        from accounts.services import id_tag_block

        for tag in queryset:
            id_tag_block(id_tag=tag)
        self.message_user(request, _("%(n)d id tag(s) blocked.") % {"n": queryset.count()}, messages.SUCCESS)


# Roles decide permissions in this project; Django's groups are not used.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)
