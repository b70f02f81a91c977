"""Read-only admin for usage rows: browse and filter; only superusers may delete."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from usage.models import UsageRecord


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
