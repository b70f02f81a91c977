"""Stored responses in the admin: which exist, whose, how large; never their text (conversations are
the callers' data, which the gateway otherwise never shows or logs)."""

from django.contrib import admin
from django.db.models.functions import Length

from stored_responses.models import StoredResponse


@admin.register(StoredResponse)
class StoredResponseAdmin(admin.ModelAdmin):
    list_display = ("response_id", "api_key_prefix", "model", "created_at", "size")
    list_filter = ("model",)
    search_fields = ("response_id", "api_key_prefix")
    fields = readonly_fields = ("response_id", "api_key_prefix", "model", "created_at", "size")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("messages").annotate(size_chars=Length("messages"))

    @admin.display(description="size (characters)", ordering="size_chars")
    def size(self, obj: StoredResponse) -> int:
        return obj.size_chars

    def has_add_permission(self, request) -> bool:
        return False
