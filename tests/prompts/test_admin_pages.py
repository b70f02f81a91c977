"""The admin pages of roles and context open, list their rows and refuse a broken pattern."""

from __future__ import annotations

import pytest

from context.models import ContextPolicy
from prompts.models import DetectionRule, StrategyOptOut

PAGES = ["prompts/detectionrule", "prompts/strategyoptout", "prompts/rolestrategy", "context/conversation",
         "context/interaction", "context/contextpolicy"]


@pytest.mark.parametrize("page", PAGES)
def test_changelists_and_add_forms_open(admin_client, page):
    assert admin_client.get(f"/admin/{page}/").status_code == 200
    if page not in ("context/conversation", "context/interaction"):  # read-only: no add form
        assert admin_client.get(f"/admin/{page}/add/").status_code == 200


def test_rows_are_listed(admin_client):
    DetectionRule.objects.create(role="debugging", pattern=r"\bsegfault\b", weight=3)
    StrategyOptOut.objects.create(kind="profile", name="work")
    ContextPolicy.objects.create(profile="work", similar=False)
    assert b"segfault" in admin_client.get("/admin/prompts/detectionrule/").content
    assert b"work" in admin_client.get("/admin/prompts/strategyoptout/").content
    assert b"work" in admin_client.get("/admin/context/contextpolicy/").content


def test_a_pattern_that_does_not_compile_is_refused_with_the_reason(admin_client):
    response = admin_client.post("/admin/prompts/detectionrule/add/", {
        "role": "debugging", "pattern": "(unclosed", "weight": "2", "position": "0", "enabled": "on"})
    assert response.status_code == 200
    assert b"Not a valid regular expression" in response.content
    assert not DetectionRule.objects.exists()
