"""Admin for per-role prompt strategies; saving one refreshes the routing snapshot via its signal."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from simple_history.admin import SimpleHistoryAdmin

from prompts.models import RoleStrategy


@admin.register(RoleStrategy)
class RoleStrategyAdmin(SimpleHistoryAdmin):
    list_display = ("role", "enabled", "updated_at", "prompt_preview")
    list_filter = ("enabled",)
    list_editable = ("enabled",)
    search_fields = ("role__name", "system_prompt")
    autocomplete_fields = ("role",)
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("role", "enabled", "updated_at")}),
        ("Prompt", {"fields": ("system_prompt",)}),
        (
            "Guidance",
            {
                "fields": ("techniques", "constraints", "examples"),
                "description": "Techniques and constraints take one item per line; "
                'examples are a JSON list of {"input": ..., "output": ...} objects.',
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("role")

    @admin.display(description="system prompt")
    def prompt_preview(self, obj: RoleStrategy) -> str:
        return Truncator(" ".join(obj.system_prompt.split())).chars(90)
