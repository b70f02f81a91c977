"""The gateway's admin site: Django's own admin, with navigation grouped by task and the control-plane pages.

Every app keeps registering with `admin.site` as usual (this class is the default site). The index and
the sidebar list groups instead of apps; a group names the models and pages it shows, and anything not
named (an app added later) still appears, after the groups, under its own app name, so nothing is lost.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, path, reverse

# (group, [entries]): "app_label.ObjectName" for one model, "app_label.*" for the app's remaining models,
# ("Label", "url name") for a page. Missing models, apps and pages are skipped.
NAVIGATION: list[tuple[str, list]] = [
    ("Routing", [
        "routing.Provider", "routing.Model", "routing.Role", "routing.RankingEntry", "routing.Profile",
        ("Routing preview", "admin:routing_preview"),
        ("Playground", "admin:playground"),
        ("Import / export", "admin:config_io"),
        "routing.*",
    ]),
    ("Prompts", ["prompts.*", "conversations.*", "context.*"]),
    ("Usage", ["usage.UsageRollup", "usage.*"]),  # the roll-up's change list is the usage dashboard
    ("Research", ["research.*"]),
    ("Access", ["apikeys.*", "auth.User", "auth.Group", "auth.*"]),
]


# Names the task navigation gives some models (the page titles stay Django's).
LABELS = {("routing", "Role"): "Rankings (by role)", ("auth", "User"): "Admins (users)"}


class GatewayAdminSite(admin.AdminSite):
    site_header = "LLM Gateway administration"
    site_title = "LLM Gateway admin"
    index_title = "Control plane"
    index_template = "admin/console/index.html"

    def get_urls(self):
        from console import views

        own = [
            path("routing/preview/", self.admin_view(views.preview_page), name="routing_preview"),
            path("routing/preview.json", self.admin_view(views.preview_json), name="routing_preview_json"),
            path("playground/", self.admin_view(views.playground_page), name="playground"),
            path("playground/ticket/", self.admin_view(views.playground_ticket), name="playground_ticket"),
            path("playground/exchange/<str:request_id>.json", self.admin_view(views.playground_exchange),
                 name="playground_exchange"),
            path("config/", self.admin_view(views.config_page), name="config_io"),
            path("config/<slug:slug>/export/", self.admin_view(views.config_export), name="config_export"),
            path("config/<slug:slug>/import/", self.admin_view(views.config_import), name="config_import"),
        ]
        return own + super().get_urls()

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        if app_label is not None:
            return super().get_app_list(request, app_label)
        return grouped_app_list(self._build_app_dict(request), request)

    def index(self, request: HttpRequest, extra_context: dict | None = None):
        from console.landing import landing_context

        return super().index(request, {**landing_context(request), **(extra_context or {})})


def grouped_app_list(app_dict: dict[str, dict], request: HttpRequest) -> list[dict]:
    models_by_app = {label: {m["object_name"]: m for m in app["models"]} for label, app in app_dict.items()}
    used: set[tuple[str, str]] = set()
    groups = []
    for name, entries in NAVIGATION:
        items: list[dict] = []
        for entry in entries:
            if isinstance(entry, tuple):
                page = _page(*entry)
                if page is not None and request.user.is_staff:
                    items.append(page)
                continue
            app_label, _, object_name = entry.partition(".")
            models = models_by_app.get(app_label, {})
            names = sorted(models, key=lambda n: models[n]["name"]) if object_name == "*" else [object_name]
            for model_name in names:
                if model_name in models and (app_label, model_name) not in used:
                    used.add((app_label, model_name))
                    label = LABELS.get((app_label, model_name))
                    items.append({**models[model_name], "name": label} if label else models[model_name])
        if items:
            slug = name.lower()
            groups.append({"name": name, "app_label": f"group-{slug}", "app_url": items[0]["admin_url"] or "#",
                           "has_module_perms": True, "models": items})
    for label, app in sorted(app_dict.items(), key=lambda item: item[1]["name"].lower()):
        rest = [model for model in app["models"] if (label, model["object_name"]) not in used]
        if rest:
            groups.append({**app, "models": rest})
    return groups


def _page(label: str, url_name: str) -> dict | None:
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        return None
    object_name = url_name.rsplit(":", 1)[-1].replace("_", "")
    return {"name": label, "object_name": object_name, "admin_url": url, "add_url": None, "view_only": True,
            "perms": {"view": True}}
