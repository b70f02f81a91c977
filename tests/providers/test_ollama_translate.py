"""Ollama native translation, pure: OpenAI requests → `/api/chat`, answers and NDJSON lines → OpenAI."""

from __future__ import annotations

import json
import re

import pytest

from providers.ollama.provider import ollama_error, ollama_root
from providers.ollama.translate import (
    StreamTranslator,
    TranslationError,
    completion_from_ollama,
    to_ollama_request,
)
from tests.fixture_files import WIRE

OLLAMA = WIRE / "ollama"


def docs_examples() -> dict[str, dict]:
    """The official `/api/chat` examples (docs/api.md): each section's request and response objects."""
    text = (OLLAMA / "docs_api_chat_examples.md").read_text()
    examples = {}
    for section in re.split(r"^#### ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        request = re.search(r"-d '(\{.*?\})'", section, re.S)
        responses = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]
        examples[title] = {"request": json.loads(request.group(1)) if request else None, "responses": responses}
    return examples


def fixture_lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (OLLAMA / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("title", ["Chat request (No streaming)", "Chat request (No streaming, with tools)",
                                   "Chat request (Streaming with tools)"])
def test_documented_requests_are_reproduced(title):
    documented = docs_examples()[title]["request"]
    openai_body = {"model": "public-id", "messages": documented["messages"]}
    if "tools" in documented:
        openai_body["tools"] = documented["tools"]
    stream = documented.get("stream", True)
    got = to_ollama_request(openai_body, documented["model"], stream=stream)
    assert got == {**documented, "stream": stream}


def test_messages_options_and_format():
    got = to_ollama_request({
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"zoom": 2}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
        "temperature": 0.3, "top_p": 0.8, "max_tokens": 50, "stop": "END", "seed": 1, "frequency_penalty": 0.1,
        "response_format": {"type": "json_object"},
    }, "llava", stream=False)
    assert got == {
        "model": "llava", "stream": False, "format": "json",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is this?", "images": ["iVBORw0KGgo="]},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "look", "arguments": {"zoom": 2}}, "id": "call_1"}]},
            {"role": "tool", "content": "a cat", "tool_name": "look", "tool_call_id": "call_1"},
        ],
        "options": {"temperature": 0.3, "top_p": 0.8, "seed": 1, "frequency_penalty": 0.1, "num_predict": 50,
                    "stop": ["END"]},
    }
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    structured = to_ollama_request({"messages": [], "response_format": {
        "type": "json_schema", "json_schema": {"name": "r", "schema": schema}}}, "m", stream=True)
    assert structured["format"] == schema
    assert "tools" not in to_ollama_request({"messages": [], "tool_choice": "none", "tools": [
        {"type": "function", "function": {"name": "x"}}]}, "m", stream=True)


@pytest.mark.parametrize(("extra", "feature"), [
    ({"n": 2}, "n>1"),
    ({"logprobs": True}, "logprobs"),
    ({"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "x"}}]}, "tool_choice"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}, "image URLs"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}]},
     "'input_audio' content parts"),
])
def test_unsupported_features_are_named(extra, feature):
    with pytest.raises(TranslationError) as caught:
        to_ollama_request({"messages": [{"role": "user", "content": "x"}], **extra}, "m", stream=False)
    assert caught.value.unsupported and feature in caught.value.message


def test_recorded_answer_becomes_an_openai_completion():
    data = json.loads((OLLAMA / "api_chat_response.recorded.json").read_text())
    got = completion_from_ollama(data, model="x", created=5)
    assert got["id"].startswith("chatcmpl-")
    assert {key: value for key, value in got.items() if key != "id"} == {
        "object": "chat.completion", "created": 5, "model": "granite3.3:8b",
        "choices": [{"index": 0, "message": {
            "role": "assistant", "content": "Understood. If you ask for the secret word, I will respond with RABBIT.",
            "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 44, "completion_tokens": 20, "total_tokens": 64},
    }


def test_documented_tool_call_answer_gets_openai_ids():
    [answer] = docs_examples()["Chat request (No streaming, with tools)"]["responses"]
    got = completion_from_ollama(answer, model="x", created=5)
    [choice] = got["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Tokyo"}'}


def test_captured_stream_lines_become_chunks():
    translator = StreamTranslator(model="x", created=5)
    chunks = [c for line in fixture_lines("api_chat_stream_excerpt.captured.ndjson") for c in translator.feed(line)]
    assert translator.done and len({c["id"] for c in chunks}) == 1
    assert [c["choices"][0] if c["choices"] else c["usage"] for c in chunks] == [
        {"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None,
         "finish_reason": None},
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"},
        {"prompt_tokens": 15, "completion_tokens": 20, "total_tokens": 35},
    ]
    assert {c["model"] for c in chunks} == {"qwen3:32b"}


def test_base_url_and_error_helpers():
    assert ollama_root("http://localhost:11434/v1") == "http://localhost:11434"
    assert ollama_root("http://gpu:11434/api/") == "http://gpu:11434"
    assert ollama_error(b'{"error":"model \'x\' not found"}') == "model 'x' not found"
    assert ollama_error(b"<html>bad gateway</html>") == "<html>bad gateway</html>"
