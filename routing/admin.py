"""Admin for the routing configuration: providers, models, role rankings, profiles and model aliases.

Edits take effect on the next request without a restart: every save or delete goes through the
model signals (routing/signals.py), which bump the config version once the transaction commits.
Secrets never appear here: a provider row names the environment variable holding its key, and the
pages only say whether that variable is set.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.forms import Textarea
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from routing.admin_ranking import RankingEditorMixin
from routing.discovery import DiscoveryError, discover_models
from routing.models import Model, ModelAlias, ModelFallback, Profile, Provider, RankingEntry, Role
from routing.prices import CatalogueInvalid, PriceChange, parse_catalogue, plan_price_changes, read_source
from routing.selectors import monthly_quota, provider_env_prefix, provider_spec
from routing.services import model_prices_apply, ranking_read, rows_set_enabled


class PriceImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="A saved copy of the catalogue (JSON).")
    url = forms.URLField(required=False, assume_scheme="https",
                         help_text="Or fetch it, e.g. https://openrouter.ai/api/v1/models")

    def clean(self) -> dict:
        data = super().clean()
        if bool(data.get("file")) == bool(data.get("url")):
            raise forms.ValidationError("Give either a file or a URL.")
        return data

    def catalogue_bytes(self) -> bytes:
        """Raises CatalogueInvalid when the URL cannot be fetched."""
        upload = self.cleaned_data.get("file")
        return upload.read() if upload else read_source(self.cleaned_data["url"])


SMALL_TEXTAREA = {models.TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 48})}}


def _without_credentials(url: str) -> str:
    """The URL with any `user:password@` part dropped, so an env override never leaks a credential."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, count: int, verb: str) -> None:
    noun = modeladmin.model._meta.verbose_name if count == 1 else modeladmin.model._meta.verbose_name_plural
    modeladmin.message_user(request, f"{verb} {count} {noun}.", messages.SUCCESS)


class ModelInline(admin.TabularInline):
    model = Model
    fields = ("public_id", "upstream_name", "context_window", "enabled")
    extra = 0
    show_change_link = True


@admin.register(Provider)
class ProviderAdmin(SimpleHistoryAdmin):
    list_display = (
        "name",
        "kind",
        "tier",
        "monthly_quota",
        "enabled",
        "base_url",
        "key_variable",
        "key_set",
        "base_url_override",
    )
    list_filter = ("kind", "tier", "enabled")
    list_editable = ("enabled",)
    search_fields = ("name",)
    readonly_fields = ("key_status", "effective_base_url", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = (ModelInline,)
    actions = ("enable_selected", "disable_selected", "discover_selected")

    def get_fieldsets(self, request: HttpRequest, obj: Provider | None = None):
        prefix = provider_env_prefix(obj.name) if obj else "<NAME>"
        secrets_note = format_html(
            "Secrets live in the environment, never in the database. Put the key in the variable named "
            "below, or in <code>{}_API_KEY</code>, which takes precedence; <code>{}_BASE_URL</code> "
            "overrides the base URL. Restart not needed for row edits; environment changes need one.",
            prefix,
            prefix,
        )
        return (
            (None, {"fields": ("name", "kind", "tier", "enabled", "monthly_token_quota")}),
            (
                "Connection",
                {
                    "description": secrets_note,
                    "fields": (
                        "base_url",
                        "effective_base_url",
                        "api_key_env",
                        "key_status",
                        "timeout_seconds",
                    ),
                },
            ),
            ("Notes", {"fields": ("notes", "updated_at"), "classes": ("collapse",)}),
        )

    @admin.display(description="monthly token quota")
    def monthly_quota(self, obj: Provider) -> str:
        quota = monthly_quota(obj)
        return f"{quota:,}" if quota else "—"

    @admin.display(description="key variable")
    def key_variable(self, obj: Provider) -> str:
        return provider_spec(obj).key_env or "—"

    @admin.display(description="key set", boolean=True)
    def key_set(self, obj: Provider) -> bool:
        return provider_spec(obj).has_key

    @admin.display(description="base URL from env")
    def base_url_override(self, obj: Provider) -> str:
        effective = provider_spec(obj).base_url
        return _without_credentials(effective) if effective != obj.base_url.rstrip("/") else "—"

    @admin.display(description="key status")
    def key_status(self, obj: Provider | None) -> str:
        if obj is None or not obj.pk:
            return "Shown after saving."
        spec = provider_spec(obj)
        if not spec.needs_key:
            return "No key needed."
        if spec.has_key:
            return "Set in the environment."
        return f"Missing: set {spec.key_env} in the gateway's environment."

    @admin.display(description="effective base URL")
    def effective_base_url(self, obj: Provider | None) -> str:
        if obj is None or not obj.pk:
            return "—"
        effective = provider_spec(obj).base_url
        if effective == obj.base_url.rstrip("/"):
            return effective
        return f"{_without_credentials(effective)} (from {provider_env_prefix(obj.name)}_BASE_URL)"

    @admin.action(description="Enable selected providers")
    def enable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _report(self, request, rows_set_enabled(queryset, True, user=request.user), "Enabled")

    @admin.action(description="Disable selected providers")
    def disable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _report(self, request, rows_set_enabled(queryset, False, user=request.user), "Disabled")

    @admin.action(description="Discover models")
    def discover_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for provider in queryset:
            try:
                result = discover_models(provider)
            except DiscoveryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, result.summary(limit=20), messages.SUCCESS if result.added else messages.INFO)


