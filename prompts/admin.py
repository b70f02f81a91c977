"""Admin for per-role prompt strategies; saving one refreshes the routing snapshot via its signal."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from simple_history.admin import SimpleHistoryAdmin

from prompts.models import DetectionRule, RoleStrategy, StrategyOptOut


@admin.register(RoleStrategy)
class RoleStrategyAdmin(SimpleHistoryAdmin):
    list_display = ("role", "enabled", "placement", "updated_at", "prompt_preview")
    list_filter = ("enabled", "placement")
    list_editable = ("enabled", "placement")
    search_fields = ("role__name", "system_prompt")
    autocomplete_fields = ("role",)
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("role", "enabled", "placement", "updated_at")}),
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


@admin.register(DetectionRule)
class DetectionRuleAdmin(admin.ModelAdmin):
    """The fast path's weighted patterns. With no enabled row the shipped table applies; `manage.py
    detection_rules --load-defaults` copies it here. Saving refreshes every process's snapshot."""

    list_display = ("position", "role", "weight", "pattern_preview", "case_sensitive", "enabled", "note")
    list_display_links = ("pattern_preview",)
    list_editable = ("position", "weight", "enabled")
    list_filter = ("role", "enabled")
    search_fields = ("pattern", "note")
    list_per_page = 200

    @admin.display(description="pattern")
    def pattern_preview(self, obj: DetectionRule) -> str:
        return Truncator(obj.pattern).chars(100)


@admin.register(StrategyOptOut)
class StrategyOptOutAdmin(admin.ModelAdmin):
    list_display = ("kind", "name", "note")
    list_filter = ("kind",)
