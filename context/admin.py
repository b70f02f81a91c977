"""Conversations and interactions read-only (superusers may delete); context policies editable."""

from __future__ import annotations

import orjson
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from context.models import ContextPolicy, Conversation, Interaction, Message
from context.text import message_text

PREVIEW_CHARS = 2000


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser


class MessageInline(_ReadOnly, admin.TabularInline):
    model = Message
    fields = ("position", "role", "text", "tokens", "size", "created_at")
    readonly_fields = fields
    ordering = ("position",)
    extra = 0
    can_delete = False
    show_change_link = False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a message goes with its conversation

    @admin.display(description="message")
    def text(self, obj: Message) -> str:
        try:
            message = orjson.loads(obj.payload)
        except orjson.JSONDecodeError:
            return obj.payload[:PREVIEW_CHARS]
        text = message_text(message) if isinstance(message, dict) else obj.payload
        if len(text) > PREVIEW_CHARS:
            text = text[:PREVIEW_CHARS] + " …"
        return format_html('<div style="white-space:pre-wrap;max-width:70em">{}</div>', text)


@admin.register(Conversation)
class ConversationAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("updated_at", "conversation_id", "title", "message_count", "profile", "api_key_prefix")
    list_filter = ("profile", "updated_at")
    search_fields = ("=conversation_id", "^api_key_prefix", "title")
    search_help_text = "Exact conversation id, key prefix, or words of its first turn."
    date_hierarchy = "updated_at"
    show_full_result_count = False
    list_per_page = 100
    fields = ("conversation_id", "title", "api_key_prefix", "profile", "message_count", "created_at",
              "updated_at", "similar_ids")
    readonly_fields = fields
    inlines = [MessageInline]


@admin.register(Interaction)
class InteractionAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "short_prompt", "conversation", "profile", "api_key_prefix")
    list_filter = ("profile", "created_at")
    search_fields = ("=conversation__conversation_id", "^api_key_prefix")
    show_full_result_count = False
    list_select_related = ("conversation",)
    fields = ("conversation", "api_key_prefix", "profile", "request_id", "created_at", "prompt", "answer")
    readonly_fields = fields

    @admin.display(description="prompt")
    def short_prompt(self, obj: Interaction) -> str:
        return obj.prompt[:120]


@admin.register(ContextPolicy)
class ContextPolicyAdmin(admin.ModelAdmin):
    list_display = ("profile", "store", "history", "similar", "similar_scope", "similar_top_k", "similar_min_score",
                    "updated_at")
    list_editable = ("store", "history", "similar")
    fieldsets = (
        (None, {"fields": ("profile",)}),
        ("Conversations", {"fields": ("store", "history")}),
        ("Similar interactions", {"fields": ("similar", "similar_scope", "similar_top_k", "similar_min_score")}),
    )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        from django.conf import settings

        return {"similar_scope": settings.CONTEXT_SIMILAR_SCOPE, "similar_top_k": settings.CONTEXT_SIMILAR_TOP_K,
                "similar_min_score": settings.CONTEXT_SIMILAR_MIN_SCORE, **super().get_changeform_initial_data(request)}


