"""A bounded HTTP GET for published benchmark files: one sync httpx client per run, never the event loop's.

Bounds, so one bad publisher cannot hang or flood a run:
- `timeout_seconds` for the whole fetch (connect, every read, redirects), not per read;
- `max_bytes` of decoded body; a larger `Content-Length` is refused before reading;
- redirects are followed only on the same scheme, host and port (at most `MAX_REDIRECTS`): a redirect
  elsewhere is reported, not followed;
- anything but 200 is an error.
`FetchError.retryable` says whether trying again later can help (timeouts, 5xx, 429) or not (404, a
redirect to another host, a body over the cap).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from types import TracebackType

import httpx

from core.version import VERSION

MAX_REDIRECTS = 5
USER_AGENT = f"llm-gateway-research/{VERSION}"


class FetchError(Exception):
    """The file could not be fetched; the message says why, `retryable` whether a later try may work."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after same-host redirects
    body: bytes
    content_type: str
    elapsed_seconds: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class Fetcher:
    """Fetches with one client; use as a context manager (the client is closed at the end)."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        max_bytes: int,
        transport: httpx.BaseTransport | None = None,
        no_cache: bool = False,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes
        headers = {"user-agent": USER_AGENT, "accept": "*/*"}
        if no_cache:  # force-refresh: ask CDNs (raw.githubusercontent.com caches minutes) for a fresh copy
            headers |= {"cache-control": "no-cache", "pragma": "no-cache"}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc from the environment: the URL says where we go
            headers=headers,
            transport=transport,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str) -> Fetched:
        """The body at `url`. Raises FetchError."""
        started = time.monotonic()
        deadline = started + self.timeout_seconds
        current = _parse(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                body, response = self._get_once(current, deadline)
            except httpx.TimeoutException:
                raise FetchError(f"timed out after {self.timeout_seconds:g}s", retryable=True) from None
            except httpx.HTTPError as exc:
                raise FetchError(f"could not connect ({type(exc).__name__}: {exc})", retryable=True) from None
            if response.is_redirect:
                current = self._redirect_target(current, response)
                continue
            if response.status_code != 200:
                raise FetchError(
                    f"HTTP {response.status_code}{_snippet(body)}",
                    retryable=response.status_code >= 500 or response.status_code == 429,
                    status=response.status_code,
                )
            return Fetched(str(current), body, response.headers.get("content-type", ""), time.monotonic() - started)
        raise FetchError(f"more than {MAX_REDIRECTS} redirects", retryable=False)

    def _get_once(self, url: httpx.URL, deadline: float) -> tuple[bytes, httpx.Response]:
        with self._client.stream("GET", url) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError(
                    f"the body is {int(declared)} bytes, more than the {self.max_bytes}-byte limit",
                    retryable=False, status=response.status_code,
                )
            parts: list[bytes] = []
            size = 0
            for part in response.iter_bytes():
                size += len(part)
                if size > self.max_bytes:
                    raise FetchError(
                        f"the body is larger than the {self.max_bytes}-byte limit", retryable=False,
                        status=response.status_code,
                    )
                parts.append(part)
                if time.monotonic() > deadline:  # a server trickling bytes must not hold the run forever
                    raise httpx.ReadTimeout("total fetch time exceeded")
            return b"".join(parts), response

    def _redirect_target(self, current: httpx.URL, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("location", "")
        if not location:
            raise FetchError(f"HTTP {response.status_code} redirect without a Location", retryable=False)
        target = current.join(location)
        if (target.scheme, target.host, target.port) != (current.scheme, current.host, current.port):
            raise FetchError(
                f"redirected to another host ({target.scheme}://{target.host}); not followed: point the source "
                "at the final URL if it is trusted",
                retryable=False, status=response.status_code,
            )
        return target


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}", retryable=False) from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise FetchError(f"not an http(s) URL: {url!r}", retryable=False)
    return parsed


def _snippet(body: bytes) -> str:
    text = " ".join(body[:120].decode("utf-8", "replace").split())
    return f": {text}" if text else ""
