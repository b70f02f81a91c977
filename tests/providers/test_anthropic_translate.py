"""OpenAI ↔ Anthropic translation of whole requests and answers (pure functions, real recorded samples)."""

from __future__ import annotations

import json

import pytest

from providers.anthropic.errors import MalformedResponse, UnsupportedFeature
from providers.anthropic.translate_request import DEFAULT_MAX_TOKENS, JSON_INSTRUCTION, to_anthropic
from providers.anthropic.translate_response import openai_usage, to_openai_completion
from providers.base import Usage
from tests.providers.anthropic_loopback import ANTHROPIC, fixture_json

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
CITY_SCHEMA = fixture_json("messages_tool_use_response.recorded.request.json")["tools"][1]["input_schema"] \
    if ANTHROPIC.exists() else {}
COUNTRY_SCHEMA = {"additionalProperties": False, "properties": {}, "type": "object"}
PYDANTIC_TOOLS = [
    {"type": "function", "function": {"name": "get_user_country", "description": "", "parameters": COUNTRY_SCHEMA}},
    {"type": "function", "function": {"name": "final_result",
                                      "description": "The final response which ends this conversation",
                                      "parameters": CITY_SCHEMA}},
]
PELICAN_TOOL = [{"type": "function", "function": {"name": "pelican_name_generator", "description": "",
                                                   "parameters": {"properties": {}, "type": "object"}}}]

# The OpenAI request a client would send for each recorded Anthropic request.
RECORDED_REQUESTS = {
    "messages_response.recorded.request.json": {
        "messages": [{"role": "system", "content": "You are a helpful assistant.\n\n"},
                     {"role": "user", "content": "What is the capital of France?"}],
    },
    "messages_tool_use_response.recorded.request.json": {
        "messages": [{"role": "user", "content": "What is the largest city in the user country?"}],
        "tools": PYDANTIC_TOOLS, "tool_choice": "required",
    },
    "messages_after_tool_result.recorded.request.json": {
        "messages": [
            {"role": "user", "content": "What is the largest city in the user country?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "toolu_01X9wcHKKAZD9tBC711xipPa", "type": "function",
                "function": {"name": "get_user_country", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "toolu_01X9wcHKKAZD9tBC711xipPa", "content": "Mexico"},
        ],
        "tools": PYDANTIC_TOOLS, "tool_choice": "required",
    },
    "messages_stream_text.recorded.request.json": {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Two names for a pet pelican, be brief"}]}],
        "max_tokens": 8192, "temperature": 1.0, "stream": True,
    },
    "messages_stream_tool_use.recorded.request.json": {
        "messages": [{"role": "user", "content": "Two names for a pet pelican"}],
        "max_completion_tokens": 8192, "temperature": 1.0, "tools": PELICAN_TOOL, "stream": True,
    },
    "messages_stream_after_tool_result.recorded.request.json": {
        "messages": [
            {"role": "user", "content": "Two names for a pet pelican"},
            {"role": "assistant", "content": " ", "tool_calls": [
                {"id": "toolu_01LtHJmixrs9NcWQkK8hu8hj", "type": "function",
                 "function": {"name": "pelican_name_generator", "arguments": "{}"}},
                {"id": "toolu_01N8a4jWyf116qKTMqKKmjyt", "type": "function",
                 "function": {"name": "pelican_name_generator", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "toolu_01LtHJmixrs9NcWQkK8hu8hj", "content": "Charles"},
            {"role": "tool", "tool_call_id": "toolu_01N8a4jWyf116qKTMqKKmjyt", "content": "Sammy"},
        ],
        "max_tokens": 8192, "temperature": 1.0, "tools": PELICAN_TOOL, "stream": True,
    },
}
RECORDED_MODELS = {name: fixture_json(name)["model"] for name in RECORDED_REQUESTS} if ANTHROPIC.exists() else {}


def comparable(request: dict) -> dict:
    """What must match a recorded request: everything but defaults the recorders spelled out."""
    request = json.loads(json.dumps(request))
    if request.get("stream") is False:
        del request["stream"]
    for message in request["messages"]:
        for block in message["content"]:
            if block.get("type") == "tool_result" and block.get("is_error") is False:
                del block["is_error"]
    return request


@pytest.mark.parametrize("name", sorted(RECORDED_REQUESTS))
def test_request_translation_matches_the_recorded_anthropic_request(name):
    body = {"model": "gateway-model", **RECORDED_REQUESTS[name]}
    translated = to_anthropic(body, RECORDED_MODELS[name])
    assert comparable(translated.payload) == comparable(fixture_json(name))
    assert translated.json_tool is None


def test_system_developer_images_pdf_and_merging():
    body = {"model": "m", "user": "u-1", "stop": "END", "top_p": 0.5, "temperature": 1.7, "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        ]},
        {"role": "user", "content": "And quickly."},
    ]}
    payload = to_anthropic(body, "claude").payload
    assert payload["system"] == [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Use metric units."}]
    assert payload["max_tokens"] == DEFAULT_MAX_TOKENS
    assert payload["temperature"] == 1.0  # OpenAI allows up to 2, Anthropic up to 1
    assert (payload["top_p"], payload["stop_sequences"], payload["metadata"]) == (0.5, ["END"], {"user_id": "u-1"})
    [user] = payload["messages"]  # two user messages in a row become one
    assert user["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
         "title": "a.pdf"},
        {"type": "text", "text": "And quickly."},
    ]


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ({"type": "function", "function": {"name": "final_result"}}, None, {"type": "tool", "name": "final_result"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    (None, None, None),
])
def test_tool_choice(choice, parallel, expected):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": PYDANTIC_TOOLS,
            "tool_choice": choice, "parallel_tool_calls": parallel}
    assert to_anthropic(body, "claude").payload.get("tool_choice") == expected


def test_tool_results_with_parts_and_following_user_text_share_one_user_message():
    body = {"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": [1, 2]}'}}]},
        {"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": "one"}]},
        {"role": "user", "content": "now summarise"},
    ]}
    messages = to_anthropic(body, "claude").payload["messages"]
    assert messages[1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "a", "name": "f", "input": {"x": [1, 2]}}]}
    assert messages[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "one"}]},
        {"type": "text", "text": "now summarise"},
    ]}


