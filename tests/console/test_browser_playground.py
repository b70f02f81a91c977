"""The playground in a real browser: the answer streams into the page as it arrives, and the page shows the
requests as sent upstream (keys masked), each attempt and the usage row."""

from __future__ import annotations

import pytest

from tests.conftest import MOCK_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_playground_streams_an_answer_and_shows_attempts_upstream_requests_and_usage(
    admin_page, gateway, upstream, screenshot
):
    page = admin_page
    # The first choice fails (503), so the request falls back; the answer then arrives in slow chunks.
    upstream.configure(default={"chunks": 8, "chunk_delay_ms": 150}, models={"fast-upstream": {"status": 503}})
    page.goto(f"{gateway.url}/admin/playground/")
    page.select_option("#pg-as", "profile:work")
    page.select_option("#pg-model", "auto:general")
    page.fill("#pg-message", "tell me about streams")
    page.click("#pg-send")

    # Part of the answer is on the page before the stream has finished.
    page.wait_for_function("""() => {
        const answer = document.getElementById('pg-answer');
        return answer.textContent.length > 0 && answer.dataset.done !== 'true';
    }""", timeout=10_000)
    screenshot(page, "playground-streaming")
    page.wait_for_function("document.getElementById('pg-answer').dataset.done === 'true'")
    assert page.locator("#pg-answer").inner_text().startswith("mock reply to: tell me about streams")

    page.wait_for_selector("#pg-usage tr[data-field=model]")
    page.wait_for_selector(".upstream-request >> nth=1")
    attempts = page.locator("#pg-attempts tr.attempt").all_inner_texts()
    assert len(attempts) == 2 and "fast-model" in attempts[0] and "503" in attempts[0]
    assert "backup-model" in attempts[1] and "200" in attempts[1]
    upstream_requests = page.locator(".upstream-request").all_inner_texts()
    assert '"model": "fast-upstream"' in upstream_requests[0]
    assert '"model": "backup-upstream"' in upstream_requests[1]
    assert "authorization: [REDACTED]" in upstream_requests[1]
    assert MOCK_KEY not in page.content()
    assert page.locator("#pg-usage tr[data-field=model] td").inner_text() == "backup-model"
    assert page.locator("#pg-usage tr[data-field=profile] td").inner_text() == "work"
    assert "backup-model via mockai" in page.locator("#pg-status").inner_text()
    screenshot(page, "playground-done")


def test_a_strategy_edited_in_the_admin_shows_in_the_playgrounds_rewritten_request(
    chromium, routing, staff_login, upstream, tmp_path, screenshot
):
    """The operator edits the architect strategy's system prompt in the admin; the next playground request,
    as sent upstream, carries the new words after the rewrite step. A gateway process of the test's own: the
    shared one caches content types from before this test's database flush, which the admin's log needs."""
    from prompts.config_io import default_strategies_path, load_strategies_file, strategies_import
    from prompts.models import RoleStrategy
    from tests.browser import log_in
    from tests.conftest import dedicated_gateway

    strategies_import(load_strategies_file(default_strategies_path()))
    strategy = RoleStrategy.objects.get(role__name="architect")
    with dedicated_gateway(tmp_path) as gateway:
        context = chromium.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        log_in(page, gateway.url, staff_login)
        page.goto(f"{gateway.url}/admin/prompts/rolestrategy/{strategy.pk}/change/")
        page.fill("textarea[name=system_prompt]", "Think in bounded contexts and name every trade-off.")
        with page.expect_navigation(timeout=60_000):
            page.click("input[name=_save]")
        assert "/change/" not in page.url, page.locator(".errornote, .errorlist").all_inner_texts()
        strategy.refresh_from_db()
        assert strategy.system_prompt == "Think in bounded contexts and name every trade-off."
        gateway.sync_config()

        page.goto(f"{gateway.url}/admin/playground/")
        page.select_option("#pg-model", "auto:architect")
        page.fill("#pg-message", "Design a cache for the catalogue service")
        page.click("#pg-send")
        page.wait_for_function("document.getElementById('pg-answer').dataset.done === 'true'")
        page.wait_for_selector(".upstream-request")
        sent = page.locator(".upstream-request").first.inner_text()
        assert '<gateway-strategy role=\\"architect\\">' in sent or '<gateway-strategy role="architect">' in sent
        assert "Think in bounded contexts and name every trade-off." in sent
        screenshot(page, "playground-rewritten-request")
        context.close()
