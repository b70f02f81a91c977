"""Limit failed admin logins per client IP and username; every other request passes straight through.

A login attempt that comes back as the login page (200) failed; a redirect (302) means it succeeded and
clears that counter. A request rejected before the password check (CSRF: 403) is not counted.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import escape

from admin_login.selectors import login_blocked
from admin_login.services import login_failure_record, login_failures_clear
from core.middleware import HybridMiddleware

TOO_MANY_ATTEMPTS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Too many login attempts</title></head>
<body><h1>Too many login attempts</h1>
<p>Too many failed logins for {username} from your address. Try again in {minutes} minutes.</p></body></html>
"""


def client_ip(request: HttpRequest) -> str:
    """The client's address; behind the TLS proxy, the one it appended to X-Forwarded-For (the last)."""
    if settings.BEHIND_TLS_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def too_many_attempts(username: str) -> HttpResponse:
    window = settings.ADMIN_LOGIN_WINDOW_SECONDS
    page = TOO_MANY_ATTEMPTS_PAGE.format(username=escape(repr(username)), minutes=max(1, round(window / 60)))
    response = HttpResponse(page, status=429)
    response["Retry-After"] = str(window)
    return response


class AdminLoginLimitMiddleware(HybridMiddleware):
    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self._login_path: str | None = None

    def handle(self, request: HttpRequest):
        attempt = self._attempt(request)
        if attempt is None:
            return self.get_response(request)
        if login_blocked(**attempt):
            return too_many_attempts(attempt["username"])
        response = self.get_response(request)
        _count(attempt, response)
        return response

    async def ahandle(self, request: HttpRequest):
        attempt = self._attempt(request)
        if attempt is None:
            return await self.get_response(request)
        if await sync_to_async(login_blocked)(**attempt):
            return too_many_attempts(attempt["username"])
        response = await self.get_response(request)
        await sync_to_async(_count)(attempt, response)
        return response

    def _attempt(self, request: HttpRequest) -> dict[str, str] | None:
        if request.method != "POST":
            return None
        if self._login_path is None:
            self._login_path = reverse("admin:login")
        if request.path != self._login_path:
            return None
        return {"ip": client_ip(request), "username": request.POST.get("username", "")}


def _count(attempt: dict[str, str], response: HttpResponse) -> None:
    if response.status_code == 200:
        login_failure_record(**attempt)
    elif response.status_code == 302:
        login_failures_clear(**attempt)
