"""Claude Code itself (the pinned npm CLI, headless `claude -p`) completing a task through the gateway.

Only ANTHROPIC_BASE_URL and a key point it at the gateway; it sends its default model ids
(`claude-opus-5-5`, and `claude-haiku-5-5` for side tasks), which the shipped aliases resolve. The
upstream is the recording loopback (tests/agents/recorder.py): its first answer is a `Read` of
hello.txt, and once the tool result comes back it answers "hello.txt says: <the file>". Once behind an
OpenAI-compatible backend (the Messages request translated), once behind an Anthropic one (passed through).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.agents import recorder
from tests.conftest import usage_rows

CLAUDE = Path(__file__).resolve().parent / "node" / "node_modules" / ".bin" / "claude"
SHIPPED_ROUTING = Path(__file__).resolve().parents[2] / "data" / "model_routing.json"
FILE_TEXT = "The gateway carried this line."

pytestmark = [
    pytest.mark.agents,
    # In CI a missing CLI fails the test (scripts/test installs it); elsewhere it is skipped.
    pytest.mark.skipif(not CLAUDE.exists() and not os.environ.get("CI"),
                       reason="npm ci --prefix tests/agents/node installs Claude Code"),
    pytest.mark.timeout(300),
]


@pytest.fixture
def agent_upstream(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder, "LOG_PATH", str(tmp_path / "upstream.jsonl"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder.Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def shipped_aliases() -> None:
    from routing.models import ModelAlias

    for alias in json.loads(SHIPPED_ROUTING.read_text())["aliases"]:
        for position, target in enumerate(alias["targets"]):
            ModelAlias.objects.create(pattern=alias["pattern"], target=target, position=position)


def behind_openai_compatible(base_url: str) -> None:
    """No Anthropic provider: the aliases fall to `auto` / `auto:general`, whose ranking starts with the agent."""
    from django.db.models import F

    from routing.models import Model, Provider, RankingEntry, Role

    provider = Provider.objects.create(name="agentai", base_url=f"{base_url}/v1", api_key_env="MOCKAI_API_KEY",
                                       tier="paid", timeout_seconds=30)
    model = Model.objects.create(public_id="agent-model", provider=provider, upstream_name="agent-upstream")
    general = Role.objects.get(name="general")
    RankingEntry.objects.filter(role=general).update(position=F("position") + 1, kind="fallback")
    RankingEntry.objects.create(role=general, model=model, position=0, kind="primary", reason="the agent upstream")


def behind_anthropic(base_url: str) -> None:
    """An Anthropic provider with a key: the aliases send the requested model ids to it as they are."""
    from routing.models import Provider

    Provider.objects.create(name="anthropic", kind="anthropic", base_url=base_url, api_key_env="MOCKAI_API_KEY",
                            tier="paid", timeout_seconds=30)


def run_claude(gateway_url: str, workdir: Path, home: Path, prompt: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gateway_url,
        "ANTHROPIC_API_KEY": "sk-gateway-test-key",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return subprocess.run([str(CLAUDE), "-p", prompt, "--output-format", "json"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("backend", ["openai_compatible", "anthropic"])
def test_claude_code_reads_a_file_through_the_gateway(backend, gateway, routing, agent_upstream, tmp_path):
    shipped_aliases()
    (behind_anthropic if backend == "anthropic" else behind_openai_compatible)(agent_upstream)
    gateway.sync_config()
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    (workdir / "hello.txt").write_text(FILE_TEXT + "\n")

    done = run_claude(gateway.url, workdir, home, "Read hello.txt and tell me what it says")

    assert done.returncode == 0, f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
    result = json.loads(done.stdout)
    assert result["is_error"] is False
    assert f"hello.txt says: {FILE_TEXT}" in result["result"]
    rows = [row for row in usage_rows(2, timeout=10) if row.requested_model == "claude-opus-5-5"]
    assert len(rows) >= 2 and all(row.status == "ok" for row in rows)  # the tool call, then the answer
    served_by = "anthropic/claude-opus-5-5" if backend == "anthropic" else "agent-model"
    assert {row.model for row in rows} == {served_by}
    assert all(row.prompt_tokens > 0 and row.completion_tokens > 0 for row in rows)

    received = [json.loads(line)["request"] for line in (tmp_path / "upstream.jsonl").read_text().splitlines()]
    main = [request["body_json"] for request in received if request["body_json"].get("tools")]
    assert len(main) >= 2
    if backend == "anthropic":  # passed through: what Claude Code sent, as it sent it
        assert all(request["path"] == "/v1/messages?beta=true" for request in received)
        assert main[0]["model"] == "claude-opus-5-5" and main[0]["thinking"]["type"] == "adaptive"
        assert "context_management" in main[0] and main[0]["output_config"]["effort"]
        assert [message["role"] for message in main[0]["messages"]][:2] == ["user", "system"]
    else:  # translated: Claude Code's environment block stays a system message where it was
        assert [message["role"] for message in main[0]["messages"]][:3] == ["system", "user", "system"]
