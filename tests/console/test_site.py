"""The admin site: navigation grouped by task, the landing page, and every page under a view-only account."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import reverse

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_index_groups_navigation_by_task(admin_client, routing):
    page = admin_client.get(reverse("admin:index"))
    assert page.status_code == 200
    groups = [app["name"] for app in page.context["app_list"]]
    task_groups = [g for g in groups if g in {"Routing", "Prompts", "Usage", "Research", "Access"}]
    # Research shows once its app registers models; the others are there now, in this order, first.
    assert [g for g in task_groups if g != "Research"] == ["Routing", "Prompts", "Usage", "Access"]
    assert groups[: len(task_groups)] == task_groups
    routing_group = page.context["app_list"][0]
    names = [item["name"] for item in routing_group["models"]]
    assert names[:5] == ["Providers", "Models", "Rankings (by role)", "Ranking entries", "Profiles"]
    assert "Routing preview" in names
    access = next(app for app in page.context["app_list"] if app["name"] == "Access")
    assert {"Gateway keys", "Admins (users)", "Groups"} <= {item["name"] for item in access["models"]}
    # Apps not named in a group (e.g. Celery beat's) are still listed, under their own name.
    assert "Periodic Tasks" in groups


def test_the_landing_page_shows_health_quota_traffic_and_research(admin_client, routing):
    html = admin_client.get(reverse("admin:index")).content.decode()
    for section in ("landing-health", "landing-quota", "landing-traffic", "landing-research"):
        assert f'id="{section}"' in html
    assert "Database: <strong>ok</strong>" in html
    assert "tokens left this month" in html


def _admin_get_urls() -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:routing_preview"), reverse("admin:routing_preview_json")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        obj = model._default_manager.first()
        if obj is not None:
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_history", args=[obj.pk]))
        urls.append(reverse("admin:app_list", args=[meta.app_label]))
    return sorted(set(urls))


def test_every_admin_page_renders_for_a_view_only_staff_member(client, routing):
    from routing.models import Role

    viewer = User.objects.create_user("viewer", password="viewer-pass-1", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(viewer)
    urls = _admin_get_urls() + [reverse("admin:routing_role_ranking", args=[Role.objects.first().pk])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    # Links on the index lead somewhere that renders too.
    index = client.get(reverse("admin:index")).content.decode()
    for link in set(re.findall(r'href="(/admin/[^"]*)"', index)):
        if "logout" in link or "password_change" in link:
            continue
        assert client.get(link).status_code in (200, 302), link


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_the_gateway_serves_the_admins_static_files_itself(server, tmp_path, routing):
    """No separate web server for the embedded default: Daphne and uvicorn both serve /static/ (DEBUG off)."""
    import httpx

    from tests.conftest import database_env, gateway_env, launch_gateway, stop_gateway

    gateway = launch_gateway(gateway_env(database_env(), DEBUG="false"), tmp_path / f"{server}.log", server=server)
    try:
        for path, marker in [("/static/admin/css/base.css", b"DJANGO Admin styles"),
                             ("/static/routing/ranking.js", b"ranking editor"),
                             ("/static/console/playground.js", b"playground")]:
            response = httpx.get(f"{gateway.url}{path}", timeout=10)
            assert response.status_code == 200, path
            assert marker in response.content, path
    finally:
        stop_gateway(gateway)