class ModelFallbackInline(admin.TabularInline):
    model = ModelFallback
    fk_name = "model"
    fields = ("fallback", "position")
    autocomplete_fields = ("fallback",)
    ordering = ("position", "id")
    extra = 0
    verbose_name = "fallback"
    verbose_name_plural = "fallbacks (tried in order when this model fails before any byte is sent)"


@admin.register(Model)
class ModelAdmin(SimpleHistoryAdmin):
    list_display = (
        "public_id",
        "provider",
        "upstream_name",
        "context_window",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "capabilities",
        "enabled",
    )
    list_filter = ("provider", "kind", "enabled", "supports_tools", "supports_vision", "supports_json")
    list_editable = ("enabled",)
    list_select_related = ("provider",)
    search_fields = ("public_id", "upstream_name")
    autocomplete_fields = ("provider",)
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("public_id", "provider", "upstream_name", "kind", "enabled")}),
        (
            "Limits and prices",
            {"fields": ("context_window", "input_price_per_mtok", "output_price_per_mtok",
                        "cached_input_price_per_mtok", "cache_write_price_per_mtok")},
        ),
        ("Capabilities", {"fields": ("supports_tools", "supports_vision", "supports_json")}),
        (None, {"fields": ("updated_at",)}),
    )
    inlines = (ModelFallbackInline,)
    actions = ("enable_selected", "disable_selected", "import_prices")

    @admin.action(description="Import prices from a catalogue (OpenRouter format)…")
    def import_prices(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """A confirmation page: the catalogue (upload or URL), then the changes it would make to the selected
        models, then — only on confirmation — exactly those changes, applied."""
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "queryset": queryset,
                   "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "changes": None,
                   "select_across": request.POST.get("select_across", "0"), "title": "Import prices"}
        if "apply" in request.POST:
            try:
                planned = [PriceChange.from_dict(item) for item in json.loads(request.POST.get("changes", "[]"))]
            except (ValueError, TypeError, CatalogueInvalid) as exc:
                self.message_user(request, f"The confirmed changes could not be read: {exc}", messages.ERROR)
                return None
            selected = set(queryset.values_list("public_id", flat=True))
            count = model_prices_apply(changes=[change for change in planned if change.model in selected])
            self.message_user(request, f"Prices updated on {count} model(s).", messages.SUCCESS)
            return None
        form = PriceImportForm(request.POST if "preview" in request.POST else None, request.FILES or None)
        if "preview" in request.POST and form.is_valid():
            try:
                catalogue = parse_catalogue(form.catalogue_bytes())
            except CatalogueInvalid as exc:
                form.add_error(None, str(exc))
            else:
                changes, unmatched = plan_price_changes(queryset.order_by("public_id"), catalogue)
                context.update(changes=changes, unmatched=unmatched,
                               changes_json=json.dumps([change.as_dict() for change in changes]))
        context["form"] = form
        return TemplateResponse(request, "admin/routing/model/import_prices.html", context)

    @admin.display(description="capabilities")
    def capabilities(self, obj: Model) -> str:
        flags = (("tools", obj.supports_tools), ("vision", obj.supports_vision), ("json", obj.supports_json))
        return ", ".join(name for name, on in flags if on) or "—"

    @admin.action(description="Enable selected models")
    def enable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _report(self, request, rows_set_enabled(queryset, True, user=request.user), "Enabled")

    @admin.action(description="Disable selected models")
    def disable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _report(self, request, rows_set_enabled(queryset, False, user=request.user), "Disabled")


