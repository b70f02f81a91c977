"""Admin for monthly research: sources, runs (diff, scores, revert), the name review queue, weights, held
catalogue changes, and the buttons that start a run. Every write goes through research.services,
research.reviews or research.weights; this module only renders and dispatches.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from simple_history.admin import SimpleHistoryAdmin

from research import services
from research.models import (
    CatalogueChange,
    ModelAlias,
    NameReview,
    ResearchRun,
    ResearchSource,
    RoleWeight,
    ScoringParameter,
)
from research.reviews import AliasInvalid, alias_review, aliases_accept_candidate, aliases_mark_none, review_queue
from research.scoring import WeightsError
from research.selectors import source_urls
from research.weights import weights_export, weights_export_file, weights_import, weights_import_file


def _who(request: HttpRequest) -> str:
    return f"admin user {request.user.get_username()}"


@admin.register(ResearchSource)
class ResearchSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "effective_url", "last_fetched_at", "last_status", "last_records",
                    "short_error")
    list_editable = ("enabled",)
    list_filter = ("enabled", "kind", "last_status")
    search_fields = ("name", "url")
    readonly_fields = ("effective_url", "last_fetched_at", "last_status", "last_error", "last_records",
                       "last_sha256", "updated_at")
    fields = ("name", "kind", "url", "documents", "enabled", "notes", "effective_url", "last_fetched_at",
              "last_status", "last_records", "last_error", "last_sha256", "updated_at")

    @admin.display(description="URL a run fetches")
    def effective_url(self, source: ResearchSource) -> str:
        urls = source_urls(source)
        if urls.overridden:
            return format_html("{} <small>(from {})</small>", urls.url, ", ".join(urls.overridden))
        return urls.url

    @admin.display(description="last error")
    def short_error(self, source: ResearchSource) -> str:
        return source.last_error[:120]


@admin.register(ResearchRun)
class ResearchRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/research/researchrun/change_list.html"
    change_form_template = "admin/research/researchrun/change_form.html"
    list_display = ("id", "mode", "status", "progress", "triggered_by", "started_at", "finished_at", "roles_changed",
                    "matched_count", "unmatched_count", "ambiguous_count", "reverted_at")
    list_filter = ("status", "mode")
    actions = ("revert_runs",)
    fields = ("mode", "status", "progress", "stage", "triggered_by", "worker", "created_at", "started_at",
              "finished_at", "summary", "error", "sources_table", "diff_table", "names_table", "scores_table",
              "catalogue_table", "log", "reverted_at", "reverted_by")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a run is a record; revert is its one action

    @admin.display(description="roles changed")
    def roles_changed(self, run: ResearchRun) -> str:
        return ", ".join(run.changed_roles) or "—"

    @admin.display(description="sources")
    def sources_table(self, run: ResearchRun) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((s.get("name"), s.get("status"), s.get("records", 0), s.get("malformed", 0), s.get("elapsed_ms", ""),
              s.get("error", "")) for s in run.sources),
        )
        return format_html("<table><tr><th>source</th><th>status</th><th>records</th><th>malformed</th>"
                           "<th>ms</th><th>error</th></tr>{}</table>", rows)

    @admin.display(description="ranking changes")
    def diff_table(self, run: ResearchRun) -> str:
        if not run.changes:
            return "No ranking changed."
        items = []
        for role, changes in sorted(run.changes.items()):
            for change in changes:
                where = f"{_place(change['before_index'])} → {_place(change['after_index'])}"
                kinds = f"{change['before_kind'] or '—'} → {change['after_kind'] or '—'}"
                items.append((role, change["action"], change["model_id"], where, kinds, change["after_reason"] or ""))
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", items
        )
        return format_html("<table><tr><th>role</th><th>change</th><th>model</th><th>position</th><th>kind</th>"
                           "<th>reason</th></tr>{}</table>", rows)

    @admin.display(description="names not matched")
    def names_table(self, run: ResearchRun) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((source, status, ", ".join(names[:30]) + (" …" if len(names) > 30 else ""))
             for source, by_status in sorted(run.names.items()) for status, names in sorted(by_status.items())),
        )
        review = reverse("admin:research_namereview_changelist")
        return format_html('<p><a href="{}">Review queue</a></p><table>{}</table>', review, rows)

    @admin.display(description="best scores per role")
    def scores_table(self, run: ResearchRun) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((role, ", ".join(s["models"]) or s["identity"], f"{s['score']:.3f}", s["explanation"])
             for role, scores in sorted(run.scores.items()) for s in scores),
        )
        return format_html("<table><tr><th>role</th><th>model</th><th>score</th><th>why</th></tr>{}</table>", rows)

    @admin.display(description="catalogue")
    def catalogue_table(self, run: ResearchRun) -> str:
        data = run.catalogue or {}
        lines = [f"added (disabled): {', '.join(data.get('rows_added', [])) or 'none'}"]
        lines += [f"applied {c['model']} {c['field']}: {c['from']} → {c['to']}" for c in data.get("applied", [])]
        lines += [f"HELD {c['model']} {c['field']}: {c['current']} → {c['proposed']}" for c in data.get("held", [])]
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    @admin.action(description="Revert the selected run (restore the rankings it changed)")
    def revert_runs(self, request: HttpRequest, queryset: QuerySet[ResearchRun]) -> None:
        for run in queryset.order_by("-id"):
            self._revert(request, run)

    def _revert(self, request: HttpRequest, run: ResearchRun) -> None:
        try:
            roles = services.run_revert(run=run, by=_who(request))
        except services.RevertRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Run {run.pk} reverted: {', '.join(roles)} restored.", messages.SUCCESS)

    def get_urls(self):
        own = [
            path("trigger/", self.admin_site.admin_view(require_POST(self.trigger_view)), name="research_trigger"),
            path("force-refresh/", self.admin_site.admin_view(require_POST(self.force_refresh_view)),
                 name="research_force_refresh"),
            path("<int:run_id>/revert/", self.admin_site.admin_view(require_POST(self.revert_view)),
                 name="research_run_revert"),
        ]
        return own + super().get_urls()

    def trigger_view(self, request: HttpRequest) -> HttpResponse:
        return self._start(request, ResearchRun.Mode.TRIGGER)

    def force_refresh_view(self, request: HttpRequest) -> HttpResponse:
        return self._start(request, ResearchRun.Mode.FORCE_REFRESH)

    def _start(self, request: HttpRequest, mode: str) -> HttpResponse:
        if not request.user.is_staff:
            return HttpResponse(status=403)
        try:
            run = services.run_start(mode=mode, triggered_by=_who(request))
        except services.RunInProgress as exc:
            self.message_user(request, f"Research run {exc.run_id} is already in progress.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:research_researchrun_changelist"))
        self.message_user(request, f"Research run {run.pk} started ({run.get_mode_display()}).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:research_researchrun_change", args=[run.pk]))

    def revert_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        if not request.user.has_perm("research.view_researchrun"):
            return HttpResponse(status=403)
        self._revert(request, get_object_or_404(ResearchRun, pk=run_id))
        return HttpResponseRedirect(reverse("admin:research_researchrun_change", args=[run_id]))


def _place(index: int | None) -> str:
    return "—" if index is None else f"#{index + 1}"


class _AliasAdminBase(admin.ModelAdmin):
    list_display = ("published_name", "source", "status", "identity", "candidate_list", "reviewed", "reason")
    list_filter = ("status", "reviewed", "source")
    search_fields = ("published_name", "identity")
    fields = ("source", "published_name", "status", "candidates", "reason", "identity", "reviewed", "reviewed_by",
              "reviewed_at", "first_seen_at", "last_seen_at")
    readonly_fields = ("source", "published_name", "status", "candidates", "reason", "reviewed", "reviewed_by",
                       "reviewed_at", "first_seen_at", "last_seen_at")
    actions = ("accept_only_candidate", "mark_not_a_model")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="candidates")
    def candidate_list(self, alias: ModelAlias) -> str:
        return ", ".join(alias.candidates or [])

    def save_model(self, request: HttpRequest, obj: ModelAlias, form, change: bool) -> None:
        """Saving the form is the review: the identity typed (empty: not a model in the catalogue) is final."""
        try:
            alias_review(alias=obj, identity=obj.identity, by=_who(request))
        except AliasInvalid as exc:
            self.message_user(request, str(exc), messages.ERROR)

    @admin.action(description="Accept the only candidate")
    def accept_only_candidate(self, request: HttpRequest, queryset: QuerySet[ModelAlias]) -> None:
        accepted, skipped = aliases_accept_candidate(aliases=queryset, by=_who(request))
        self.message_user(request, f"{len(accepted)} accepted; {len(skipped)} skipped (none or several candidates).")

    @admin.action(description="Mark as not a model in the catalogue")
    def mark_not_a_model(self, request: HttpRequest, queryset: QuerySet[ModelAlias]) -> None:
        self.message_user(request, f"{aliases_mark_none(aliases=queryset, by=_who(request))} marked.")


@admin.register(ModelAlias)
class ModelAliasAdmin(_AliasAdminBase):
    pass


@admin.register(NameReview)
class NameReviewAdmin(_AliasAdminBase):
    """The review queue: unreviewed names the matcher could not place, or could place several ways."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelAlias]:
        return review_queue()


