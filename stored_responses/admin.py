from django.contrib import admin

from stored_responses.models import StoredResponse


@admin.register(StoredResponse)
class StoredResponseAdmin(admin.ModelAdmin):
    list_display = ("response_id", "api_key_prefix", "model", "created_at")
    list_filter = ("model",)
    search_fields = ("response_id", "api_key_prefix")
    readonly_fields = ("response_id", "api_key_prefix", "model", "created_at", "messages")

    def has_add_permission(self, request) -> bool:
        return False
