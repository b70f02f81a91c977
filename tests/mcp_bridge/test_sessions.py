"""The session pool in-process, against the real stdio test server: reuse, cache, replacement, closing."""

from __future__ import annotations

import asyncio
import os
import re
import sys

from django.test import override_settings

from mcp_bridge.client import Sessions
from mcp_bridge.specs import McpSnapshot, ServerSpec
from tests.mcp_bridge.helpers import HERE, run_async

SCRIPT = str(HERE / "context_server.py")


def spec(**fields) -> ServerSpec:
    values = dict(id=1, name="runbooks", transport="stdio", tool_name="lookup", template={"query": "{task}"},
                  timeout_ms=30000, command=sys.executable, args=(SCRIPT,))
    values.update(fields)
    return ServerSpec(**values)


def pid_of(text: str) -> int:
    return int(re.search(r"server pid (\d+)", text).group(1))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_gone(pid: int) -> bool:
    for _ in range(100):
        if not alive(pid):
            return True
        await asyncio.sleep(0.1)
    return False


@override_settings(MCP_RESULT_CACHE_SECONDS=30)
def test_one_session_serves_concurrent_calls_answers_repeat_from_the_cache_and_edits_replace_it():
    async def scenario():
        sessions = Sessions()
        server = spec()
        answers = await asyncio.gather(*(sessions.ask(server, {"query": f"q{i}"}) for i in range(10)))
        assert all(answers)
        first_pid = {pid_of(text) for text in answers}
        assert len(first_pid) == 1  # ten concurrent requests, one process

        again = await sessions.ask(server, {"query": "q3"})
        stats = sessions.report([server])["servers"][0]
        assert again == answers[3]
        assert (stats["calls"], stats["ok"], stats["cached"], stats["starts"]) == (11, 10, 1, 1)

        moved = spec(args=(SCRIPT, "--unused-flag"))  # how to reach it changed: a new session, the old one closed
        replaced = await sessions.ask(moved, {"query": "q0"})
        assert pid_of(replaced) not in first_pid
        assert await wait_gone(first_pid.pop())

        renamed_timeout = spec(args=(SCRIPT, "--unused-flag"), timeout_ms=500)  # applies to the running session
        assert pid_of(await sessions.ask(renamed_timeout, {"query": "q9"})) == pid_of(replaced)

        sessions.reconcile(McpSnapshot(()))  # removed from the admin: its session is closed
        assert await wait_gone(pid_of(replaced))
        await sessions.aclose()

    run_async(scenario())


def test_a_command_that_cannot_start_backs_off_and_is_not_retried_before_its_time():
    async def scenario():
        sessions = Sessions()
        missing = spec(name="missing", command="/nonexistent/mcp-server", args=())
        assert await sessions.ask(missing, {"query": "x"}) is None
        report = sessions.report([missing])["servers"][0]
        assert report["state"] == "backoff" and report["failures"] == 1
        assert "No such file" in report["last_error"] or "nonexistent" in report["last_error"]
        assert await sessions.ask(missing, {"query": "y"}) is None
        report = sessions.report([missing])["servers"][0]
        assert (report["starts"], report["unavailable"]) == (1, 2)
        assert 0 < report["retry_in_seconds"] <= 1.0
        await sessions.aclose()

    run_async(scenario())
