"""Control-plane pages of the admin (wired in console.site, each behind `admin_view`: staff only)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from console.config_transfer import DOCUMENTS, apply_import, plan_import
from console.live import key_by_prefix, key_choices, live_state
from console.preview import preview_chains
from routing.config_io import ConfigError
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
        if not request.user.has_perm("apikeys.view_gatewaykey"):
            return {"error": "key: previewing as a key needs the view permission on gateway keys"}, 403
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
        "keys": key_choices() if request.user.has_perm("apikeys.view_gatewaykey") else [],
        "selected_key": body["key"],
    }
    return TemplateResponse(request, "admin/console/preview.html", context, status=status)


# --- Import / export of the configuration files ------------------------------------------------------------

IMPORT_PERMISSIONS = {
    "routing": ("routing.add_provider", "routing.change_provider", "routing.delete_provider", "routing.add_model",
                "routing.change_model", "routing.delete_model", "routing.add_rankingentry",
                "routing.delete_rankingentry", "routing.add_profile", "routing.change_profile",
                "routing.delete_profile"),
    "strategies": ("prompts.add_rolestrategy", "prompts.change_rolestrategy", "prompts.delete_rolestrategy"),
}
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def config_page(request: HttpRequest, context: dict | None = None, status: int = 200) -> HttpResponse:
    from django.contrib import admin

    documents = [
        {"doc": doc, "can_import": request.user.has_perms(IMPORT_PERMISSIONS[slug])}
        for slug, doc in DOCUMENTS.items()
    ]
    page = {**admin.site.each_context(request), "title": "Import / export configuration", "documents": documents,
            **(context or {})}
    return TemplateResponse(request, "admin/console/config_io.html", page, status=status)


def config_export(request: HttpRequest, slug: str) -> HttpResponse:
    document = DOCUMENTS.get(slug)
    if document is None:
        raise Http404
    try:
        text = document.export_text()
    except ConfigError as error:
        return config_page(request, {"error": f"The stored configuration cannot be exported: {error}"}, status=500)
    response = HttpResponse(text.encode("utf-8"), content_type=f"{document.content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


def config_import(request: HttpRequest, slug: str) -> HttpResponse:
    """POST `file` (+ `prune`): validate and show the plan. POST `text` + `apply` (+ `prune`): write it."""
    document = DOCUMENTS.get(slug)
    if document is None:
        raise Http404
    if request.method != "POST":
        return HttpResponseRedirect(reverse("admin:config_io"))
    if not request.user.has_perms(IMPORT_PERMISSIONS[slug]):
        raise PermissionDenied
    prune = request.POST.get("prune") == "on"
    if "apply" in request.POST:
        text = request.POST.get("text", "")
    else:
        upload = request.FILES.get("file")
        if upload is None:
            return config_page(request, {"error": "Choose a file to import.", "error_slug": slug}, status=400)
        if upload.size > MAX_UPLOAD_BYTES:
            return config_page(request, {"error": f"{upload.name}: larger than {MAX_UPLOAD_BYTES} bytes.",
                                         "error_slug": slug}, status=400)
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            return config_page(request, {"error": f"{upload.name}: not UTF-8 text.", "error_slug": slug}, status=400)
    try:
        if "apply" in request.POST:
            summary = apply_import(document, text, prune=prune)
            messages.success(request, f"Imported {document.filename}: {summary}.")
            return HttpResponseRedirect(reverse("admin:config_io"))
        plan = plan_import(document, text, prune=prune)
    except ConfigError as error:
        return config_page(request, {"error": str(error), "problems": error.problems, "error_slug": slug},
                           status=400)
    return config_page(request, {"plan": plan, "plan_doc": document, "plan_text": text, "prune": prune})


# --- Playground ----------------------------------------------------------------------------------------------

USAGE_FIELDS = ("request_id", "created_at", "api_key_prefix", "profile", "role", "requested_model", "model",
                "provider", "upstream_model", "stream", "attempts", "attempt_log", "prompt_tokens",
                "completion_tokens", "total_tokens", "cost", "latency_ms", "ttft_ms", "overhead_ms", "status_code",
                "status", "error_type", "error_message")


def playground_page(request: HttpRequest) -> HttpResponse:
    from django.contrib import admin

    from routing.models import Model, Profile, Role

    context = {
        **admin.site.each_context(request),
        "title": "Playground",
        "keys": key_choices() if request.user.has_perm("apikeys.change_gatewaykey") else [],
        "can_send": request.user.has_perm("apikeys.add_gatewaykey"),
        "profiles": list(Profile.objects.values_list("name", flat=True)),
        "roles": list(Role.objects.values_list("name", flat=True)),
        "models": list(Model.objects.filter(enabled=True).values_list("public_id", flat=True)),
        "chat_url": "/v1/chat/completions",
    }
    return TemplateResponse(request, "admin/console/playground.html", context)


def playground_ticket(request: HttpRequest) -> HttpResponse:
    """POST {"key": prefix} or {"profile": name}: a short-lived ticket the page sends to /v1/chat/completions
    as its bearer token (apikeys.playground). Staff session and CSRF token required (admin_view, middleware)."""
    from apikeys.playground import TICKET_SECONDS, ticket_issue
    from routing.models import Profile

    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    try:
        body = json.loads(request.body or b"{}")
    except json.JSONDecodeError:
        return JsonResponse({"error": "expected a JSON object"}, status=400)
    prefix, profile = str(body.get("key") or ""), str(body.get("profile") or "")
    if not prefix and not request.user.has_perm("apikeys.add_gatewaykey"):
        # Calling as a profile spends like a key of one's own: only for those who may create keys.
        return JsonResponse({"error": "profile: the playground needs the add permission on gateway keys"},
                            status=403)
    if prefix:
        if not request.user.has_perm("apikeys.change_gatewaykey"):
            return JsonResponse({"error": "key: acting as a gateway key needs the change permission on keys"},
                                status=403)
        if key_by_prefix(prefix) is None:
            return JsonResponse({"error": f"key: no active key with prefix {prefix!r}"}, status=400)
    elif profile and not Profile.objects.filter(name=profile).exists():
        return JsonResponse({"error": f"profile: no profile named {profile!r}"}, status=400)
    ticket = ticket_issue(username=request.user.get_username(), key_prefix=prefix, profile=profile)
    response = JsonResponse({"ticket": ticket, "expires_in": TICKET_SECONDS})
    response["Cache-Control"] = "no-store"
    return response


def playground_exchange(request: HttpRequest, request_id: str) -> HttpResponse:
    """What one playground request did: its upstream requests and attempts (the capture, only for the staff
    member who sent it) and its usage row (once written: the page polls)."""
    from proxy.playground import read_capture
    from usage.models import UsageRecord

    capture = read_capture(request_id)
    if capture is not None and capture.get("user") != request.user.get_username():
        capture = None
    usage = UsageRecord.objects.filter(request_id=request_id).values(*USAGE_FIELDS).first()
    if usage is None and capture is None:
        return JsonResponse({"error": "not recorded (yet)"}, status=404)
    return JsonResponse({"capture": capture, "usage": usage})