def test_tool_ids_are_made_to_fit_anthropics_alphabet_on_both_sides():
    body = {"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [
            {"id": "functions.get_weather:0", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "ok"},
    ]}
    messages = to_anthropic(body, "claude").payload["messages"]
    assert messages[1]["content"][0]["id"] == messages[2]["content"][0]["tool_use_id"] == "functions_get_weather_0"


def test_image_jpg_is_named_as_anthropic_knows_it():
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ"}}]}]}
    block = to_anthropic(body, "claude").payload["messages"][0]["content"][0]
    assert block["source"] == {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}


def test_json_object_adds_an_instruction_and_json_schema_forces_a_tool():
    base = {"model": "m", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]}
    payload = to_anthropic({**base, "response_format": {"type": "json_object"}}, "claude").payload
    assert payload["system"] == [{"type": "text", "text": "S"}, {"type": "text", "text": JSON_INSTRUCTION}]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    translated = to_anthropic(
        {**base, "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}}, "c"
    )
    assert translated.json_tool == "city"
    assert translated.payload["tools"][0]["input_schema"] == schema
    assert translated.payload["tool_choice"] == {"type": "tool", "name": "city"}


@pytest.mark.parametrize(("extra", "feature"), [
    ({"n": 2}, "n > 1"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 3}, "logprobs"),
    ({"modalities": ["text", "audio"]}, "audio output"),
    ({"functions": [{"name": "f"}]}, "legacy"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools of type 'custom'"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}]},
     "audio input"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
     "image URLs"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]}, "file_id"),
    ({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}, "JSON object"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
      "tools": PELICAN_TOOL}, "together with tools"),
    ({"messages": [{"role": "system", "content": "Only a system prompt"}]}, "without user or assistant"),
])
def test_unsupported_features_are_named(extra, feature):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(UnsupportedFeature) as caught:
        to_anthropic(body, "claude")
    assert feature in caught.value.feature


def test_gateway_and_openai_only_fields_never_reach_anthropic():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "role": "architect",
            "conversation_id": "c", "profile": "work", "seed": 1, "presence_penalty": 1, "logit_bias": {"1": 2},
            "stream_options": {"include_usage": True}, "store": True, "metadata": {"a": "b"}, "n": 1}
    assert set(to_anthropic(body, "claude").payload) == {"model", "max_tokens", "messages"}


def test_recorded_text_answer_becomes_an_openai_completion():
    completion = to_openai_completion(fixture_json("messages_response.recorded.json"), created=1700000000)
    assert completion == {
        "id": "msg_01Fg1JVgvCYUHWsxrj9GkpEv", "object": "chat.completion", "created": 1700000000,
        "model": "claude-3-opus-20240229",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "The capital of France is Paris.",
                                             "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    }


@pytest.mark.parametrize(("name", "call_id", "function"), [
    ("messages_tool_use_response.recorded.json", "toolu_01X9wcHKKAZD9tBC711xipPa",
     {"name": "get_user_country", "arguments": "{}"}),
    ("messages_tool_use_response_2.recorded.json", "toolu_01LZABsgreMefH2Go8D5PQbW",
     {"name": "final_result", "arguments": '{"city":"Mexico City","country":"Mexico"}'}),
])
def test_recorded_tool_use_answers_become_tool_calls(name, call_id, function):
    choice = to_openai_completion(fixture_json(name), created=1)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {"role": "assistant", "content": None, "refusal": None,
                                 "tool_calls": [{"id": call_id, "type": "function", "function": function}]}


def test_json_schema_tool_answer_becomes_content():
    message = {**fixture_json("messages_tool_use_response_2.recorded.json")}
    choice = to_openai_completion(message, created=1, json_tool="final_result")["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert json.loads(choice["message"]["content"]) == {"city": "Mexico City", "country": "Mexico"}
    assert "tool_calls" not in choice["message"]


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"),
])
def test_stop_reasons(stop_reason, finish):
    message = {**fixture_json("messages_response.recorded.json"), "stop_reason": stop_reason}
    assert to_openai_completion(message, created=1)["choices"][0]["finish_reason"] == finish


def test_cache_tokens_count_as_prompt_tokens_and_reads_as_cached():
    usage = {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}
    assert openai_usage(usage) == {"prompt_tokens": 115, "completion_tokens": 7, "total_tokens": 122,
                                   "prompt_tokens_details": {"cached_tokens": 100}, "cache_creation_input_tokens": 5}
    counted = Usage.from_openai(openai_usage(usage))
    assert (counted.prompt_tokens, counted.cached_tokens, counted.cache_creation_tokens) == (115, 100, 5)


@pytest.mark.parametrize("answer", [None, [], {"type": "error"}, {"type": "message", "content": "text"},
                                    {"type": "message", "content": ["x"]}])
def test_malformed_answers_are_rejected(answer):
    with pytest.raises(MalformedResponse):
        to_openai_completion(answer, created=1)
