"""Conformance: Ollama's native API replayed from a loopback server, through the real gateway.

Bodies come from real captures and the official docs (shared/fixtures/wire/ollama); the client is the
`openai` SDK and must see OpenAI's shapes; the loopback must receive a native `/api/chat` request.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from providers.sse import SSEDecoder
from tests.conftest import usage_rows
from tests.providers.scripted_upstream import Reply, ScriptedUpstream
from tests.providers.test_ollama_translate import OLLAMA, docs_examples

WEATHER = "what is the weather in tokyo?"


@pytest.fixture
def ollama(gateway, routing):
    """An `ollama` provider (no key) on a loopback server; `llama-local` falls back to `backup-model`."""
    from routing.models import Model, ModelFallback, Provider

    server = ScriptedUpstream()
    provider = Provider.objects.create(name="ollamatest", kind="ollama", base_url=f"{server.url}/v1",
                                       api_key_env="", tier="free", timeout_seconds=5)
    model = Model.objects.create(public_id="llama-local", provider=provider, upstream_name="llama3.2",
                                 supports_vision=True)
    Model.objects.create(public_id="llama-alone", provider=provider, upstream_name="llama3.2")
    ModelFallback.objects.create(model=model, fallback=routing.models["backup-model"], position=0)
    gateway.sync_config()
    yield server
    server.close()


def ndjson(objects: list[dict]) -> Reply:
    """One compact JSON object per line, each written (and flushed) on its own."""
    return Reply(parts=[json.dumps(obj).encode() + b"\n" for obj in objects], content_type="application/x-ndjson")


def lines(name: str) -> list[bytes]:
    return [line + b"\n" for line in (OLLAMA / name).read_bytes().splitlines() if line.strip()]


def stream_chat(gateway, **body) -> list:
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=15, json={
        "stream": True, "stream_options": {"include_usage": True}, **body})
    assert response.status_code == 200
    return [e if e == b"[DONE]" else json.loads(e) for e in SSEDecoder().feed(response.content)]


def test_recorded_answer(sdk, ollama):
    ollama.on("/api/chat", Reply(body=(OLLAMA / "api_chat_response.recorded.json").read_bytes()))
    raw = sdk.chat.completions.with_raw_response.create(
        model="llama-local", temperature=0.2, max_tokens=64, seed=3,
        messages=[{"role": "system", "content": "The secret word is RABBIT."}, {"role": "user", "content": "Ok?"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == (
        "Understood. If you ask for the secret word, I will respond with RABBIT.")
    assert completion.choices[0].finish_reason == "stop" and completion.model == "granite3.3:8b"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        44, 20, 64)
    assert raw.headers["x-gateway-provider"] == "ollamatest"
    [sent] = ollama.received
    assert sent.path == "/api/chat" and "authorization" not in sent.headers
    assert sent.json() == {
        "model": "llama3.2", "stream": False,
        "messages": [{"role": "system", "content": "The secret word is RABBIT."}, {"role": "user", "content": "Ok?"}],
        "options": {"temperature": 0.2, "seed": 3, "num_predict": 64},
    }
    [row] = usage_rows(1)
    assert (row.provider, row.upstream_model, row.prompt_tokens, row.completion_tokens) == (
        "ollamatest", "granite3.3:8b", 44, 20)


def test_documented_tool_call_answer(sdk, ollama):
    example = docs_examples()["Chat request (No streaming, with tools)"]
    ollama.on("/api/chat", Reply.json(example["responses"][0]))
    completion = sdk.chat.completions.create(model="llama-local", messages=example["request"]["messages"],
                                             tools=example["request"]["tools"])
    [call] = completion.choices[0].message.tool_calls
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Tokyo"}
    sent = ollama.received[0].json()
    assert sent["tools"] == example["request"]["tools"] and sent["messages"] == example["request"]["messages"]


def test_documented_stream(gateway, ollama):
    ollama.on("/api/chat", ndjson(docs_examples()["Chat request (Streaming)"]["responses"]))
    *chunks, done = stream_chat(gateway, model="llama-local", messages=[{"role": "user", "content": "why?"}])
    assert done == b"[DONE]" and len({c["id"] for c in chunks}) == 1
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) if c["choices"] else c["usage"]
            for c in chunks] == [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"content": "The"}, None),
        ({}, "stop"),
        {"prompt_tokens": 26, "completion_tokens": 282, "total_tokens": 308},
    ]
    assert ollama.received[0].json()["stream"] is True


def test_documented_tool_call_stream_through_the_sdk(sdk, ollama):
    example = docs_examples()["Chat request (Streaming with tools)"]
    ollama.on("/api/chat", ndjson(example["responses"]))
    chunks = list(sdk.chat.completions.create(model="llama-local", stream=True, stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": WEATHER}],
                                              tools=example["request"]["tools"]))
    head, arguments = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
    assert head.id.startswith("call_") and head.function.name == "get_weather" and head.function.arguments == ""
    assert json.loads(arguments.function.arguments) == {"city": "Tokyo"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.total_tokens == 169 + 15


def test_captured_stream_that_only_thought(gateway, ollama):
    ollama.on("/api/chat", Reply(parts=lines("api_chat_stream_excerpt.captured.ndjson"),
                                 content_type="application/x-ndjson"))
    *chunks, done = stream_chat(gateway, model="llama-local", messages=[{"role": "user", "content": "hello"}])
    assert done == b"[DONE]"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, "length"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 15, "completion_tokens": 20, "total_tokens": 35}


def test_captured_model_not_found_is_a_404_without_fallback(sdk, ollama):
    ollama.on("/api/chat", Reply(status=404, body=(OLLAMA / "error_404_model_not_found.captured.json").read_bytes()))
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="llama-local", messages=[{"role": "user", "content": "x"}])
    assert "model 'nonexistent-model-12345' not found" in caught.value.body["message"]
    assert caught.value.response.headers["x-gateway-attempts"] == "1"


def test_documented_server_error_falls_back(sdk, ollama):
    ollama.on("/api/chat", Reply(status=500, body=(OLLAMA / "error.docs.json").read_bytes()))
    raw = sdk.chat.completions.with_raw_response.create(model="llama-local",
                                                        messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-provider"] == "mockai" and raw.headers["x-gateway-attempts"] == "2"
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="llama-alone", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and "the model failed to generate a response" in caught.value.message


def test_error_line_inside_a_200_stream_becomes_an_error_event(gateway, ollama):
    error = lines("api_generate_stream_midstream_error.docs.ndjson")[-1]
    ollama.on("/api/chat", Reply(parts=lines("api_chat_stream_excerpt.captured.ndjson")[:2] + [error],
                                 content_type="application/x-ndjson"))
    chunks = stream_chat(gateway, model="llama-local", messages=[{"role": "user", "content": "x"}])
    assert b"[DONE]" not in chunks
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "an error was encountered while running the model" in chunks[-1]["error"]["message"]
    [row] = usage_rows(1)
    assert row.status == "error"


@pytest.mark.parametrize(("tail", "code"), [
    (b"", "upstream_stream_incomplete"),  # the body ends without the `done: true` object
    (b'{"model":"llama3.2","message":{"role":"assis', "upstream_bad_stream"),  # cut inside a line
])
def test_stream_cut_short_ends_with_an_error_event(gateway, ollama, tail, code):
    first = docs_examples()["Chat request (Streaming)"]["responses"][0]
    ollama.on("/api/chat", Reply(parts=[json.dumps(first).encode() + b"\n", tail], content_type="application/x-ndjson"))
    chunks = stream_chat(gateway, model="llama-local", messages=[{"role": "user", "content": "x"}])
    assert b"[DONE]" not in chunks and chunks[-1]["error"]["code"] == code


def test_truncated_answer_is_an_openai_error(sdk, ollama):
    body = (OLLAMA / "api_chat_response.recorded.json").read_bytes()
    ollama.on("/api/chat", Reply(body=body[:100]))
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="llama-alone", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and "not valid JSON" in caught.value.message
