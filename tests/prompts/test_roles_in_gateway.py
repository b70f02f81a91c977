"""The detected role as a client of the real gateway sees it: headers, the model it routed to, the usage row.

The gateway's test routing ranks `smart-model` first for architect, `backup-model` for debugging and `fast-model`
for general (other roles use general's ranking), so the upstream's record shows which ranking was used.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import usage_rows
from tests.prompts import agent_wrappers as agents

ARCHITECT = ("How would you architect a CLI tool that needs plugins, config files, and both sync and async commands? "
             "I'm starting from scratch in Python.")
DEBUGGING = ("My Next.js build fails with `Module not found: Can't resolve 'fs'` after I imported a util into a "
             "client component. How do I fix it?")
TESTING = ("Add integration tests for the /api/orders endpoints using the Django test client; cover the auth "
           "failures too.")
DOCUMENTATION = "Add Google-style docstrings to all public functions in `utils/dates.py`."
CLASSIFIED = "What's a good strategy for zero-downtime schema migrations in our deploy process?"

FIRST_MODEL = {"architect": "smart-upstream", "debugging": "backup-upstream"}


def chat(gateway, messages, *, headers=None, **fields) -> httpx.Response:
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, headers=headers or {},
                          json={"model": "auto", "messages": messages, **fields})
    assert response.status_code == 200, response.text
    return response


def anthropic_messages(gateway, request: agents.Request, *, headers=None) -> httpx.Response:
    body = {"model": "auto", "max_tokens": 512, "messages": request.messages, "system": request.system}
    response = httpx.post(f"{gateway.url}/v1/messages", json=body, timeout=10,
                          headers={"anthropic-version": "2023-06-01", **(headers or {})})
    assert response.status_code == 200, response.text
    return response


def upstream_model(upstream) -> str:
    return upstream.stats()["log"][-1]["body"]["model"]


@pytest.mark.parametrize(("task", "role"), [
    (ARCHITECT, "architect"), (DEBUGGING, "debugging"), (TESTING, "testing"), (DOCUMENTATION, "documentation"),
])
@pytest.mark.parametrize("agent", ["none", "claude_code", "roo", "aider"])
def test_the_role_of_the_task_is_detected_plain_and_inside_each_agents_scaffolding(gateway, upstream, task, role,
                                                                                    agent):
    request = agents.wrap(task, agent)
    if request.system is not None:  # Claude Code speaks Anthropic's Messages API
        response = anthropic_messages(gateway, request)
    else:
        response = chat(gateway, request.messages)
    assert response.headers["x-gateway-role"] == role
    assert response.headers["x-gateway-role-source"] == "fast_path"
    assert 0.5 <= float(response.headers["x-gateway-role-confidence"]) <= 1
    assert upstream_model(upstream) == FIRST_MODEL.get(role, "fast-upstream")


def test_the_classifier_decides_when_the_patterns_are_unsure_and_the_usage_row_keeps_the_tier(gateway, upstream):
    response = chat(gateway, [{"role": "user", "content": CLASSIFIED}])
    assert response.headers["x-gateway-role"] == "architect"
    assert response.headers["x-gateway-role-source"] == "classifier"
    assert upstream_model(upstream) == "smart-upstream"
    [row] = usage_rows(1, request_id=response.headers["x-request-id"])
    assert (row.role, row.role_source) == ("architect", "classifier")
    assert row.role_confidence == pytest.approx(float(response.headers["x-gateway-role-confidence"]), abs=0.01)


@pytest.mark.parametrize("how", ["header", "body", "model"])
def test_an_explicit_role_wins_over_detection(gateway, upstream, how):
    messages = [{"role": "user", "content": DEBUGGING}]
    if how == "header":
        response = chat(gateway, messages, headers={"x-gateway-role": "architect"})
    elif how == "body":
        response = chat(gateway, messages, role="architect")
    else:
        response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                              json={"model": "auto:architect", "messages": messages})
    assert response.headers["x-gateway-role"] == "architect"
    assert response.headers["x-gateway-role-source"] == "explicit"
    assert upstream_model(upstream) == "smart-upstream"
    [row] = usage_rows(1, request_id=response.headers["x-request-id"])
    assert (row.role, row.role_source, row.role_confidence) == ("architect", "explicit", 1.0)


def test_roo_codes_declared_mode_decides(gateway, upstream):
    response = chat(gateway, agents.roo("Look at the billing module and tell me what you think.",
                                        mode="architect").messages)
    assert response.headers["x-gateway-role"] == "architect"
    assert response.headers["x-gateway-role-source"] == "agent_mode"


def test_claude_code_plan_mode_decides(gateway):
    response = anthropic_messages(gateway, agents.claude_code("Add a CSV export to the orders page.", plan_mode=True))
    assert response.headers["x-gateway-role"] == "architect"
    assert response.headers["x-gateway-role-source"] == "agent_mode"


def test_an_agent_loop_keeps_its_role_across_tool_results_until_a_new_task(gateway, upstream):
    """A client sending only its latest turn with a conversation id: the tool result and a late "ok, continue"
    have no task of their own, so they keep the task's role (and its model); a new task is detected afresh."""
    conversation = {"conversation_id": f"loop-{uuid.uuid4().hex}"}
    first = chat(gateway, [{"role": "user", "content": DEBUGGING}], **conversation)
    assert first.headers["x-gateway-role"] == "debugging"
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.ts"}'}}]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "export const read = () => fs.readFileSync('x')"}
    for messages in ([call, result], [{"role": "user", "content": "ok, continue"}]):
        turn = chat(gateway, messages, **conversation)
        assert turn.headers["x-gateway-role"] == "debugging"
        assert turn.headers["x-gateway-role-sticky"] == "true"
        assert upstream_model(upstream) == "backup-upstream"
    new_task = chat(gateway, [{"role": "user", "content": ARCHITECT}], **conversation)
    assert new_task.headers["x-gateway-role"] == "architect"
    assert "x-gateway-role-sticky" not in new_task.headers


