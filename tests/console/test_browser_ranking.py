"""The ranking editor in a real browser: drag to reorder, the preview follows before saving, the next request
goes to the newly first model; a save that would leave a profile with nothing is refused."""

from __future__ import annotations

import re

import httpx
import pytest

from routing.models import Role
from routing.services import ranking_read

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _first_in_preview(page, profile: str) -> str:
    return page.locator(f'#ranking-preview .chain[data-profile="{profile}"] li.candidate').first.get_attribute(
        "data-model")


def _drag_above(page, source_model: str, target_model: str) -> None:
    source = page.locator(f'tr.ranking-row[data-model="{source_model}"] .handle')
    target = page.locator(f'tr.ranking-row[data-model="{target_model}"]')
    source.drag_to(target, target_position={"x": 40, "y": 3})


def _chat_model(gateway, role: str) -> str:
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=20, json={
        "model": f"auto:{role}", "messages": [{"role": "user", "content": "hello"}]})
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-model"]


def test_dragging_reorders_previews_before_saving_and_routes_the_next_request(admin_page, gateway, screenshot):
    page = admin_page
    role = Role.objects.get(name="architect")
    assert _chat_model(gateway, "architect") == "smart-model"
    page.goto(f"{gateway.url}/admin/routing/role/{role.pk}/ranking/")
    page.wait_for_selector('#ranking-preview .chain[data-profile="work"] li.candidate')
    assert _first_in_preview(page, "work") == "smart-model"
    screenshot(page, "ranking-before")

    _drag_above(page, "backup-model", "smart-model")

    rows = page.locator("tr.ranking-row").evaluate_all("rows => rows.map(r => r.dataset.model)")
    assert rows == ["backup-model", "smart-model"]
    page.wait_for_function("""() => {
        const li = document.querySelector('#ranking-preview .chain[data-profile="work"] li.candidate');
        return li && li.dataset.model === 'backup-model';
    }""")
    assert "unsaved order" in page.locator("#preview-state").inner_text()
    assert [e.model for e in ranking_read(role="architect")] == ["smart-model", "backup-model"]  # not saved yet
    screenshot(page, "ranking-dragged-preview")

    page.click("#save-ranking")
    page.wait_for_selector(".messagelist .success")
    assert [e.model for e in ranking_read(role="architect")] == ["backup-model", "smart-model"]
    screenshot(page, "ranking-saved")
    gateway.sync_config()
    assert _chat_model(gateway, "architect") == "backup-model"


def test_a_save_leaving_a_profile_with_no_usable_entry_is_refused(admin_page, gateway, screenshot):
    page = admin_page
    role = Role.objects.get(name="architect")
    page.goto(f"{gateway.url}/admin/routing/role/{role.pk}/ranking/")
    # Replace the paid models by the free one: the work profile (paid, enterprise) would have nothing.
    page.select_option("#add-model", "free-model")
    page.click("#add-entry")
    for model in ("smart-model", "backup-model"):
        page.click(f'tr.ranking-row[data-model="{model}"] button.remove')
    page.wait_for_function("""() => !document.querySelector('#ranking-preview .chain[data-profile="work"] li')""")
    assert "No model can serve" in page.locator('#ranking-preview .chain[data-profile="work"]').inner_text()
    page.click("#save-ranking")
    error = page.locator(".messagelist .error").inner_text()
    assert re.search(r"Not saved: role 'architect' would have no usable model under profile 'work'", error)
    assert [e.model for e in ranking_read(role="architect")] == ["smart-model", "backup-model"]
    # The page keeps the refused order to fix, and says the preview is of an unsaved order.
    assert page.locator("tr.ranking-row").evaluate_all("rows => rows.map(r => r.dataset.model)") == ["free-model"]
    page.wait_for_function("document.getElementById('preview-state').textContent === '(unsaved order)'")
    screenshot(page, "ranking-refused")
