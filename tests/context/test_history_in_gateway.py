"""Conversation history through the real gateway, as the upstream receives it.

A client that sends a `conversation_id` and only its latest turn gets the stored conversation prepended, within
the chosen model's window; a client that sends the whole conversation (every coding agent) gets nothing added, and
the gateway only stores it. Exchanges are saved off the response path, in batches.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from core import tokens
from tests.conftest import usage_rows


def chat(gateway, messages, *, model="fast-model", expect=200, **fields) -> httpx.Response:
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                          json={"model": model, "messages": messages, **fields})
    assert response.status_code == expect, response.text
    return response


def sent(upstream, index: int = -1) -> list[dict]:
    return upstream.stats()["log"][index]["body"]["messages"]


def stored(conversation_id: str, count: int, timeout: float = 5.0) -> list[dict]:
    """The stored messages of a conversation, once it has `count` of them (the writer batches)."""
    import orjson

    from context.models import Message

    deadline = time.monotonic() + timeout
    while True:
        rows = list(Message.objects.filter(conversation__conversation_id=conversation_id).order_by("position")
                    .values_list("payload", flat=True))
        if len(rows) >= count or time.monotonic() > deadline:
            return [orjson.loads(row) for row in rows]
        time.sleep(0.02)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def answer(text: str) -> dict:
    return {"role": "assistant", "content": f"mock reply to: {text}"}


@pytest.fixture
def conversation() -> str:
    return f"conv-{uuid.uuid4().hex[:12]}"


def test_three_turns_sent_one_at_a_time_reach_the_upstream_with_the_history(gateway, upstream, conversation):
    turns = ["My name is Ada and my project is called Lighthouse.", "Which database should Lighthouse use?",
             "Summarise what we said so far."]
    for index, text in enumerate(turns):
        response = chat(gateway, [user(text)], conversation_id=conversation)
        history = [message for t in turns[:index] for message in (user(t), answer(t))]
        assert sent(upstream) == [*history, user(text)]  # the next turn did not wait for the batch
        if history:
            assert response.headers["x-gateway-context"] == f"history={len(history)}/{len(history)}; similar=0"
        else:
            assert "x-gateway-context" not in response.headers  # nothing stored yet, nothing added
    assert stored(conversation, 6) == [message for t in turns for message in (user(t), answer(t))]


def test_the_conversation_id_header_works_too_and_a_system_prompt_stays_first(gateway, upstream, conversation):
    headers = {"x-conversation-id": conversation}
    system = {"role": "system", "content": "Be brief."}
    httpx.post(f"{gateway.base_url}/chat/completions", headers=headers, timeout=10,
               json={"model": "fast-model", "messages": [system, user("first")]}).raise_for_status()
    httpx.post(f"{gateway.base_url}/chat/completions", headers=headers, timeout=10,
               json={"model": "fast-model", "messages": [system, user("second")]}).raise_for_status()
    assert sent(upstream) == [system, user("first"), answer("first"), user("second")]


def test_a_client_sending_the_whole_conversation_gets_nothing_duplicated(gateway, upstream, conversation):
    messages = [{"role": "system", "content": "You are terse."}, user("one")]
    for text in ("two", "three"):
        chat(gateway, messages, conversation_id=conversation)
        assert sent(upstream) == messages  # exactly what the client sent
        messages = [*messages, answer(messages[-1]["content"]), user(text)]
    chat(gateway, messages, conversation_id=conversation)
    assert sent(upstream) == messages
    expected = [*messages[1:], answer("three")]  # the system prompt is the client's, not history
    assert stored(conversation, len(expected)) == expected
    time.sleep(0.3)
    assert len(stored(conversation, len(expected))) == len(expected)  # each message once


def test_history_is_cut_oldest_turns_first_to_fit_a_small_window(gateway, upstream, routing, conversation):
    from routing.models import Model

    Model.objects.create(public_id="small-model", provider=routing.paid, upstream_name="small-upstream",
                         context_window=2000)
    gateway.sync_config()
    turns = [f"Turn {i}: " + " ".join(f"word{i}x{j}" for j in range(60)) for i in range(12)]
    for text in turns:
        chat(gateway, [user(text)], conversation_id=conversation)
    stored(conversation, 2 * len(turns))
    latest = user("And now the question that matters.")
    response = chat(gateway, [latest], model="small-model", max_tokens=300, conversation_id=conversation)
    received = sent(upstream)
    full = [message for t in turns for message in (user(t), answer(t))]
    kept = received[:-1]
    assert received[-1] == latest
    assert 0 < len(kept) < len(full) and kept == full[len(full) - len(kept):]  # the newest turns, whole
    assert kept[0]["role"] == "user"
    assert tokens.count_message_tokens(received) + 300 <= 2000
    assert response.headers["x-gateway-context"] == f"history={len(kept)}/{len(full)}; similar=0"


def test_a_fallback_with_a_smaller_window_gets_a_shorter_history(gateway, upstream, routing, conversation):
    from routing.models import Model, ModelFallback

    big = Model.objects.create(public_id="big-model", provider=routing.paid, upstream_name="big-upstream",
                               context_window=200000)
    small = Model.objects.create(public_id="smaller-model", provider=routing.paid, upstream_name="smaller-upstream",
                                 context_window=1500)
    ModelFallback.objects.create(model=big, fallback=small, position=0)
    gateway.sync_config()
    turns = [f"Note {i}: " + " ".join(f"fact{i}y{j}" for j in range(40)) for i in range(10)]
    for text in turns:
        chat(gateway, [user(text)], conversation_id=conversation)
    stored(conversation, 2 * len(turns))
    upstream.configure(models={"big-upstream": {"status": 503}})
    chat(gateway, [user("What did I note?")], model="big-model", max_tokens=200, conversation_id=conversation)
    first, second = sent(upstream, -2), sent(upstream, -1)
    assert upstream.stats()["log"][-2]["body"]["model"] == "big-upstream"
    assert upstream.stats()["log"][-1]["body"]["model"] == "smaller-upstream"
    assert len(first) == 2 * len(turns) + 1  # all of it fits the big window
    assert 1 < len(second) < len(first) and second == first[len(first) - len(second):]


def test_a_candidate_whose_window_cannot_hold_the_request_is_skipped_with_the_reason(gateway, upstream, routing):
    from routing.models import Model, ModelFallback

    tiny = Model.objects.create(public_id="tiny-model", provider=routing.paid, upstream_name="tiny-upstream",
                                context_window=500)
    ModelFallback.objects.create(model=tiny, fallback=routing.models["fast-model"], position=0)
    gateway.sync_config()
    long_prompt = user("Please read this log. " + "ERROR worker timeout on shard 7; " * 200)
    response = chat(gateway, [long_prompt], model="tiny-model")
    assert upstream.stats()["by_model"] == {"fast-upstream": 1}  # tiny was never called
    [row] = usage_rows(1, request_id=response.headers["x-request-id"])
    skipped, served = row.attempt_log
    assert skipped["model"] == "tiny-model" and skipped["skipped"] == "context_window_exceeded"
    assert "context window of 500 tokens" in skipped["error"]
    assert served["model"] == "fast-model" and served["status"] == 200
    assert response.headers["x-gateway-attempts"] == "1"  # requests sent upstream: the skipped one was not


def test_when_no_candidate_can_hold_the_request_the_client_gets_a_400_naming_the_window(gateway, upstream, routing):
    from routing.models import Model

    Model.objects.create(public_id="tiny-model", provider=routing.paid, upstream_name="tiny-upstream",
                         context_window=500)
    gateway.sync_config()
    response = chat(gateway, [user("word " * 3000)], model="tiny-model", expect=400)
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "context window of 500 tokens" in error["message"]
    assert upstream.stats()["requests"] == 0


def test_an_agents_max_tokens_no_window_holds_is_lowered_to_fit_and_said(gateway, upstream, routing):
    """Claude Code asks for max_tokens 128000: a 16k-window model still serves it, with the limit lowered."""
    from routing.models import Model

    Model.objects.create(public_id="small-window", provider=routing.paid, upstream_name="small-upstream",
                         context_window=16000)
    gateway.sync_config()
    response = chat(gateway, [user("Summarise: " + "the build failed on shard 7. " * 50)], model="small-window",
                    max_tokens=128000)
    lowered = upstream.stats()["log"][-1]["body"]["max_tokens"]
    assert 1024 <= lowered < 16000 - 300  # the window minus the prompt and the safety margin
    assert response.headers["x-gateway-output-limit"] == (
        f"max_tokens lowered to {lowered} to fit small-window's 16000-token window")


def test_a_candidate_that_holds_the_whole_request_is_preferred_to_lowering_the_limit(gateway, upstream, routing):
    from routing.models import Model, ModelFallback

    small = Model.objects.create(public_id="small-window", provider=routing.paid, upstream_name="small-upstream",
                                 context_window=16000)
    ModelFallback.objects.create(model=small, fallback=routing.models["fast-model"], position=0)  # 128k window
    gateway.sync_config()
    response = chat(gateway, [user("Hello")], model="small-window", max_tokens=100000)
    assert upstream.stats()["by_model"] == {"fast-upstream": 1}
    assert upstream.stats()["log"][-1]["body"]["max_tokens"] == 100000
    assert "x-gateway-output-limit" not in response.headers


def test_a_streamed_answer_with_tool_calls_is_stored_assembled(gateway, upstream, conversation):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", timeout=10, json={
            "model": "fast-model", "stream": True, "tools": tools, "conversation_id": conversation,
            "messages": [user("Weather in Paris?")]}) as response:
        assert response.status_code == 200
        response.read()
    saved = stored(conversation, 2)
    assert saved[0] == user("Weather in Paris?")
    assert saved[1]["role"] == "assistant"
    [call] = saved[1]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"test"}'}


def test_a_profile_that_stores_nothing_stores_nothing(gateway, upstream, conversation):
    from context.models import ContextPolicy, Conversation

    ContextPolicy.objects.create(profile="work", store=False, history=False, similar=False)
    time.sleep(0.3)  # the policy snapshot polls the version every ROUTING_REFRESH_SECONDS
    chat(gateway, [user("secret work question")], conversation_id=conversation, profile="work")
    chat(gateway, [user("another")], conversation_id=conversation, profile="work")
    assert sent(upstream) == [user("another")]
    chat(gateway, [user("personal question")], conversation_id=f"{conversation}-p", profile="personal")
    stored(f"{conversation}-p", 2)
    assert not Conversation.objects.filter(conversation_id=conversation).exists()


def test_a_rewound_conversation_replaces_the_stored_tail(gateway, upstream, conversation):
    messages = [user("one"), answer("one"), user("two")]
    chat(gateway, messages, conversation_id=conversation)
    stored(conversation, 4)
    edited = [user("one"), answer("one"), user("two, but asked differently")]  # the client edited its last turn
    chat(gateway, edited, conversation_id=conversation)
    assert sent(upstream) == edited
    deadline = time.monotonic() + 5
    while stored(conversation, 4)[-1] != answer("two, but asked differently") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored(conversation, 4) == [*edited, answer("two, but asked differently")]


def test_v1_messages_with_a_conversation_id_gets_the_history_too(gateway, upstream, conversation):
    for text in ("Remember the code word TANGERINE.", "What was the code word?"):
        response = httpx.post(f"{gateway.url}/v1/messages", timeout=10,
                              headers={"anthropic-version": "2023-06-01", "x-conversation-id": conversation},
                              json={"model": "fast-model", "max_tokens": 200, "system": "Be brief.",
                                    "messages": [{"role": "user", "content": text}]})
        assert response.status_code == 200, response.text
    messages = sent(upstream)
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert "TANGERINE" in str(messages[1]["content"]) and "mock reply to" in str(messages[2]["content"])