def test_claude_codes_session_header_makes_its_tool_loop_sticky(gateway, upstream):
    session = {"x-claude-code-session-id": str(uuid.uuid4())}
    first = agents.claude_code(DEBUGGING)
    assert anthropic_messages(gateway, first, headers=session).headers["x-gateway-role"] == "debugging"
    loop = agents.claude_code_tool_turn(first)
    response = anthropic_messages(gateway, loop, headers=session)
    assert response.headers["x-gateway-role"] == "debugging"
    assert response.headers["x-gateway-role-sticky"] == "true"


def test_a_tool_result_of_an_unknown_conversation_has_no_task_and_gets_the_default(gateway, upstream):
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]}
    response = chat(gateway, [call, {"role": "tool", "tool_call_id": "call_9", "content": "a.py b.py"}])
    assert response.headers["x-gateway-role"] == "general"
    assert response.headers["x-gateway-role-source"] == "default"
    assert upstream_model(upstream) == "fast-upstream"


def test_a_named_model_is_not_detected_and_says_no_role(gateway, upstream):
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                          json={"model": "smart-model", "messages": [{"role": "user", "content": DEBUGGING}]})
    assert response.status_code == 200
    assert "x-gateway-role" not in response.headers
    assert upstream_model(upstream) == "smart-upstream"


def test_a_recorded_claude_code_request_is_read_for_its_task_not_its_scaffolding():
    """Requests Claude Code 2.1.332 really sent (tests/fixtures/agents): its system prompt, tools and
    reminders are left to the agent; detection reads the person's prompt, decides from it (not by default),
    and the next turn of its loop (the tool result) is not a new task, so the conversation keeps its role.
    (Not sent through the gateway here: this branch's /v1/messages refuses the `system` message these
    requests carry inside `messages`; the wire work fixes that.)"""
    import json
    from pathlib import Path

    from prompts.detection import detect_role, is_new_task, task_text

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
    first, loop = (json.loads((fixtures / f"claude_code_2.1.332_{n}.request.json").read_text())["body"]
                   for n in (1, 2))
    assert task_text(first["messages"], first["system"]) == "Read hello.txt and tell me what it says"
    assert detect_role(first["messages"], first["system"]).source in ("fast_path", "classifier")
    assert is_new_task(first["messages"]) and not is_new_task(loop["messages"])
