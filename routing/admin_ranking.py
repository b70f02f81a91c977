"""The ranking editor: a role's ranking ordered by drag and drop, reviewed, then stored by `ranking_replace`.

The stock inline (rank numbers typed by hand, saved row by row) is replaced by one page per role that
posts the whole order at once: the review (routing.ranking_review) warns about entries that cannot serve
and refuses a save that would leave a profile without a usable model; the write is the one atomic
`ranking_replace`, which bumps the configuration version so every process refreshes its snapshot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse

from routing.models import Model, RankingEntry, Role
from routing.ranking_history import ranking_at, ranking_revisions
from routing.ranking_review import RankingReview, review_ranking
from routing.selectors import build_routing_snapshot, provider_spec
from routing.services import RankingInvalid, RankingSpec, ranking_read, ranking_replace

EDIT_PERMISSIONS = ("routing.add_rankingentry", "routing.change_rankingentry", "routing.delete_rankingentry")


@dataclass(frozen=True, slots=True)
class EditorRow:
    """One entry as the editor shows it: the entry and what an operator weighs when ordering."""

    spec: RankingSpec
    provider: str
    tier: str
    key_set: bool
    input_price: object
    output_price: object
    context_window: int
    warning: str = ""


def ranking_fingerprint(entries: list[RankingSpec]) -> str:
    """Names the ranking a page was built from: a save based on an older one is refused (two operators)."""
    text = "\n".join(f"{e.model}\t{e.kind}\t{e.pinned}\t{e.reason}" for e in entries)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def can_edit_ranking(request: HttpRequest) -> bool:
    return request.user.has_perms(EDIT_PERMISSIONS)


def parse_ranking_form(post) -> list[RankingSpec]:
    """The posted order: `order` lists model ids top to bottom; `kind:<id>`, `reason:<id>`, `pinned:<id>`."""
    entries = []
    for model_id in post.getlist("order"):
        model_id = model_id.strip()
        if not model_id:
            continue
        entries.append(RankingSpec(
            model=model_id,
            kind=post.get(f"kind:{model_id}", RankingEntry.Kind.FALLBACK),
            reason=post.get(f"reason:{model_id}", "").strip(),
            pinned=post.get(f"pinned:{model_id}") in ("on", "1", "true"),
        ))
    return entries


def editor_rows(entries: list[RankingSpec], review: RankingReview) -> list[EditorRow]:
    models = {row.public_id: row for row in Model.objects.filter(public_id__in=[e.model for e in entries])
              .select_related("provider")}
    rows = []
    for entry in entries:
        model = models.get(entry.model)
        if model is None:
            rows.append(EditorRow(entry, "—", "—", False, "—", "—", 0, "no such model"))
            continue
        rows.append(EditorRow(
            spec=entry, provider=model.provider.name, tier=model.provider.tier,
            key_set=provider_spec(model.provider).has_key,
            input_price=model.input_price_per_mtok.normalize(), output_price=model.output_price_per_mtok.normalize(),
            context_window=model.context_window, warning=review.entry_warnings.get(entry.model, ""),
        ))
    return rows


def ranking_diff(before: list[str], after: list[str]) -> dict:
    """What a revision changed: models added, removed, and whether the order of the others changed."""
    kept_before = [model for model in before if model in after]
    kept_after = [model for model in after if model in before]
    return {"added": [m for m in after if m not in before], "removed": [m for m in before if m not in after],
            "reordered": kept_before != kept_after, "before": before, "after": after}


def _preview_url() -> str:
    """The routing preview's JSON endpoint, when the control plane that serves it is installed."""
    try:
        return reverse("admin:routing_preview_json")
    except NoReverseMatch:
        return ""


