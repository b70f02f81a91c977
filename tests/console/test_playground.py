"""The playground's access path: a ticket from a staff session (CSRF-checked) is the bearer token of a real
request to the gateway's API, acting as a chosen key or profile; forged or stale tickets are refused."""

from __future__ import annotations

import time

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from django.core import signing
from django.test import Client
from django.urls import reverse

from apikeys.playground import _SALT as SALT
from apikeys.playground import TICKET_PREFIX, ticket_issue
from apikeys.services import key_create, key_revoke
from routing.models import Profile

pytestmark = pytest.mark.django_db(transaction=True)


def _ticket(client, **body) -> str:
    response = client.post(reverse("admin:playground_ticket"), body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    return response.json()["ticket"]


def _chat(gateway, ticket: str, model: str = "auto", **extra) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", timeout=20,
                      headers={"authorization": f"Bearer {ticket}", **extra.pop("headers", {})},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}], **extra})


def test_the_ticket_needs_a_staff_session_and_the_csrf_token(routing):
    staff = User.objects.create_user("staffer", password="staff-pass-1", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="add_gatewaykey"))
    client = Client(enforce_csrf_checks=True)
    url = reverse("admin:playground_ticket")
    assert client.get(url).status_code == 302  # to the login page
    assert client.post(url, {}, content_type="application/json").status_code == 403  # no CSRF token
    client.force_login(staff)
    assert client.post(url, {}, content_type="application/json").status_code == 403  # no CSRF token
    page = client.get(reverse("admin:playground"))
    token = page.cookies["csrftoken"].value
    response = client.post(url, {"profile": "work"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["ticket"].startswith(TICKET_PREFIX)


def test_a_profile_ticket_routes_under_that_profile(admin_client, gateway):
    ticket = _ticket(admin_client, profile="work")
    response = _chat(gateway, ticket, model="free-model")
    assert response.status_code == 400  # work has no free tier
    assert "profile 'work' does not use provider 'mockfree'" in response.json()["error"]["message"]
    assert _chat(gateway, _ticket(admin_client, profile="personal"), model="free-model").status_code == 200


def test_a_key_ticket_carries_the_keys_restrictions_and_stops_when_the_key_is_revoked(admin_client, gateway):
    key, _ = key_create(name="narrow", profile=Profile.objects.get(name="work"), allowed_models="backup-*")
    ticket = _ticket(admin_client, key=key.prefix)
    for _ in range(100):  # until the gateway's key snapshot has the new key
        ok = _chat(gateway, ticket, model="auto")
        if ok.status_code != 401:
            break
        time.sleep(0.02)
    assert ok.status_code == 200 and ok.headers["x-gateway-model"] == "backup-model"
    assert _chat(gateway, ticket, model="smart-model").status_code == 403
    key_revoke(key=key)
    for _ in range(100):
        refused = _chat(gateway, ticket)
        if refused.status_code == 401:
            break
        time.sleep(0.02)
    assert refused.status_code == 401 and "is not active" in refused.json()["error"]["message"]


def test_forged_and_expired_tickets_are_refused(gateway):
    claims = {"u": "intruder", "k": "", "p": ""}
    forged = TICKET_PREFIX + signing.dumps(claims, key="not-the-secret", salt=SALT, compress=True)
    response = _chat(gateway, forged)
    assert response.status_code == 401 and response.json()["error"]["message"] == "Invalid API key."

    class ElevenMinutesAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 660)

    stale = TICKET_PREFIX + ElevenMinutesAgo(salt=SALT).sign_object(claims, compress=True)
    response = _chat(gateway, stale)
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]
    assert _chat(gateway, ticket_issue(username="someone")).status_code == 200


def test_acting_as_a_key_needs_the_change_permission_on_keys(client, routing):
    key, _ = key_create(name="someone-elses")
    staff = User.objects.create_user("staffer", password="staff-pass-1", is_staff=True)
    client.force_login(staff)
    response = client.post(reverse("admin:playground_ticket"), {"key": key.prefix}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"].startswith("key:")


def test_a_staff_member_who_may_not_create_keys_cannot_send(client, routing):
    viewer = User.objects.create_user("viewer", password="viewer-pass-1", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(viewer)
    page = client.get(reverse("admin:playground"))
    assert page.status_code == 200 and 'id="pg-send"' not in page.content.decode()
    response = client.post(reverse("admin:playground_ticket"), {"profile": "work"}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"].startswith("profile:")


def test_playground_usage_rows_say_playground(admin_client, gateway):
    from tests.conftest import usage_rows

    response = _chat(gateway, _ticket(admin_client, profile="personal"))
    rows = usage_rows(1, request_id=response.headers["x-request-id"])
    assert rows[0].api_key_prefix == "playground" and rows[0].profile == "personal"


def _admin_session(url: str, username: str, password: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, follow_redirects=True, timeout=20)
    browser.get("/admin/login/")  # sets the CSRF cookie
    browser.post("/admin/login/", data={"username": username, "password": password, "next": "/admin/",
                                        "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                 headers={"referer": f"{url}/admin/login/"})
    return browser


def test_the_capture_is_shared_between_processes_through_redis(routing, redis_url, tmp_path):
    """Two gateway processes on one Redis: a playground request served by one is shown by the other."""
    from tests.conftest import MOCK_KEY, dedicated_gateway

    User.objects.create_superuser("ops", "ops@example.test", "ops-pass-71c2")
    with dedicated_gateway(tmp_path, REDIS_URL=redis_url) as first, \
            dedicated_gateway(tmp_path, REDIS_URL=redis_url) as second:
        admin_first = _admin_session(first.url, "ops", "ops-pass-71c2")
        admin_second = _admin_session(second.url, "ops", "ops-pass-71c2")
        try:
            ticket = admin_first.post("/admin/playground/ticket/", json={"profile": "work"},
                                      headers={"x-csrftoken": admin_first.cookies["csrftoken"]}).json()["ticket"]
            response = _chat(first, ticket, model="auto:architect")
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            for _ in range(100):
                exchange = admin_second.get(f"/admin/playground/exchange/{request_id}.json")
                data = exchange.json() if exchange.status_code == 200 else {}
                if data.get("capture") and data.get("usage"):
                    break
                time.sleep(0.05)
        finally:
            admin_first.close()
            admin_second.close()
    assert data["capture"]["user"] == "ops"
    [sent] = data["capture"]["upstream_requests"]
    assert '"model":"smart-upstream"' in sent["body"] and sent["headers"]["authorization"] == "[REDACTED]"
    assert MOCK_KEY not in str(data)
    assert data["usage"]["model"] == "smart-model" and data["usage"]["api_key_prefix"] == "playground"
