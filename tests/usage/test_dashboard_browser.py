"""The usage dashboard in headless Chromium, against the real gateway process: a staff member opens it from
the admin, the charts carry the seeded rows' numbers, a filter changes them, a CSV downloads, and a
request sent during the test appears in the live feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from usage.events import UsageEvent

pytestmark = pytest.mark.browser

CHARTS_READY = ("() => window.usageDashboard && ['chart-requests', 'chart-breakdown', 'chart-roles']"
                ".every((id) => window.usageDashboard.charts[id])")


def seed_rows() -> list[UsageEvent]:
    from usage.services import usage_records_write

    now = datetime.now(UTC)
    events = [
        UsageEvent(created_at=now - timedelta(days=index % 3, minutes=index), request_id=f"browser-seed-{index}",
                   profile="personal", api_key_prefix=("gwk_seedaaaa", "gwk_seedbbbb")[index % 2],
                   role=("architect", "debugging", "implementation")[index % 3], conversation_id=f"seed-{index % 4}",
                   model=("smart-model", "fast-model", "fast-model")[index % 3],
                   provider="nanogpt" if index % 10 == 1 else "mockai",
                   prompt_tokens=1000, completion_tokens=100, total_tokens=1100, cost=0.01 * (1 + index % 3),
                   latency_ms=100.0 + 10 * index, ttft_ms=20.0 + index, attempts=1, status_code=200, status="ok")
        for index in range(30)
    ]
    usage_records_write(events)
    return events


def chart_sum(page, chart: str, dataset: int = 0) -> float:
    return page.evaluate(
        "([id, index]) => window.usageDashboard.charts[id].data.datasets[index].data"
        ".reduce((sum, value) => sum + Number(value), 0)", [chart, dataset])


def test_dashboard_charts_filters_csv_and_live_feed(admin_page, gateway, screenshot, tmp_path):
    events = seed_rows()
    page = admin_page
    page.goto(f"{gateway.url}/admin/")
    page.get_by_role("link", name="Usage dashboard").click()  # listed in the Usage section
    page.wait_for_url("**/admin/usage/usagerollup/")
    page.wait_for_function(CHARTS_READY)

    # the charts are drawn from the seeded rows' numbers
    assert chart_sum(page, "chart-requests") == 30
    assert chart_sum(page, "chart-tokens", 0) == 30 * 1000 and chart_sum(page, "chart-tokens", 1) == 30 * 100
    assert chart_sum(page, "chart-cost") == pytest.approx(sum(event.cost for event in events))
    models = page.evaluate("() => window.usageDashboard.charts['chart-breakdown'].data.labels")
    assert sorted(models) == ["fast-model", "smart-model"]
    roles = page.evaluate("() => window.usageDashboard.charts['chart-roles'].data.labels")
    assert sorted(roles) == ["architect", "debugging", "implementation"]
    range_requests = page.locator('[data-totals="range"] dd[data-value="requests"]')
    assert range_requests.inner_text() == "30"
    page.wait_for_selector('[data-table="latency"] tbody tr')
    page.wait_for_function("() => window.usageDashboard.charts['chart-quota-gauge']")
    month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = sum(e.total_tokens for e in events if e.provider == "nanogpt" and e.created_at >= month)
    gauge = page.evaluate("() => window.usageDashboard.charts['chart-quota-gauge'].data.datasets[0].data")
    assert gauge == [used, 60_000 - used]  # NANOGPT_MONTHLY_QUOTA's default
    assert page.locator('[data-table="conversations"] tbody tr').count() == 4
    screenshot(page, "dashboard")

    # a filter changes every number
    page.select_option('select[name="model"]', "smart-model")
    page.click("#dashboard-filters button[type=submit]")
    page.wait_for_url("**model=smart-model**")
    page.wait_for_function(CHARTS_READY)
    smart = [event for event in events if event.model == "smart-model"]
    assert chart_sum(page, "chart-requests") == len(smart) == 10
    assert chart_sum(page, "chart-cost") == pytest.approx(sum(event.cost for event in smart))
    assert page.locator('[data-totals="range"] dd[data-value="requests"]').inner_text() == "10"
    assert page.evaluate("() => window.usageDashboard.charts['chart-breakdown'].data.labels") == ["smart-model"]
    screenshot(page, "dashboard-filtered")

    # CSV export of the breakdown downloads, filtered too
    with page.expect_download() as download_info:
        page.click('[data-panel="breakdown"] a[data-csv]')
    download = download_info.value
    assert download.suggested_filename.startswith("usage-breakdown-model-")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("value,requests,errors") and lines[1].startswith("smart-model,10,0")

    # the live feed shows a request sent now
    page.goto(f"{gateway.url}/admin/usage/usagerollup/")
    page.wait_for_function("() => document.getElementById('live-state').textContent === 'connected'")
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=20,
                          json={"model": "fast-model", "messages": [{"role": "user", "content": "live feed test"}]})
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    row = page.locator(f'#live-feed tbody tr[data-request-id="{request_id}"]')
    row.wait_for(timeout=10_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[2] == "fast-model" and cells[3] == "mockai" and cells[8].startswith("200")
    assert int(cells[5].replace(",", "")) > 0
    screenshot(page, "dashboard-live")


def test_a_non_staff_user_sees_no_dashboard(chromium, gateway):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("plain-user", password="plain-pass-7c1d")
    context = chromium.new_context()
    page = context.new_page()
    response = page.goto(f"{gateway.url}/admin/usage/usagerollup/data/overview/")
    assert response.status == 401
    page.goto(f"{gateway.url}/admin/usage/usagerollup/")
    assert "/admin/login/" in page.url
    context.close()
