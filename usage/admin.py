"""Read-only admin for usage rows (browse and filter; only superusers may delete), and the usage dashboard."""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from usage.models import UsageRecord, UsageRollup

LIVE_FEED_PATH = "/ws/usage/live/"


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "model",
        "provider",
        "role",
        "status",
        "status_code",
        "total_tokens",
        "cost",
        "latency_ms",
        "ttft_ms",
        "attempts",
        "conversation_id",
    )
    list_filter = ("status", "provider", "role", "stream", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("=request_id", "^conversation_id", "model", "requested_model")
    search_help_text = "Exact request id, conversation id prefix, or part of a model name."
    show_full_result_count = False  # skip the unfiltered COUNT(*) on a large table
    list_per_page = 100
    fieldsets = (
        (
            "Request",
            {
                "fields": (
                    "created_at",
                    "request_id",
                    "profile",
                    "api_key_prefix",
                    "role",
                    "conversation_id",
                    "requested_model",
                    "stream",
                )
            },
        ),
        ("Routing", {"fields": ("model", "provider", "upstream_model", "route_reason", "attempts",
                                "attempt_log_pretty")}),
        ("Outcome", {"fields": ("status", "status_code", "error_type", "error_message")}),
        ("Tokens and cost", {"fields": ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
                                         "cache_creation_tokens", "reasoning_tokens", "tokens_estimated", "cost")}),
        ("Timing", {"fields": ("latency_ms", "ttft_ms", "overhead_ms")}),
    )
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: UsageRecord | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: UsageRecord | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    @admin.display(description="attempt log")
    def attempt_log_pretty(self, obj: UsageRecord) -> str:
        if not obj.attempt_log:
            return "—"
        pretty = json.dumps(obj.attempt_log, indent=2, ensure_ascii=False, sort_keys=True, default=str)
        return format_html('<pre style="margin:0;white-space:pre-wrap">{}</pre>', pretty)


@admin.register(UsageRollup)
class UsageDashboardAdmin(admin.ModelAdmin):
    """The usage dashboards, listed in the Usage section: the roll-up's change list is the dashboard page,
    and its `data/<panel>/` URLs answer the panels' JSON and CSV (usage.dashboard.views)."""

    def has_view_permission(self, request: HttpRequest, obj: UsageRollup | None = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: UsageRollup | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: UsageRollup | None = None) -> bool:
        return False

    def get_urls(self):
        from django.urls import path

        from usage.dashboard.views import panel_data

        info = self.opts.app_label, self.opts.model_name
        changelist = f"{info[0]}_{info[1]}_changelist"
        # Django's own pages stay (a roll-up row's read-only page and history) except its change list.
        return [
            path("data/<slug:panel>/", panel_data, name=f"{info[0]}_{info[1]}_data"),
            path("", self.admin_site.admin_view(self.changelist_view), name=changelist),
            *(url for url in super().get_urls() if url.name != changelist),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage dashboard",
            "opts": self.opts,
            "data_url": reverse("admin:usage_usagerollup_data", args=["overview"]).rsplit("overview/", 1)[0],
            "records_url": reverse("admin:usage_usagerecord_changelist"),
            "live_path": LIVE_FEED_PATH,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/usage/dashboard.html", context)
