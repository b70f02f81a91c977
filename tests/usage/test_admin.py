"""The usage admin: operators browse and filter request rows but cannot add or edit them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from usage.models import UsageRecord

CHANGELIST = "admin:usage_usagerecord_changelist"


def _record(request_id: str, **fields) -> UsageRecord:
    defaults = {
        "created_at": timezone.now(),
        "request_id": request_id,
        "role": "implementation",
        "model": "acme-big",
        "provider": "acme",
        "total_tokens": 30,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "latency_ms": 120.5,
        "attempts": 1,
    }
    return UsageRecord.objects.create(**{**defaults, **fields})


@pytest.fixture
def records(db):
    return {
        "ok": _record("req-ok", conversation_id="conv-1", ttft_ms=40.0, stream=True),
        "error": _record(
            "req-error",
            provider="other",
            model="other-small",
            role="debugging",
            status="error",
            status_code=502,
            error_type="upstream_error",
            error_message="bad gateway",
            attempts=2,
            attempt_log=[
                {"provider": "acme", "model": "acme-big", "error": "timeout-marker"},
                {"provider": "other", "model": "other-small", "status": 502},
            ],
            created_at=timezone.now() - timedelta(days=40),
        ),
    }


def _listed(response) -> list[str]:
    assert response.status_code == 200
    return sorted(record.request_id for record in response.context["cl"].result_list)


def test_changelist_lists_rows_newest_first(admin_client, records):
    response = admin_client.get(reverse(CHANGELIST))
    assert [r.request_id for r in response.context["cl"].result_list] == ["req-ok", "req-error"]
    html = response.content.decode()
    assert "acme-big" in html and "conv-1" in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "error"}, ["req-error"]),
        ({"provider": "acme"}, ["req-ok"]),
        ({"role": "debugging"}, ["req-error"]),
        ({"stream__exact": "1"}, ["req-ok"]),
        ({"q": "req-error"}, ["req-error"]),
        ({"q": "conv-"}, ["req-ok"]),
        ({"q": "other-sm", "status__exact": "error"}, ["req-error"]),
        ({"q": "other-sm", "status__exact": "ok"}, []),
    ],
)
def test_changelist_filters_and_search(admin_client, records, params, expected):
    assert _listed(admin_client.get(reverse(CHANGELIST), params)) == expected


def test_date_hierarchy_filters_by_created_at(admin_client, records):
    now = timezone.localtime(records["ok"].created_at)
    params = {"created_at__year": now.year, "created_at__month": now.month, "created_at__day": now.day}
    assert _listed(admin_client.get(reverse(CHANGELIST), params)) == ["req-ok"]


def test_add_is_forbidden(admin_client, db):
    assert admin_client.get(reverse("admin:usage_usagerecord_add")).status_code == 403
    assert admin_client.post(reverse("admin:usage_usagerecord_add"), {"request_id": "x"}).status_code == 403
    assert UsageRecord.objects.count() == 0


def test_change_view_is_read_only_with_a_pretty_attempt_log(admin_client, records):
    record = records["error"]
    url = reverse("admin:usage_usagerecord_change", args=[record.pk])
    response = admin_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["has_change_permission"] is False
    assert response.context["adminform"].form.fields == {}  # every field is shown read-only
    assert 'name="_save"' not in html and "<textarea" not in html
    assert "<pre" in html and "timeout-marker" in html
    assert "\n    &quot;provider&quot;: &quot;acme&quot;" in html  # indented JSON, escaped
    assert "bad gateway" in html

    response = admin_client.post(url, {"status_code": "200", "error_message": ""})
    assert response.status_code == 403
    record.refresh_from_db()
    assert (record.status_code, record.error_message) == (502, "bad gateway")


def test_only_superusers_may_delete(client, admin_client, records):
    record = records["ok"]
    delete_url = reverse("admin:usage_usagerecord_delete", args=[record.pk])
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="usage", codename__in=["view_usagerecord", "delete_usagerecord"]
        )
    )
    client.force_login(staff)

    assert client.get(reverse(CHANGELIST)).status_code == 200
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert UsageRecord.objects.filter(pk=record.pk).exists()

    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not UsageRecord.objects.filter(pk=record.pk).exists()