@admin.register(Role)
class RoleAdmin(RankingEditorMixin, admin.ModelAdmin):
    list_display = ("name", "primary_model", "entry_count", "ranking_link")
    search_fields = ("name",)
    fields = ("name", "description", "ranking_summary")
    readonly_fields = ("ranking_summary",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        first = RankingEntry.objects.filter(role=OuterRef("pk")).order_by("position", "id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                _entry_count=Count("ranking", distinct=True),
                _primary_model=Subquery(first.values("model__public_id")[:1]),
            )
        )

    @admin.display(description="primary model", ordering="_primary_model")
    def primary_model(self, obj: Role) -> str:
        return obj._primary_model or "—"

    @admin.display(description="ranked models", ordering="_entry_count")
    def entry_count(self, obj: Role) -> int:
        return obj._entry_count

    @admin.display(description="ranking")
    def ranking_link(self, obj: Role) -> str:
        return format_html('<a href="{}">Edit ranking</a>', reverse("admin:routing_role_ranking", args=[obj.pk]))

    @admin.display(description="ranking")
    def ranking_summary(self, obj: Role) -> str:
        if obj is None or not obj.pk:
            return "Save the role first, then order its ranking."
        entries = ", ".join(entry.model for entry in ranking_read(role=obj.name)) or "empty"
        return format_html('{} — <a href="{}">reorder by drag and drop</a>', entries,
                           reverse("admin:routing_role_ranking", args=[obj.pk]))


@admin.register(RankingEntry)
class RankingEntryAdmin(SimpleHistoryAdmin):
    """Entries are listed here to search and filter them; they are edited on their role's ranking page,
    where the whole order is reviewed and stored at once."""

    list_display = ("role", "position", "model", "kind", "pinned", "short_reason", "edit_link")
    list_display_links = None
    list_filter = ("role", "kind", "pinned", "model__provider")
    list_select_related = ("role", "model")
    search_fields = ("model__public_id", "reason")
    ordering = ("role__name", "position", "id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="reason")
    def short_reason(self, obj: RankingEntry) -> str:
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"

    @admin.display(description="")
    def edit_link(self, obj: RankingEntry) -> str:
        return format_html('<a href="{}">ranking of {}</a>', reverse("admin:routing_role_ranking", args=[obj.role_id]),
                           obj.role.name)


@admin.register(Profile)
class ProfileAdmin(SimpleHistoryAdmin):
    list_display = ("name", "tiers", "provider_names")
    search_fields = ("name",)
    filter_horizontal = ("providers",)
    fields = ("name", "description", "tiers", "providers")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("providers")

    def history_form_view(self, request: HttpRequest, object_id, version_id, extra_context=None):
        """simple-history's revert form fills many-to-many fields from the current row: show (and so revert
        to) the version's providers instead."""
        through = Profile.history.model._meta.get_field("historicalprofile_providers").related_model
        request._version_providers = list(
            through.objects.filter(history_id=version_id).values_list("provider_id", flat=True)
        )
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        providers = getattr(request, "_version_providers", None)
        if providers is None:
            return form

        class VersionForm(form):
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, **form_kwargs)
                if not self.is_bound:
                    self.initial["providers"] = providers

        return VersionForm

    @admin.display(description="providers")
    def provider_names(self, obj: Profile) -> str:
        return ", ".join(provider.name for provider in obj.providers.all()) or "all"


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    """Other names clients send (Claude Code's `claude-opus-*`, ...): each row one target of a pattern;
    the targets of one pattern are tried by position. The form checks the pattern and the target."""

    list_display = ("pattern", "position", "target", "notes")
    list_display_links = ("pattern",)
    list_editable = ("position", "target")
    search_fields = ("pattern", "target")
    ordering = ("pattern", "position", "id")
    fields = ("pattern", "target", "position", "notes")
    formfield_overrides = {models.TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 48})}}
