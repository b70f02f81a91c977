"""The research admin in a real browser: press "Run research now", read the diff, revert it."""

from __future__ import annotations

import re
import time

import pytest

from research.models import ResearchRun
from routing.services import ranking_read
from tests.research.conftest import HUMAN_REASON, build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_an_operator_runs_research_reads_the_diff_and_reverts_it(admin_page, gateway, files, screenshot):
    build_world(files)
    page = admin_page
    page.goto(f"{gateway.url}/admin/research/researchrun/")
    page.click("#research-trigger")
    page.wait_for_url(re.compile(r".*/admin/research/researchrun/\d+/change/$"))
    run_id = int(page.url.rstrip("/").split("/")[-2])
    deadline = time.monotonic() + 60
    while ResearchRun.objects.get(pk=run_id).status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    page.reload()
    content = page.content()
    assert "over gpt-4o for implementation" in content and "Aider polyglot" in content
    screenshot(page, "run-diff")
    assert ranking_read(role="implementation")[0].reason != HUMAN_REASON

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#research-revert")
    page.wait_for_selector(".messagelist")
    assert f"Run {run_id} reverted" in page.locator(".messagelist").inner_text()
    assert ranking_read(role="implementation")[0].reason == HUMAN_REASON
    screenshot(page, "reverted")
