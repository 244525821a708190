"""Tariffs (editable), and the money records (read-only: only billing services write them)."""

from __future__ import annotations

from django.contrib import admin

from billing.models import LedgerEntry, Payment, ProviderEvent, Tariff, TariffPeriod
from dashboard.adminutils import ReadOnlyAdminMixin


class TariffPeriodInline(admin.TabularInline):
    model = TariffPeriod
    extra = 0


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "price_per_kwh", "price_per_minute", "session_fee", "idle_fee_per_minute",
                    "idle_grace_minutes", "is_default")
    list_filter = ("is_default", "currency")
    search_fields = ("name",)
    inlines = (TariffPeriodInline,)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "amount", "currency", "balance_after", "transaction", "reason",
                    "external_ref", "created_by")
    list_filter = ("kind", "currency", "created_at")
    search_fields = ("user__email", "reason", "external_ref", "=transaction__id")
    list_select_related = ("user", "transaction", "created_by")
    date_hierarchy = "created_at"


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "provider", "kind", "status", "user", "transaction", "amount", "captured_amount",
                    "currency", "provider_ref")
    list_filter = ("provider", "kind", "status")
    search_fields = ("provider_ref", "user__email", "id_tag")
    list_select_related = ("user", "transaction")
    date_hierarchy = "created_at"


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "provider", "event_id", "event_type")
    list_filter = ("provider", "event_type")
    search_fields = ("event_id",)
