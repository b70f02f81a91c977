"""Vertex AI access tokens from a Google service-account key file.

Settings (environment, read by `vertex_settings`): `VERTEX_CREDENTIALS_FILE` (or the standard
`GOOGLE_APPLICATION_CREDENTIALS`) names the key file; `VERTEX_PROJECT_ID` the project (default: the
key file's own `project_id`); `VERTEX_LOCATION` the region (default us-central1).

google-auth signs the JWT grant and parses the token answer; its transport is synchronous, so the
refresh runs in a worker thread, over httpx (the gateway does not install `requests`). One token per
key file per process, cached and refreshed `REFRESH_MARGIN_SECONDS` before it expires, one refresh at
a time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from google.auth import exceptions as google_exceptions
from google.auth import transport as google_transport
from google.oauth2 import service_account

if TYPE_CHECKING:  # httpx is imported when a token is refreshed, not when the gateway starts
    import httpx

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN_SECONDS = 300.0
TOKEN_TIMEOUT_SECONDS = 20.0
DEFAULT_LOCATION = "us-central1"


@dataclass(frozen=True, slots=True)
class VertexSettings:
    credentials_file: str
    project: str
    location: str


def vertex_settings() -> VertexSettings:
    """Vertex's settings (VERTEX_CREDENTIALS_FILE, VERTEX_PROJECT_ID, VERTEX_LOCATION in settings.py)."""
    return VertexSettings(
        credentials_file=settings.VERTEX_CREDENTIALS_FILE,
        project=settings.VERTEX_PROJECT_ID,
        location=settings.VERTEX_LOCATION or DEFAULT_LOCATION,
    )


class VertexAuthError(Exception):
    """No token: `retryable` is False when the configuration itself is wrong (no file, bad file)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


def _now() -> float:
    return time.monotonic()


class AccessTokens:
    """The cached access token of one service-account key file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.project_id = ""
        self._credentials: service_account.Credentials | None = None
        self._token = ""
        self._expires_at = 0.0
        self._locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._thread_lock = threading.Lock()

    async def get(self) -> str:
        """A token valid for at least REFRESH_MARGIN_SECONDS more. Raises VertexAuthError."""
        if self._token and _now() < self._expires_at - REFRESH_MARGIN_SECONDS:
            return self._token
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            if self._token and _now() < self._expires_at - REFRESH_MARGIN_SECONDS:
                return self._token  # another request refreshed it while we waited
            token, expires_at = await asyncio.to_thread(self._refresh)
            self._token, self._expires_at = token, expires_at
            return token

    def invalidate(self, token: str) -> None:
        """Vertex refused this token (revoked early): the next request fetches a new one."""
        if token == self._token:
            self._expires_at = 0.0

    def _refresh(self) -> tuple[str, float]:
        with self._thread_lock:  # two event loops (tests) must not refresh one credentials object at once
            credentials = self._load()
            try:
                import httpx

                with httpx.Client(timeout=TOKEN_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
                    credentials.refresh(HttpxRequest(client))
            except google_exceptions.RefreshError as exc:
                raise VertexAuthError(f"the token endpoint refused the service account: {_first(exc)}",
                                      retryable=True) from None
            except google_exceptions.TransportError as exc:
                raise VertexAuthError(f"could not reach the token endpoint ({_first(exc)})", retryable=True) from None
            if not credentials.token:
                raise VertexAuthError("the token endpoint sent no access token", retryable=True)
            lifetime = 3600.0
            if credentials.expiry is not None:
                lifetime = (credentials.expiry - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
            return credentials.token, _now() + lifetime

    def _load(self) -> service_account.Credentials:
        if self._credentials is None:
            if not os.path.isfile(self.path):
                raise VertexAuthError(f"the service-account key file {self.path} does not exist", retryable=False)
            try:
                credentials = service_account.Credentials.from_service_account_file(self.path, scopes=SCOPES)
            except (ValueError, KeyError, OSError) as exc:
                raise VertexAuthError(
                    f"{self.path} is not a usable service-account key file ({type(exc).__name__}: {exc})",
                    retryable=False,
                ) from None
            self._credentials = credentials
            self.project_id = credentials.project_id or ""
        return self._credentials


class TokenCache:
    """One `AccessTokens` per key file path, for the life of the process."""

    def __init__(self) -> None:
        self._sources: dict[str, AccessTokens] = {}

    def for_file(self, path: str) -> AccessTokens:
        source = self._sources.get(path)
        if source is None:
            source = self._sources[path] = AccessTokens(path)
        return source

    def clear(self) -> None:
        self._sources.clear()


tokens = TokenCache()


class HttpxResponse(google_transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._response.headers)

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxRequest(google_transport.Request):
    """google-auth's documented transport interface, over a synchronous httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        import httpx

        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout or TOKEN_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            raise google_exceptions.TransportError(f"{type(exc).__name__}: {exc}") from exc
        return HttpxResponse(response)


def _first(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__
