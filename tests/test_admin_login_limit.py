"""The admin login refuses (429) after too many failed attempts for one username from one address."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def _limits(settings, db):
    settings.ADMIN_LOGIN_ATTEMPTS = 3
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def users(django_user_model):
    django_user_model.objects.create_superuser("admin", "", "right-password-1")
    django_user_model.objects.create_superuser("other", "", "right-password-2")


def login(client: Client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **extra)


def test_wrong_passwords_get_429_after_the_limit(client, users):
    for _ in range(3):
        response = login(client, "admin", "wrong")
        assert response.status_code == 200 and b"Please enter the correct username" in response.content
    refused = login(client, "admin", "wrong")
    assert refused.status_code == 429 and refused["Retry-After"] == "300"
    assert b"Too many failed logins" in refused.content
    # The window holds even for the right password: guessing on cannot tell a hit from a miss.
    assert login(client, "admin", "right-password-1").status_code == 429


def test_a_correct_password_for_another_user_still_works(client, users):
    for _ in range(4):
        login(client, "admin", "wrong")
    assert login(client, "admin", "wrong").status_code == 429
    response = login(Client(), "other", "right-password-2")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_another_address_is_not_blocked(client, users):
    for _ in range(4):
        login(client, "admin", "wrong")
    assert login(client, "admin", "wrong").status_code == 429
    assert login(client, "admin", "right-password-1", REMOTE_ADDR="10.0.0.7").status_code == 302


def test_a_successful_login_clears_the_count(client, users):
    for _ in range(2):
        login(client, "admin", "wrong")
    assert login(client, "admin", "right-password-1").status_code == 302
    for _ in range(2):
        assert login(Client(), "admin", "wrong").status_code == 200


def test_behind_the_proxy_the_forwarded_address_counts(client, users, settings):
    settings.BEHIND_TLS_PROXY = True
    for _ in range(3):
        login(client, "admin", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert login(client, "admin", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    # A client cannot dodge the limit by prepending addresses: the proxy's own entry comes last.
    assert login(client, "admin", "wrong", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5").status_code == 429
    assert login(client, "admin", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 200


def test_csrf_stays_enforced(users):
    client = Client(enforce_csrf_checks=True)
    assert login(client, "admin", "right-password-1").status_code == 403  # no token
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    response = client.post(LOGIN, {"username": "admin", "password": "right-password-1", "next": "/admin/",
                                   "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_csrf_rejections_are_not_counted(users):
    client = Client(enforce_csrf_checks=True)
    for _ in range(5):
        assert login(client, "admin", "wrong").status_code == 403
    assert login(Client(), "admin", "right-password-1").status_code == 302
