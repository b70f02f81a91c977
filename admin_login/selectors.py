"""Reads of the admin login failure counters (kept in Django's cache: Redis when REDIS_URL is set)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def failure_counter_key(*, ip: str, username: str) -> str:
    """One counter per client IP and username; hashed, so any username makes a valid cache key."""
    digest = hashlib.sha256(f"{ip}\n{username.strip().lower()}".encode()).hexdigest()[:32]
    return f"admin-login-failures:{digest}"


def login_blocked(*, ip: str, username: str) -> bool:
    """True once ADMIN_LOGIN_ATTEMPTS attempts failed within the window that began with the first."""
    return (cache.get(failure_counter_key(ip=ip, username=username)) or 0) >= settings.ADMIN_LOGIN_ATTEMPTS
