"""The dashboard's JSON/CSV endpoints: staff only, numbers equal to the rows, filters that change them,
percentiles equal to percentile_cont, CSV for every breakdown, and a clear 400 for bad input."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from usage.events import UsageEvent

pytestmark = pytest.mark.django_db(transaction=True)

DATA = "/admin/usage/usagerollup/data/"


def percentile_cont(values: list[float], p: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * p
    lower = math.floor(position)
    if lower + 1 >= len(ordered):
        return ordered[lower]
    return ordered[lower] + (ordered[lower + 1] - ordered[lower]) * (position - lower)


@pytest.fixture
def seeded() -> list[UsageEvent]:
    from usage.services import usage_records_write

    now = timezone.now().astimezone(UTC)
    events = []
    for index in range(120):
        events.append(UsageEvent(
            created_at=now - timedelta(hours=index % 48, minutes=index % 7),
            request_id=f"dash-{index}",
            profile="personal",
            api_key_prefix=("gwk_aaaa1111", "gwk_bbbb2222")[index % 2],
            role=("architect", "debugging", "implementation")[index % 3],
            conversation_id=f"conv-{index % 9}",
            model=("fast-model", "smart-model")[index % 2],
            provider=("nanogpt", "openai")[index % 2],
            attempts=1 + (index % 5 == 0),
            prompt_tokens=100 + index,
            completion_tokens=10 + index,
            total_tokens=110 + 2 * index,
            cost=0.001 * (1 + index % 2),
            latency_ms=float(50 + (index * 37) % 400),
            ttft_ms=None if index % 6 == 0 else float(5 + (index * 13) % 90),
            status_code=(200, 200, 200, 502)[index % 4],
            status=("ok", "ok", "ok", "error")[index % 4],
        ))
    usage_records_write(events)
    return events


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_user("dash-staff", password="x", is_staff=True))
    return client


def test_anonymous_and_non_staff_get_no_data(client, seeded):
    assert client.get(DATA + "overview/").status_code == 401
    client.force_login(User.objects.create_user("not-staff", password="x"))
    response = client.get(DATA + "overview/")
    assert response.status_code == 403
    assert "requests" not in response.content.decode()
    assert client.get("/admin/usage/usagerollup/").status_code == 302  # to the login page


def test_overview_totals_equal_the_rows_and_a_filter_changes_them(staff_client, seeded):
    today = timezone.now().astimezone(UTC).date()
    data = staff_client.get(DATA + "overview/").json()
    assert data["range"]["requests"] == 120
    assert data["range"]["total_tokens"] == sum(event.total_tokens for event in seeded)
    assert data["range"]["cost"] == pytest.approx(sum(event.cost for event in seeded))
    assert data["range"]["errors"] == 30 and data["range"]["fallbacks"] == 24
    assert data["today"]["requests"] == sum(event.created_at.date() == today for event in seeded)
    assert data["bucket"] == "day" and data["rows"][-1][0] == today.isoformat()
    assert sum(row[1] for row in data["rows"]) == 120

    smart = staff_client.get(DATA + "overview/", {"model": "smart-model"}).json()
    assert smart["range"]["requests"] == 60
    assert smart["range"]["cost"] == pytest.approx(sum(e.cost for e in seeded if e.model == "smart-model"))

    two_days = staff_client.get(DATA + "overview/", {"since": (today - timedelta(days=1)).isoformat()}).json()
    assert two_days["bucket"] == "hour" and len(two_days["rows"]) == 48
    assert sum(row[1] for row in two_days["rows"]) == sum(
        event.created_at.date() >= today - timedelta(days=1) for event in seeded)


def test_every_breakdown_sums_to_the_total_and_exports_csv(staff_client, seeded):
    for by in ("model", "provider", "role", "key", "profile", "role_source", "status_class"):
        data = staff_client.get(DATA + "breakdown/", {"by": by}).json()
        assert sum(row[1] for row in data["rows"]) == 120, by
        response = staff_client.get(DATA + "breakdown/", {"by": by, "format": "csv"})
        assert response["Content-Disposition"].startswith(f'attachment; filename="usage-breakdown-{by}-')
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == data["columns"] and len(rows) == len(data["rows"]) + 1
    roles = staff_client.get(DATA + "breakdown/", {"by": "role"}).json()
    assert {row[0]: row[1] for row in roles["rows"]} == {"architect": 40, "debugging": 40, "implementation": 40}
    keys = staff_client.get(DATA + "breakdown/", {"by": "key"}).json()
    assert keys["rows"][0][0] == "gwk_bbbb2222"  # the odd requests cost twice as much
    options = staff_client.get(DATA + "options/").json()["options"]
    assert sorted(options["model"]) == ["fast-model", "smart-model"] and options["status_class"] == ["2xx", "5xx"]
    assert len(options["key"]) == 2 and options["role_source"] == [""]
    sources = staff_client.get(DATA + "breakdown/", {"by": "role_source"}).json()
    assert sources["known_sources"] == ["explicit", "alias", "agent_mode", "fast_path", "classifier", "default"]


def test_latency_percentiles_equal_percentile_cont(staff_client, seeded):
    data = staff_client.get(DATA + "latency/").json()
    [row] = data["rows"]
    values = dict(zip(data["columns"], row, strict=True))
    latencies = [event.latency_ms for event in seeded]
    ttfts = [event.ttft_ms for event in seeded if event.ttft_ms is not None]
    assert values["latency_ms_count"] == 120 and values["ttft_ms_count"] == len(ttfts)
    for p in (50, 95, 99):
        assert values[f"latency_ms_p{p}"] == pytest.approx(percentile_cont(latencies, p / 100), abs=0.01)
        assert values[f"ttft_ms_p{p}"] == pytest.approx(percentile_cont(ttfts, p / 100), abs=0.01)

    by_model = staff_client.get(DATA + "latency/", {"by": "model", "role": "architect"}).json()
    for row in by_model["rows"]:
        values = dict(zip(by_model["columns"], row, strict=True))
        mine = [e.latency_ms for e in seeded if e.model == values["value"] and e.role == "architect"]
        assert values["latency_ms_count"] == len(mine)
        assert values["latency_ms_p95"] == pytest.approx(percentile_cont(mine, 0.95), abs=0.01)


def test_top_conversations_and_quota(staff_client, seeded, settings):
    data = staff_client.get(DATA + "conversations/").json()
    assert sum(row[1] for row in data["rows"]) == 120 and len(data["rows"]) == 9
    costs = [row[3] for row in data["rows"]]
    assert costs == sorted(costs, reverse=True)

    settings.NANOGPT_MONTHLY_QUOTA = 10_000
    quota = staff_client.get(DATA + "quota/").json()
    [nanogpt] = quota["providers"]
    month_start = timezone.now().astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = sum(e.total_tokens for e in seeded if e.provider == "nanogpt" and e.created_at >= month_start)
    assert nanogpt["used"] == used and nanogpt["remaining"] == max(10_000 - used, 0)
    assert nanogpt["alerts"] == [level for level in (50, 75, 90, 100) if 100 * used / 10_000 >= level]
    assert nanogpt["burn_down"][-1][1] == used

    settings.NANOGPT_MONTHLY_QUOTA = 0
    assert staff_client.get(DATA + "quota/").json()["configured"] is False


def test_bad_input_is_a_400_naming_the_field(staff_client, seeded):
    for params, field in (({"since": "yesterday"}, "since"), ({"since": "2026-02-02", "until": "2026-01-01"}, "since"),
                          ({"by": "colour"}, "by"), ({"status_class": "2xy"}, "status_class"),
                          ({"format": "xml"}, "format")):
        response = staff_client.get(DATA + "breakdown/", params)
        assert response.status_code == 400, params
        assert response.json()["error"]["field"] == field
    assert staff_client.get(DATA + "nothing/").status_code == 404


def test_the_dashboard_page_is_listed_under_usage(staff_client):
    page = staff_client.get("/admin/usage/usagerollup/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "usage/vendor/chart.umd.js" in html and 'data-data-url="/admin/usage/usagerollup/data/"' in html
    User.objects.filter(username="dash-staff").update(is_superuser=True)
    assert "/admin/usage/usagerollup/" in staff_client.get("/admin/").content.decode()




def test_raw_panels_read_the_newest_rows_when_capped(staff_client, seeded, monkeypatch):
    from usage.dashboard import raw

    monkeypatch.setattr(raw, "RAW_MAX_ROWS", 50)
    data = staff_client.get(DATA + "latency/").json()
    newest = sorted(seeded, key=lambda event: event.created_at, reverse=True)[:50]
    assert data["window"]["rows_capped"] is True and data["window"]["rows"] == 50
    assert data["window"]["since"] == newest[-1].created_at.isoformat()
    values = dict(zip(data["columns"], data["rows"][0], strict=True))
    assert values["latency_ms_count"] == 50
    assert values["latency_ms_p95"] == pytest.approx(percentile_cont([e.latency_ms for e in newest], 0.95), abs=0.01)
    conversations = staff_client.get(DATA + "conversations/").json()
    assert sum(row[1] for row in conversations["rows"]) == 50 and conversations["window"]["rows_capped"] is True
