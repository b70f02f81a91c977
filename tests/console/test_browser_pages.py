"""The rest of the control plane in a real browser: a revert from history restores the ranking and the
routing; an invalid import shows its error with nothing changed; every admin page renders, with a
screenshot, for a staff member who may only view."""

from __future__ import annotations

import re

import httpx
import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from routing.models import Role
from routing.services import ranking_read
from tests.browser import StaffLogin, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _chat_model(gateway, role: str) -> str:
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=20, json={
        "model": f"auto:{role}", "messages": [{"role": "user", "content": "hello"}]})
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-model"]


def test_a_revert_from_history_restores_the_previous_ranking_and_routing(admin_page, gateway, screenshot):
    page = admin_page
    role = Role.objects.get(name="debugging")
    page.goto(f"{gateway.url}/admin/routing/role/{role.pk}/ranking/")
    page.click('tr.ranking-row[data-model="smart-model"] button.move-up')
    page.click("#save-ranking")
    page.wait_for_selector(".messagelist .success")
    gateway.sync_config()
    assert _chat_model(gateway, "debugging") == "smart-model"

    page.click("#ranking-history-link")
    revisions = page.locator("tr.revision")
    assert revisions.count() >= 2
    assert "browser-admin" in revisions.nth(0).inner_text()
    assert "order: backup-model › smart-model ⟶ smart-model › backup-model" in revisions.nth(0).inner_text()
    screenshot(page, "ranking-history")
    revisions.nth(1).locator("button.revert-button").click()
    page.wait_for_selector(".messagelist .info")
    assert "Restored the ranking of" in page.locator(".messagelist").inner_text()
    assert [e.model for e in ranking_read(role="debugging")] == ["backup-model", "smart-model"]
    gateway.sync_config()
    assert _chat_model(gateway, "debugging") == "backup-model"
    screenshot(page, "ranking-reverted")


def test_an_invalid_import_shows_its_error_and_changes_nothing(admin_page, gateway, screenshot, tmp_path):
    page = admin_page
    page.goto(f"{gateway.url}/admin/config/")
    with page.expect_download() as download:
        page.click("#export-routing")
    exported = download.value.path().read_text()
    broken = exported.replace('"context_window": 128000', '"context_window": "big"', 1)
    assert broken != exported
    bad_file = tmp_path / "model_routing.json"
    bad_file.write_text(broken)
    page.set_input_files("#import-file-routing", str(bad_file))
    page.click("#check-import-routing")
    error = page.locator("#import-error").inner_text()
    assert "Nothing was imported." in error
    assert re.search(r"models\[\d+\]\.context_window: ", error), error
    screenshot(page, "import-error")
    page.goto(f"{gateway.url}/admin/config/")
    with page.expect_download() as again:
        page.click("#export-routing")
    assert again.value.path().read_text() == exported


def _page_urls() -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:routing_preview"), reverse("admin:playground"),
            reverse("admin:config_io"), reverse("admin:password_change")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse("admin:app_list", args=[meta.app_label]))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        obj = model._default_manager.first()
        if obj is not None:
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_history", args=[obj.pk]))
    for role in Role.objects.filter(ranking__isnull=False).distinct()[:1]:
        urls.append(reverse("admin:routing_role_ranking", args=[role.pk]))
        urls.append(reverse("admin:routing_role_ranking_history", args=[role.pk]))
    return list(dict.fromkeys(urls))


def test_every_admin_page_renders_for_a_view_only_staff_member(chromium, gateway, screenshot):
    from apikeys.services import key_create
    from prompts.models import RoleStrategy

    key_create(name="walked-key")
    RoleStrategy.objects.create(role=Role.objects.get(name="architect"), system_prompt="Think in systems.")
    _chat_model(gateway, "architect")  # a usage row to open
    gateway.drain_usage()
    login = StaffLogin("viewer", "viewer-pass-5d1e")
    viewer = User.objects.create_user(login.username, password=login.password, is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in(page, gateway.url, login)
        for url in _page_urls():
            response = page.goto(f"{gateway.url}{url}")
            assert response.status == 200, url
            assert page.locator("#content").count() == 1, url
            assert "Server Error" not in page.title(), url
            screenshot(page, re.sub(r"[^a-z0-9]+", "-", url.strip("/")) or "index")
        assert errors == []
    finally:
        context.close()
