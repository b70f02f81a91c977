"""Control-plane pages of the admin (wired in console.site, each behind `admin_view`: staff only)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from console.live import key_by_prefix, key_choices, live_state
from console.preview import preview_chains
from routing.ranking_review import with_ranking
from routing.selectors import build_routing_snapshot


def _preview(request: HttpRequest, body: dict) -> tuple[dict, int]:
    """The preview's data: `key` (a key prefix) previews as that key; `rankings` ({role: [model ids]}) are
    unsaved orders to preview instead of the stored ones; `roles` limits the roles shown."""
    snapshot = build_routing_snapshot()  # the stored configuration now, not this process's cached copy
    rankings = body.get("rankings") or {}
    if not isinstance(rankings, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in rankings.values()
    ):
        return {"error": "rankings: expected an object of role → list of model ids"}, 400
    for role, model_ids in rankings.items():
        snapshot = with_ranking(snapshot, role, model_ids)
    roles = body.get("roles")
    if roles is not None and not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)):
        return {"error": "roles: expected a list of role names"}, 400
    key = None
    prefix = body.get("key") or ""
    if prefix:
        key = key_by_prefix(str(prefix))
        if key is None:
            return {"error": f"key: no active key with prefix {prefix!r}"}, 400
    live = live_state()
    data = {
        "as_key": {"prefix": key.prefix, "name": key.name, "profile": key.profile or None} if key else None,
        "active_profile": snapshot.default_profile,
        "circuits": dict(live.circuits),
        "quota": dict(live.quota or {}),
        "unsaved": sorted(rankings),
        "chains": preview_chains(snapshot, live, roles=roles, key=key),
    }
    return data, 200


def preview_json(request: HttpRequest) -> HttpResponse:
    """GET ?key=<prefix>&role=<name>: the stored configuration. POST {"rankings", "roles", "key"}: with
    unsaved orders (the ranking editor calls it while the operator drags)."""
    if request.method == "POST":
        try:
            body = json.loads(request.body or b"{}")
        except json.JSONDecodeError as error:
            return JsonResponse({"error": f"invalid JSON at line {error.lineno}: {error.msg}"}, status=400)
        if not isinstance(body, dict):
            return JsonResponse({"error": "expected a JSON object"}, status=400)
    else:
        body = {"key": request.GET.get("key", ""), "roles": request.GET.getlist("role") or None}
    data, status = _preview(request, body)
    return JsonResponse(data, status=status)


def preview_page(request: HttpRequest) -> HttpResponse:
    from django.contrib import admin

    body = {"key": request.GET.get("key", ""), "roles": request.GET.getlist("role") or None}
    data, status = _preview(request, body)
    by_role: dict[str, list[dict]] = {}
    for chain in data.get("chains", []):
        by_role.setdefault(chain["role"], []).append(chain)
    context = {
        **admin.site.each_context(request),
        "title": "Routing preview",
        "data": data,
        "by_role": by_role,
        "keys": key_choices(),
        "selected_key": body["key"],
    }
    return TemplateResponse(request, "admin/console/preview.html", context, status=status)
