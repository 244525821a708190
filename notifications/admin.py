from __future__ import annotations

from django.contrib import admin

from dashboard.adminutils import ReadOnlyAdminMixin
from notifications.models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "title", "read_at", "emailed_at")
    list_filter = ("kind", "created_at")
    search_fields = ("user__email", "title", "body", "dedup_key")
    list_select_related = ("user",)
    date_hierarchy = "created_at"


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "channel", "enabled")
    list_filter = ("kind", "channel", "enabled")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
