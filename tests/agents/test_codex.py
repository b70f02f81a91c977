"""Codex CLI itself (`@openai/codex` 0.171.0, `codex exec`) with the gateway as its model provider.

Codex speaks only the Responses API. Behind the gateway, a scripted OpenAI-compatible upstream first
answers with a call of Codex's `exec_command` tool (read a file), then, once Codex sends the command's
output back, with the final text: Codex runs the command itself, so the task completes only if the
whole loop works (typed events out, function_call and function_call_output items in).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import usage_rows
from tests.providers.scripted_upstream import Reply, ScriptedUpstream

CODEX = Path(__file__).resolve().parent / "node" / "node_modules" / ".bin" / "codex"
FILE_TEXT = "The launch code is 7241."
FINAL_TEXT = "hello.txt says: The launch code is 7241."

pytestmark = [
    pytest.mark.agents,
    # Skipped on a machine without the CLI, never under CI (scripts/test installs it there).
    pytest.mark.skipif(not CODEX.exists() and not os.environ.get("CI"),
                       reason="npm ci --prefix tests/agents/node installs the pinned Codex CLI"),
]


def chat_stream(chunks: list[dict], usage: dict) -> Reply:
    """A streamed chat completion: each chunk an SSE event, then the usage chunk and [DONE]."""
    base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1796300000,
            "model": "scripted-upstream"}
    events = [{**base, "choices": [{"index": 0, **chunk}]} for chunk in chunks]
    events.append({**base, "choices": [], "usage": usage})
    parts = [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]
    return Reply(parts=parts, content_type="text/event-stream")


def tool_call(name: str, arguments: str) -> Reply:
    """A call of one of Codex's tools, its arguments streamed in two pieces."""
    half = len(arguments) // 2
    return chat_stream([
        {"delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_codex_1", "type": "function",
                                                         "function": {"name": name, "arguments": ""}}]}},
        {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]}},
        {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]},
         "finish_reason": "tool_calls"},
    ], {"prompt_tokens": 5000, "completion_tokens": 20, "total_tokens": 5020})


# A model Codex has no metadata for (`codex-model`) gets function tools such as `exec_command`; Codex's
# default model id (`gpt-6.2-sol`, "code mode") gets one free-form custom tool `exec` taking JavaScript,
# which the gateway offers upstream as a function with one string parameter `input` and hands back to
# Codex as a custom_tool_call.
SHELL_CALL = ("codex-model", "exec_command", json.dumps({"cmd": "cat hello.txt"}))
SCRIPT = ('const r = await tools.exec_command({cmd: "cat hello.txt"});\n'
          'text(typeof r === "string" ? r : JSON.stringify(r));')
CODE_MODE_CALL = ("gpt-6.2-sol", "exec", json.dumps({"input": SCRIPT}))
FINAL = chat_stream([
    {"delta": {"role": "assistant", "content": "hello.txt says: "}},
    {"delta": {"content": FILE_TEXT}, "finish_reason": "stop"},
], {"prompt_tokens": 5100, "completion_tokens": 12, "total_tokens": 5112,
    "prompt_tokens_details": {"cached_tokens": 4096}})


@pytest.fixture
def scripted(gateway, routing):
    from routing.models import Model, Provider

    server = ScriptedUpstream()
    provider = Provider.objects.create(name="scripted", base_url=f"{server.url}/v1", api_key_env="MOCKAI_API_KEY",
                                       tier="paid", timeout_seconds=10)
    for public_id in ("codex-model", "gpt-6.2-sol"):
        Model.objects.create(public_id=public_id, provider=provider, upstream_name="scripted-upstream",
                             context_window=200000, input_price_per_mtok=1, output_price_per_mtok=4)
    gateway.sync_config()
    yield server
    server.close()