class RankingEditorMixin:
    """Adds `<role id>/ranking/` to a Role ModelAdmin."""

    ranking_template = "admin/routing/role/ranking.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.ranking_view)
        history = self.admin_site.admin_view(self.ranking_history_view)
        return [
            path("<path:object_id>/ranking/", view, name="routing_role_ranking"),
            path("<path:object_id>/ranking/history/", history, name="routing_role_ranking_history"),
            *super().get_urls(),
        ]

    def ranking_history_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Every revision of the role's ranking (who, when, what changed), each with a revert button that
        goes through the same review and write as an edit."""
        role = get_object_or_404(Role, pk=object_id)
        if not self.has_view_permission(request, role):
            raise PermissionDenied
        if request.method == "POST":
            if not can_edit_ranking(request):
                raise PermissionDenied
            self._revert(request, role, request.POST.get("revision", ""))
            return HttpResponseRedirect(request.path)
        revisions = ranking_revisions(role_id=role.pk)
        rows = []
        for index, revision in enumerate(revisions):
            older = revisions[index + 1].models if index + 1 < len(revisions) else []
            rows.append({"revision": revision, "diff": ranking_diff(older, revision.models),
                         "current": index == 0})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Ranking history of role “{role.name}”",
            "role": role,
            "rows": rows,
            "can_edit": can_edit_ranking(request),
        }
        return TemplateResponse(request, "admin/routing/role/ranking_history.html", context)

    def _revert(self, request: HttpRequest, role: Role, stamp: str) -> None:
        try:
            revision = ranking_at(role_id=role.pk, date=datetime.fromisoformat(stamp))
        except ValueError:
            revision = None
        if revision is None:
            messages.error(request, f"No revision of this ranking at {stamp!r}.")
            return
        if revision.missing_models:
            messages.error(request, "Not reverted: a model of that revision has been deleted since.")
            return
        when = f"{revision.date:%Y-%m-%d %H:%M:%S} UTC"
        if self._save(request, role, list(revision.entries), ranking_read(role=role.name),
                      change_reason=f"revert to the ranking of {when}"):
            messages.info(request, f"Restored the ranking of {when}.")

    def ranking_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        role = get_object_or_404(Role, pk=object_id)
        if not self.has_view_permission(request, role):
            raise PermissionDenied
        current = ranking_read(role=role.name)
        entries = current
        status = 200
        if request.method == "POST":
            if not can_edit_ranking(request):
                raise PermissionDenied
            entries = parse_ranking_form(request.POST)
            based_on = request.POST.get("based_on")
            if based_on and based_on != ranking_fingerprint(current):
                messages.error(request, "Not saved: this ranking was changed by someone else after you opened "
                               "the page. It now shows the stored ranking; make your change again.")
                return HttpResponseRedirect(request.path)
            saved = self._save(request, role, entries, current)
            if saved:
                return HttpResponseRedirect(request.path)
            status = 400
        review = review_ranking(build_routing_snapshot(), role=role.name,
                                proposed=[e.model for e in entries], current=[e.model for e in current])
        in_ranking = {entry.model for entry in entries}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Ranking for role “{role.name}”",
            "role": role,
            "rows": editor_rows(entries, review),
            "review": review,
            "kinds": RankingEntry.Kind.choices,
            "addable": Model.objects.exclude(public_id__in=in_ranking).select_related("provider")
            .order_by("public_id"),
            "can_edit": can_edit_ranking(request),
            "preview_url": _preview_url(),
            "based_on": ranking_fingerprint(current),
            "unsaved": status != 200,  # a refused save: the page shows the order that was not stored
        }
        return TemplateResponse(request, self.ranking_template, context, status=status)

    def _save(
        self, request: HttpRequest, role: Role, entries: list[RankingSpec], current: list[RankingSpec],
        change_reason: str = "reordered in the admin",
    ) -> bool:
        review = review_ranking(build_routing_snapshot(), role=role.name,
                                proposed=[e.model for e in entries], current=[e.model for e in current])
        if review.refused:
            for refusal in review.refusals:
                messages.error(request, f"Not saved: {refusal}.")
            return False
        try:
            ranking_replace(role=role.name, entries=entries, user=request.user, change_reason=change_reason)
        except RankingInvalid as error:
            messages.error(request, f"Not saved: {error}")
            return False
        messages.success(request, f"Saved the ranking of role “{role.name}” ({len(entries)} entries).")
        for model_id, warning in review.entry_warnings.items():
            messages.warning(request, f"{model_id} cannot serve requests now: {warning}.")
        for warning in review.profile_warnings:
            messages.warning(request, f"Still unresolved: {warning}.")
        return True
