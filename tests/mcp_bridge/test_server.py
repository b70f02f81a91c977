"""`manage.py mcp_server`, driven by the official MCP client SDK over stdio and over streamable HTTP,
against conversations stored in the test database."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from apikeys.services import key_create
from mcp_bridge.services import interaction_save
from tests.conftest import ROOT, free_port
from tests.mcp_bridge.helpers import (
    manage_env,
    run_http,
    run_stdio,
    tool_error,
    tool_json,
    wait_for_http,
    wait_for_key,
)

pytestmark = pytest.mark.django_db(transaction=True)

DISTRACTORS = [
    ("How do I center a div with flexbox?", "Use display:flex with justify-content and align-items center."),
    ("Write a haiku about autumn leaves", "Crimson leaves drifting, the cold wind carries them home."),
    ("What is the capital of Australia?", "Canberra."),
]


def store(prefix: str, conversation_id: str, exchanges: list[tuple[str, str]], profile: str = "personal") -> None:
    for user, assistant in exchanges:
        interaction_save(api_key_prefix=prefix, profile=profile, conversation_id=conversation_id, user=user,
                         assistant=assistant)


def test_stdio_server_saves_reads_and_searches_the_chosen_keys_conversations(tmp_path):
    own, _ = key_create(name="own")
    other, _ = key_create(name="other")
    store(own.prefix, "chat-1", [("Why does my asyncio pool deadlock on shutdown?",
                                  "Because the executor waits on a task that awaits the loop itself.")])
    store(own.prefix, "noise", DISTRACTORS)
    store(other.prefix, "secret-chat", [("Rotate the production database password", "Done via the vault.")])

    async def scenario(session):
        tools = sorted(tool.name for tool in (await session.list_tools()).tools)
        saved = tool_json(await session.call_tool("save_interaction", {
            "conversation_id": "chat-1", "user": "And how do I cancel the pending futures?",
            "assistant": "Call cancel() on each future before shutdown(wait=False).",
        }))
        history = tool_json(await session.call_tool("read_history", {"conversation_id": "chat-1"}))
        found = tool_json(await session.call_tool("search_interactions", {"query": "asyncio deadlock at shutdown"}))
        hidden = tool_error(await session.call_tool("read_history", {"conversation_id": "secret-chat"}))
        leaked = tool_json(await session.call_tool("search_interactions", {"query": "rotate production password"}))
        return tools, saved, history, found, hidden, leaked

    tools, saved, history, found, hidden, leaked = run_stdio(
        ["manage.py", "mcp_server", "--key", own.prefix], manage_env(), scenario
    )

    assert tools == ["read_history", "save_interaction", "search_interactions"]
    assert saved["saved"] is True and saved["profile"] == "personal"
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", "Why does my asyncio pool deadlock on shutdown?"),
        ("assistant", "Because the executor waits on a task that awaits the loop itself."),
        ("user", "And how do I cancel the pending futures?"),
        ("assistant", "Call cancel() on each future before shutdown(wait=False)."),
    ]
    assert history["message_count"] == 4
    assert found["interactions"][0]["prompt"] == "Why does my asyncio pool deadlock on shutdown?"
    assert all("Canberra" not in hit["answer"] for hit in found["interactions"])
    assert "No conversation 'secret-chat'" in hidden
    assert leaked["interactions"] == []  # another key's interactions are never found


def test_stdio_server_limited_to_one_profile_refuses_another(tmp_path):
    store("", "work-chat", [("Deploy checklist for the payments service", "Run the migrations first.")],
          profile="work")
    store("", "home-chat", [("Deploy my hobby blog", "Push to the static host.")], profile="personal")

    async def scenario(session):
        refused = tool_error(await session.call_tool("read_history", {"conversation_id": "work-chat",
                                                                      "profile": "work"}))
        found = tool_json(await session.call_tool("search_interactions", {"query": "deploy"}))
        return refused, found

    refused, found = run_stdio(["manage.py", "mcp_server", "--profile", "personal"], manage_env(), scenario)
    assert "only use the profile 'personal'" in refused
    assert [hit["prompt"] for hit in found["interactions"]] == ["Deploy my hobby blog"]


@pytest.fixture
def http_server(tmp_path):
    port = free_port()
    log = (tmp_path / "mcp-http.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "mcp_server", "--http", "--port", str(port)],
        cwd=ROOT, env=manage_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_for_http(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_http_server_answers_401_without_a_valid_gateway_key(http_server):
    for headers in ({}, {"authorization": "Bearer gwk_NotAKey1_wrongsecretwrongsecretwrongsecret"}):
        response = httpx.post(http_server, headers={**headers, "accept": "application/json, text/event-stream"},
                              json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_http_server_scopes_every_tool_to_the_callers_key(http_server):
    alice, alice_key = key_create(name="alice")
    bob, bob_key = key_create(name="bob")
    wait_for_key(http_server, alice_key)
    store(alice.prefix, "alice-chat", [("Explain the Rust borrow checker error E0502",
                                        "You borrow mutably while an immutable borrow is alive.")])
    store(bob.prefix, "bob-chat", [("Explain the Rust borrow checker error E0499", "Two mutable borrows at once.")])

    async def as_alice(session):
        history = tool_json(await session.call_tool("read_history", {"conversation_id": "alice-chat"}))
        others = tool_error(await session.call_tool("read_history", {"conversation_id": "bob-chat"}))
        found = tool_json(await session.call_tool("search_interactions", {"query": "borrow checker error"}))
        saved = tool_json(await session.call_tool("save_interaction", {
            "conversation_id": "alice-chat", "user": "Thanks, fixed.", "assistant": "Glad it works."}))
        return history, others, found, saved

    history, others, found, saved = run_http(http_server, as_alice, key=alice_key)
    assert history["messages"][0]["content"] == "Explain the Rust borrow checker error E0502"
    assert "No conversation 'bob-chat'" in others
    assert [hit["prompt"] for hit in found["interactions"]] == ["Explain the Rust borrow checker error E0502"]
    assert saved["saved"] is True

    from context.models import Conversation

    assert Conversation.objects.get(api_key_prefix=alice.prefix, conversation_id="alice-chat").message_count == 4
    assert Conversation.objects.get(api_key_prefix=bob.prefix, conversation_id="bob-chat").message_count == 2

    async def as_bob(session):
        return tool_json(await session.call_tool("search_interactions", {"query": "borrow checker error"}))

    assert [hit["prompt"] for hit in run_http(http_server, as_bob, key=bob_key)["interactions"]] == [
        "Explain the Rust borrow checker error E0499"
    ]


def test_http_a_key_bound_to_a_profile_stays_in_it_and_a_profile_that_stores_nothing_refuses_saves(http_server):
    from context.models import ContextPolicy, Conversation
    from routing.models import Profile

    work = Profile.objects.create(name="work", tiers="paid")
    Profile.objects.create(name="personal", tiers="free,paid")
    ContextPolicy.objects.create(profile="personal", store=False)
    _, work_key = key_create(name="work-agent", profile=work)
    _, free_key = key_create(name="free-agent")
    wait_for_key(http_server, work_key)  # edits reach the server's snapshots by their poll
    wait_for_key(http_server, free_key)

    async def as_work(session):
        saved = tool_json(await session.call_tool("save_interaction", {
            "conversation_id": "w-1", "user": "Summarise the incident", "assistant": "The cache expired."}))
        refused = tool_error(await session.call_tool("read_history", {"conversation_id": "w-1",
                                                                      "profile": "personal"}))
        return saved, refused

    saved, refused = run_http(http_server, as_work, key=work_key)
    assert saved["profile"] == "work"
    assert "only use the profile 'work', not 'personal'" in refused
    assert Conversation.objects.get(conversation_id="w-1").profile == "work"

    async def as_free(session):
        no_store = tool_error(await session.call_tool("save_interaction", {
            "conversation_id": "p-1", "user": "Remember my shopping list", "assistant": "Noted.",
            "profile": "personal"}))
        unknown = tool_error(await session.call_tool("save_interaction", {
            "conversation_id": "p-1", "user": "Remember my shopping list", "assistant": "Noted.",
            "profile": "holidays"}))
        return no_store, unknown

    no_store, unknown = run_http(http_server, as_free, key=free_key)
    assert "stores nothing" in no_store
    assert "Unknown profile 'holidays'; the profiles are personal, work." in unknown
    assert not Conversation.objects.filter(conversation_id="p-1").exists()