def run_codex(gateway, tmp_path: Path, model: str, *, web_search: bool = False,
              built_in_provider: bool = False) -> subprocess.CompletedProcess:
    """`codex exec` in a scratch dir holding hello.txt, with a fresh CODEX_HOME; the gateway as a custom
    provider, or (`built_in_provider`) as the base URL of Codex's own `openai` provider."""
    work, home, codex_home = tmp_path / "work", tmp_path / "home", tmp_path / "codex"
    for directory in (work, home, codex_home):
        directory.mkdir()
    (work / "hello.txt").write_text(FILE_TEXT + "\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "TERM": "dumb", "CODEX_HOME": str(codex_home),
           "GATEWAY_KEY": "any-value-in-local-mode", "CODEX_API_KEY": "any-value-in-local-mode"}
    command = [str(CODEX), "exec", "--skip-git-repo-check", "-s", "read-only"]
    if built_in_provider:
        (codex_home / "config.toml").write_text(f"""
model = "{model}"
web_search = "disabled"
[analytics]
enabled = false
[features]
plugins = false
""")
        command += ["-c", f'openai_base_url="{gateway.base_url}"']
        return subprocess.run([*command, "Read hello.txt and tell me what it says"], cwd=work, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    (codex_home / "config.toml").write_text(f"""
model = "{model}"
model_provider = "gateway"
{"" if web_search else 'web_search = "disabled"'}

[model_providers.gateway]
name = "Gateway"
base_url = "{gateway.base_url}"
env_key = "GATEWAY_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false
""")
    return subprocess.run([*command, "Read hello.txt and tell me what it says"], cwd=work, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("model", "tool", "arguments"), [SHELL_CALL, CODE_MODE_CALL], ids=["shell", "code-mode"])
def test_codex_exec_reads_a_file_through_the_gateway(gateway, scripted, tmp_path, model, tool, arguments):
    scripted.on("/v1/chat/completions", tool_call(tool, arguments), FINAL)
    done = run_codex(gateway, tmp_path, model)
    assert done.returncode == 0, f"codex failed:\n{done.stdout}\n{done.stderr}\n{gateway.logs()[-3000:]}"
    assert FINAL_TEXT in done.stdout

    first, second = [request.json() for request in scripted.requests_to("/v1/chat/completions")]
    assert first["model"] == "scripted-upstream" and first["stream"] is True
    assert tool in [offered["function"]["name"] for offered in first["tools"]]
    call, output = second["messages"][-2:]
    assert call["tool_calls"][0]["function"]["name"] == tool
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == json.loads(arguments)
    assert output["role"] == "tool" and output["tool_call_id"] == "call_codex_1" and FILE_TEXT in output["content"]

    rows = usage_rows(2, model=model)
    assert [(row.prompt_tokens, row.completion_tokens, row.status, row.stream) for row in rows] == [
        (5000, 20, "ok", True), (5100, 12, "ok", True)]
    assert rows[0].conversation_id and rows[0].conversation_id == rows[1].conversation_id  # Codex's session id
    assert float(rows[1].cost) == pytest.approx((5100 * 1 + 12 * 4) / 1e6, rel=0.2)


def test_codex_with_web_search_on_is_told_how_to_turn_it_off(gateway, scripted, tmp_path):
    """Codex offers OpenAI's hosted web search by default; the gateway cannot run it and says so."""
    done = run_codex(gateway, tmp_path, "codex-model", web_search=True)
    assert done.returncode != 0
    assert "built-in tool 'web_search' is not supported" in done.stderr
    assert 'web_search = \\"disabled\\"' in done.stderr  # the fix, as Codex prints the error's JSON
    assert scripted.requests_to("/v1/chat/completions") == []


def test_codex_built_in_provider_falls_back_from_websocket_to_the_gateways_http(gateway, scripted, tmp_path):
    """Codex's own `openai` provider tries Responses over WebSocket first, which the gateway does not
    serve; after its retries (about ten seconds) it uses HTTP and the task completes."""
    scripted.on("/v1/chat/completions", tool_call(*SHELL_CALL[1:]), FINAL)
    done = run_codex(gateway, tmp_path, "codex-model", built_in_provider=True)
    assert done.returncode == 0, f"codex failed:\n{done.stdout}\n{done.stderr}"
    assert FINAL_TEXT in done.stdout and "Falling back from WebSockets to HTTPS" in done.stderr
    assert len(usage_rows(2, model="codex-model")) == 2