@admin.register(RoleWeight)
class RoleWeightAdmin(SimpleHistoryAdmin):
    change_list_template = "admin/research/roleweight/change_list.html"
    list_display = ("role", "family", "weight")
    list_editable = ("weight",)
    list_filter = ("role", "family")

    def get_urls(self):
        own = [
            path("import/", self.admin_site.admin_view(require_POST(self.import_view)), name="research_weights_import"),
            path("export/", self.admin_site.admin_view(require_POST(self.export_view)), name="research_weights_export"),
            path("download/", self.admin_site.admin_view(self.download_view), name="research_weights_download"),
        ]
        return own + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("research.change_roleweight"):
            return HttpResponse(status=403)
        try:
            upload = request.FILES.get("weights")
            if upload is not None:
                weights_import(text=upload.read().decode("utf-8"))
                source = upload.name
            else:
                weights_import_file()
                source = "config/research_weights.yaml"
        except (WeightsError, UnicodeDecodeError, OSError) as exc:
            self.message_user(request, f"Weights not imported: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"Weights imported from {source}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:research_roleweight_changelist"))

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("research.view_roleweight"):
            return HttpResponse(status=403)
        target = weights_export_file()
        self.message_user(request, f"Weights written to {target}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:research_roleweight_changelist"))

    def download_view(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(weights_export(), content_type="application/yaml")
        response["Content-Disposition"] = 'attachment; filename="research_weights.yaml"'
        return response


@admin.register(ScoringParameter)
class ScoringParameterAdmin(SimpleHistoryAdmin):
    list_display = ("name", "value")
    list_editable = ("value",)


@admin.register(CatalogueChange)
class CatalogueChangeAdmin(admin.ModelAdmin):
    list_display = ("model", "field", "current_value", "proposed_value", "source", "status", "run", "created_at")
    list_filter = ("status", "field")
    readonly_fields = ("model", "field", "current_value", "proposed_value", "source", "run", "status", "created_at",
                       "decided_at", "decided_by")
    actions = ("apply_changes", "reject_changes")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Apply the selected changes to the model rows")
    def apply_changes(self, request: HttpRequest, queryset: QuerySet[CatalogueChange]) -> None:
        for change in queryset.select_related("model"):
            services.catalogue_change_decide(change=change, apply=True, by=_who(request))
        self.message_user(request, "Applied.", messages.SUCCESS)

    @admin.action(description="Reject the selected changes")
    def reject_changes(self, request: HttpRequest, queryset: QuerySet[CatalogueChange]) -> None:
        for change in queryset.select_related("model"):
            services.catalogue_change_decide(change=change, apply=False, by=_who(request))
        self.message_user(request, "Rejected.", messages.SUCCESS)
