"""Admin for gateway keys: create (the key is shown once), limit, revoke. Only hashes are stored."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from apikeys.models import GatewayKey
from apikeys.services import key_fill_secret, key_revoke
from usage.models import UsageRecord
from usage.selectors import month_start


@admin.register(GatewayKey)
class GatewayKeyAdmin(SimpleHistoryAdmin):
    list_display = (
        "name", "prefix_shown", "profile", "rpm_limit", "tpm_limit", "monthly_budget", "spent_this_month",
        "expires_at", "state",
    )
    list_filter = ("is_admin", "profile")
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix_shown", "revoked_at", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "prefix_shown", "profile", "is_admin", "expires_at", "revoked_at")}),
        ("What it may use", {"fields": ("allowed_models", "allowed_roles")}),
        ("Limits", {"fields": ("rpm_limit", "tpm_limit", "monthly_budget")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ["revoke_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        spent = (
            UsageRecord.objects.filter(api_key_prefix=OuterRef("prefix"), created_at__gte=month_start())
            .values("api_key_prefix")
            .annotate(total=Sum("cost"))
            .values("total")
        )
        money = DecimalField(max_digits=14, decimal_places=8)
        return super().get_queryset(request).select_related("profile").annotate(
            spent=Coalesce(Subquery(spent, output_field=money), 0, output_field=money)
        )

    @admin.display(description="key", ordering="prefix")
    def prefix_shown(self, key: GatewayKey) -> str:
        return f"{key.prefix}_…" if key.prefix else "(generated when saved)"

    @admin.display(description="spent this month ($)", ordering="spent")
    def spent_this_month(self, key: GatewayKey) -> str:
        return f"{key.spent:.4f}"

    @admin.display(description="state")
    def state(self, key: GatewayKey) -> str:
        if key.is_revoked:
            return "revoked"
        return "expired" if key.is_expired else "active"

    def save_model(self, request: HttpRequest, obj: GatewayKey, form, change: bool) -> None:
        if not change:
            request._new_gateway_key = key_fill_secret(obj)
        else:
            # Revocation is one way: reverting to a revision from before it must not bring the key back.
            stored = GatewayKey.objects.filter(pk=obj.pk).values_list("revoked_at", flat=True).first()
            obj.revoked_at = stored or obj.revoked_at
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: GatewayKey, post_url_continue=None) -> HttpResponse:
        plaintext = getattr(request, "_new_gateway_key", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "key": obj, "plaintext": plaintext,
                   "opts": self.model._meta, "title": "Gateway key created"}
        response = TemplateResponse(request, "admin/apikeys/gatewaykey/key_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys (takes effect within a second)")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        keys = [key for key in queryset if not key.is_revoked]
        for key in keys:
            key_revoke(key=key)
        self.message_user(request, f"Revoked {len(keys)} key(s) at {timezone.now():%H:%M:%S} UTC.", messages.SUCCESS)
