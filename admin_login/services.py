"""Writes to the admin login failure counters: a fixed window per IP and username, opened by its first failure."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from admin_login.selectors import failure_counter_key


def login_failure_record(*, ip: str, username: str) -> int:
    """Count one failed attempt; returns the failures in the current window."""
    key = failure_counter_key(ip=ip, username=username)
    cache.add(key, 0, timeout=settings.ADMIN_LOGIN_WINDOW_SECONDS)  # only a window's first failure sets it
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=settings.ADMIN_LOGIN_WINDOW_SECONDS)
        return 1


def login_failures_clear(*, ip: str, username: str) -> None:
    cache.delete(failure_counter_key(ip=ip, username=username))
