"""Creating and revoking keys where operators do it: the admin and the management commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from apikeys.keyformat import digest, prefix_of
from apikeys.models import GatewayKey

pytestmark = pytest.mark.django_db

CHAT = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-only"))
    return client


def test_the_admin_shows_a_new_key_once_and_stores_only_its_hash(staff_client):
    response = staff_client.post(
        "/admin/apikeys/gatewaykey/add/",
        {"name": "ci agent", "allowed_models": "", "allowed_roles": "", "rpm_limit": "60", "tpm_limit": "",
         "monthly_budget": "5.00", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200, response.content[:2000]
    assert "no-store" in response["Cache-Control"]
    key = GatewayKey.objects.get(name="ci agent")
    html = response.content.decode()
    plaintext = html.split('id="gateway-key" type="text" readonly value="')[1].split('"')[0]
    assert prefix_of(plaintext) == key.prefix and digest(plaintext) == key.key_hash
    assert plaintext not in key.key_hash and key.rpm_limit == 60
    for page in ("/admin/apikeys/gatewaykey/", f"/admin/apikeys/gatewaykey/{key.pk}/change/"):
        shown = staff_client.get(page).content.decode()
        assert key.prefix in shown and plaintext not in shown and key.key_hash not in shown


def test_the_admin_revokes_keys(staff_client):
    call_command("create_key", "--name", "old", stdout=StringIO(), stderr=StringIO())
    key = GatewayKey.objects.get(name="old")
    response = staff_client.post(
        "/admin/apikeys/gatewaykey/", {"action": "revoke_selected", "_selected_action": [key.pk]}, follow=True
    )
    assert "Revoked 1 key" in response.content.decode()
    key.refresh_from_db()
    assert key.is_revoked and "revoked" in staff_client.get("/admin/apikeys/gatewaykey/").content.decode()


def test_create_key_prints_the_key_alone_and_revoke_key_revokes_it():
    from routing.models import Profile

    Profile.objects.create(name="work", tiers="paid")
    out, err = StringIO(), StringIO()
    call_command("create_key", "--name", "bot", "--profile", "work", "--rpm", "10", "--tpm", "5000",
                 "--budget", "12.50", "--roles", "debugging", "--models", "fast-*", "--expires-in-days", "30",
                 "--admin", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    key = GatewayKey.objects.get(name="bot")
    assert digest(plaintext) == key.key_hash and "not shown again" in err.getvalue()
    assert (key.profile.name, key.rpm_limit, key.tpm_limit, str(key.monthly_budget)) == ("work", 10, 5000, "12.5000")
    assert key.is_admin and key.expires_at is not None and key.allowed_models == "fast-*"
    call_command("revoke_key", key.prefix, stdout=StringIO())
    key.refresh_from_db()
    assert key.is_revoked
    with pytest.raises(CommandError):
        call_command("create_key", "--name", "x", "--profile", "missing", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError):
        call_command("revoke_key", "gwk_nonexist", stdout=StringIO())


def test_local_mode_serves_only_loopback_clients(client, settings, transactional_db):
    settings.GATEWAY_ALLOW_ANONYMOUS = True
    remote = client.post("/v1/chat/completions", CHAT, content_type="application/json", REMOTE_ADDR="10.1.2.3")
    assert remote.status_code == 401 and remote.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models", REMOTE_ADDR="10.1.2.3").status_code == 401
    assert client.get("/v1/models").status_code == 200  # the test client is 127.0.0.1


def test_keys_are_required_by_default(client, settings, transactional_db):
    settings.GATEWAY_ALLOW_ANONYMOUS = False
    response = client.post("/v1/chat/completions", CHAT, content_type="application/json")
    assert response.status_code == 401 and "Authorization: Bearer" in response.json()["error"]["message"]


def test_status_takes_a_staff_session(staff_client, settings):
    settings.GATEWAY_ALLOW_ANONYMOUS = False
    assert staff_client.get("/status").status_code == 200
    staff_client.logout()
    assert staff_client.get("/status").status_code == 401


def test_ensure_key_makes_a_first_key_once_and_reports_the_mode(settings):
    settings.GATEWAY_ALLOW_ANONYMOUS = False
    out = StringIO()
    call_command("ensure_key", stdout=out)
    plaintext = next(word for word in out.getvalue().split() if word.startswith("gwk_"))
    key = GatewayKey.objects.get()
    assert digest(plaintext) == key.key_hash and key.is_admin and "keys required" in out.getvalue()
    out = StringIO()
    call_command("ensure_key", stdout=out)
    assert GatewayKey.objects.count() == 1 and "1 active" in out.getvalue() and "gwk_" not in out.getvalue()
    settings.GATEWAY_ALLOW_ANONYMOUS = True
    out = StringIO()
    call_command("ensure_key", stdout=out)
    assert "LOCAL MODE" in out.getvalue()


def test_the_run_command_refuses_local_mode_off_loopback():
    import subprocess

    from tests.conftest import ROOT

    result = subprocess.run(
        ["bash", "scripts/run"], cwd=ROOT, capture_output=True, text=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOST": "0.0.0.0", "GATEWAY_ALLOW_ANONYMOUS": "true"},
    )
    assert result.returncode == 2 and "loopback only" in result.stderr
