"""Driving MCP servers from tests with the official `mcp` client SDK (stdio subprocess or streamable HTTP)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ROOT, database_env, gateway_env

HERE = Path(__file__).resolve().parent


def manage_env(**overrides: str) -> dict[str, str]:
    """The environment of a `manage.py` subprocess on the test database (keys required unless overridden)."""
    return gateway_env(database_env(), GATEWAY_ALLOW_ANONYMOUS="false", **overrides)


def stdio_params(args: list[str], env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(ROOT))


Scenario = Callable[[ClientSession], Awaitable[Any]]


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a fresh event loop in a thread of its own: a session-wide browser
    (Playwright's sync API) keeps an event loop running in the test thread, where asyncio.run refuses."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_stdio(args: list[str], env: dict[str, str], scenario: Scenario) -> Any:
    async def main() -> Any:
        async with stdio_client(stdio_params(args, env)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await scenario(session)

    return run_async(main())


def run_http(url: str, scenario: Scenario, key: str | None = None) -> Any:
    async def main() -> Any:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(10.0, read=30.0)) as client:
            async with streamable_http_client(url, http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await scenario(session)

    return run_async(main())


def tool_json(result) -> Any:
    """A tool's JSON answer (the gateway's tools answer with one JSON text part)."""
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def tool_error(result) -> str:
    assert result.is_error, result.content
    return result.content[0].text


def wait_for_key(url: str, key: str, timeout: float = 5) -> None:
    """A key created while the server runs reaches it through the key snapshot's poll
    (KEYS_REFRESH_SECONDS): wait until the server accepts it, as a client retrying a 401 would."""
    deadline = time.monotonic() + timeout
    headers = {"authorization": f"Bearer {key}", "accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    while httpx.post(url, headers=headers, json=body, timeout=5).status_code == 401:
        if time.monotonic() > deadline:
            raise AssertionError(f"the MCP server still refuses the key after {timeout} s")
        time.sleep(0.05)


def wait_for_http(url: str, process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError("the MCP server exited") from None
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url}")
