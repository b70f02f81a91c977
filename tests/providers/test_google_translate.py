"""Gemini translation, pure: JSON Schema, requests, answers and stream events, tool call ids."""

from __future__ import annotations

import json

import pytest

from providers.google.ids import split_tool_call_id, tool_call_id
from providers.google.request import TranslationError, to_gemini_request
from providers.google.response import (
    BlockedPrompt,
    StreamTranslator,
    completion_from_gemini,
    finish_reason,
)
from providers.google.schema import SchemaError, to_gemini_schema
from providers.sse import SSEDecoder
from tests.fixture_files import WIRE

GEMINI = WIRE / "gemini"

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
}}


def recorded(name: str):
    return json.loads((GEMINI / name).read_text())


def request(messages, **extra) -> dict:
    return to_gemini_request({"model": "m", "messages": messages, **extra})


# --- JSON Schema → Gemini ---------------------------------------------------------------------------

def test_schema_drops_what_gemini_rejects_and_upper_cases_types():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#", "title": "Args", "type": "object",
        "additionalProperties": False, "default": {}, "examples": [{}],
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "format": "email", "minLength": 3},
            "count": {"type": "integer", "minimum": 0, "default": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 4},
        },
        "required": ["when", "ghost"],
    }
    assert to_gemini_schema(schema) == {
        "type": "OBJECT",
        "properties": {
            "when": {"type": "STRING", "format": "date-time"},
            "email": {"type": "STRING", "minLength": 3},
            "count": {"type": "INTEGER", "minimum": 0},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 4},
        },
        "required": ["when"],
    }


@pytest.mark.parametrize("nullable_form", [
    {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "maybe"},
    {"type": ["string", "null"], "description": "maybe"},
    {"type": "string", "nullable": True, "description": "maybe"},
])
def test_schema_nullable_forms(nullable_form):
    assert to_gemini_schema(nullable_form) == {"type": "STRING", "nullable": True, "description": "maybe"}


def test_schema_unions_refs_and_enums():
    schema = {
        "type": "object",
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}, "Level": {"enum": [1, 2, 3]}},
        "properties": {
            "unit": {"$ref": "#/$defs/Unit", "description": "temperature unit"},
            "level": {"allOf": [{"$ref": "#/$defs/Level"}], "description": "how loud"},
            "value": {"anyOf": [{"type": "number"}, {"type": "string"}]},
            "mode": {"const": "fast"},
        },
    }
    assert to_gemini_schema(schema)["properties"] == {
        "unit": {"type": "STRING", "enum": ["c", "f"], "description": "temperature unit"},
        "level": {"type": "INTEGER", "description": "how loud (one of: 1, 2, 3)"},
        "value": {"anyOf": [{"type": "NUMBER"}, {"type": "STRING"}]},
        "mode": {"type": "STRING", "enum": ["fast"]},
    }


def test_schema_recursive_ref_is_rejected_clearly():
    tree = {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}}}
    with pytest.raises(SchemaError, match="recursive"):
        to_gemini_schema(tree)
    with pytest.raises(SchemaError, match="not in its"):
        to_gemini_schema({"$ref": "https://example.com/schema.json"})


def test_recursive_tool_schema_is_an_unsupported_feature_so_another_provider_can_serve():
    tool = {"type": "function", "function": {"name": "t", "parameters": {"$ref": "#/$defs/A", "$defs": {
        "A": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}}}}}
    with pytest.raises(TranslationError) as caught:
        request([{"role": "user", "content": "hi"}], tools=[tool])
    assert caught.value.unsupported and "recursive" in caught.value.message


# --- requests ---------------------------------------------------------------------------------------

def test_recorded_simple_request_is_reproduced():
    got = request([{"role": "system", "content": "You are a chatbot."}, {"role": "user", "content": "Hello!"}])
    want = recorded("generate_content.recorded.request.json")
    assert got["contents"] == want["contents"]
    assert got["systemInstruction"]["parts"] == want["systemInstruction"]["parts"]


def test_recorded_function_call_requests_are_reproduced():
    tools = [
        {"type": "function", "function": {"name": "get_user_country",
                                          "parameters": {"type": "object", "properties": {}}}},
        {"type": "function", "function": {
            "name": "final_result", "description": "The final response which ends this conversation",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                           "required": ["city", "country"], "additionalProperties": False}}},
    ]
    question = {"role": "user", "content": "What is the largest city in the user country?"}
    first = request([question], tools=tools, tool_choice="required")
    want = recorded("generate_content_function_call.recorded.request.json")
    assert first["contents"] == want["contents"]
    assert first["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"
    assert _declarations(first) == _declarations(want)

    call_id = "pyd_ai_3fa5644dae1d4aad997ae39c70006fbd"
    second = request([
        question,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_user_country", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": '{"return_value": "Mexico"}'},
    ], tools=tools, tool_choice="required")
    assert second["contents"] == recorded("generate_content_after_function_response.recorded.request.json")["contents"]


def _declarations(body: dict) -> list[tuple]:
    return [(d["name"], d.get("description") or "", d.get("parameters"))
            for d in body["tools"][0]["functionDeclarations"]]


def test_roles_merge_and_parts_translate():
    got = request([
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
        {"role": "user", "content": "Look:"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?size=2"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        ]},
        {"role": "assistant", "content": "A cat."},
        {"role": "assistant", "content": [{"type": "text", "text": "Anything else?"}]},
    ])
    assert got["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]}
    assert got["contents"] == [
        {"role": "user", "parts": [
            {"text": "Look:"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?size=2"}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        ]},
        {"role": "model", "parts": [{"text": "A cat."}, {"text": "Anything else?"}]},
    ]


def test_tool_results_are_named_after_their_call_and_kept_as_objects():
    got = request([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 3}'},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "Thanks"},
    ], tools=[WEATHER_TOOL])
    assert got["contents"][1:] == [
        {"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_a"}},
            {"functionCall": {"name": "get_time", "args": {}, "id": "call_b"}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "call_a", "name": "get_weather", "response": {"temp": 3}}},
            {"functionResponse": {"id": "call_b", "name": "get_time", "response": {"content": "noon"}}},
            {"text": "Thanks"},
        ]},
    ]


def test_a_tool_result_for_an_unknown_call_is_the_clients_error():
    with pytest.raises(TranslationError) as caught:
        request([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_zzz", "content": "1"}])
    assert not caught.value.unsupported and "call_zzz" in caught.value.message


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
def test_tool_choice(choice, config):
    got = request([{"role": "user", "content": "x"}], tools=[WEATHER_TOOL], tool_choice=choice)
    assert got["toolConfig"] == {"functionCallingConfig": config}
    assert got["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
    }]}]


def test_allowed_tools_keeps_only_the_allowed_declarations():
    other = {"type": "function", "function": {"name": "other"}}
    got = request([{"role": "user", "content": "x"}], tools=[WEATHER_TOOL, other], tool_choice={
        "type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
            {"type": "function", "function": {"name": "other"}}]}})
    assert got["tools"] == [{"functionDeclarations": [{"name": "other"}]}]
    assert got["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_generation_config():
    got = request(
        [{"role": "user", "content": "x"}], temperature=0.2, top_p=0.9, max_tokens=10, max_completion_tokens=99,
        stop="END", n=2, seed=7, presence_penalty=0.5,
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": {
            "type": "object", "properties": {"ok": {"type": "boolean"}}, "additionalProperties": False}}},
    )
    assert got["generationConfig"] == {
        "temperature": 0.2, "topP": 0.9, "seed": 7, "presencePenalty": 0.5, "maxOutputTokens": 99,
        "stopSequences": ["END"], "candidateCount": 2, "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"ok": {"type": "BOOLEAN"}}},
    }
    json_mode = request([{"role": "user", "content": "x"}], response_format={"type": "json_object"}, stop=["a", "b"])
    assert json_mode["generationConfig"] == {"responseMimeType": "application/json", "stopSequences": ["a", "b"]}
    assert "generationConfig" not in request([{"role": "user", "content": "x"}], n=1)


@pytest.mark.parametrize(("extra", "feature"), [
    ({"logprobs": True}, "logprobs"),
    ({"modalities": ["text", "audio"]}, "audio output"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools of type 'custom'"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]}, "file_id"),
])
def test_unsupported_features_are_named(extra, feature):
    with pytest.raises(TranslationError) as caught:
        to_gemini_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **extra})
    assert caught.value.unsupported and feature in caught.value.message


# --- tool call ids ----------------------------------------------------------------------------------

def test_thought_signature_rides_in_the_tool_call_id_and_comes_back_on_its_part():
    events = SSEDecoder().feed((GEMINI / "stream_generate_content_function_call.recorded.sse").read_bytes())
    part = json.loads(events[0])["candidates"][0]["content"]["parts"][0]
    call_id = tool_call_id(None, part["thoughtSignature"])
    assert call_id.startswith("call_") and all(c.isalnum() or c in "_-" for c in call_id)
    base, signature = split_tool_call_id(call_id)
    assert signature == part["thoughtSignature"] and base.startswith("call_") and "__" not in base
    sent = request([
        {"role": "user", "content": "capital?"},
        {"role": "assistant", "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_country", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "France"},
    ])
    model_part = sent["contents"][1]["parts"][0]
    assert model_part == {"functionCall": {"name": "get_country", "args": {}, "id": base},
                          "thoughtSignature": part["thoughtSignature"]}
    assert sent["contents"][2]["parts"][0]["functionResponse"]["id"] == base


def test_signatures_from_googles_openai_layer_are_accepted_too():
    sent = request([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{
        "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"},
        "extra_content": {"google": {"thought_signature": "c2ln"}}}]}])
    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == "c2ln"


@pytest.mark.parametrize("foreign", ["call_ZR5UUuTt3pf61kjwAJIYdVMj", "toolu_01A09q90qw90lq917835lq9",
                                     "functions.get_weather:0", "abc__ts_!!"])
def test_foreign_ids_pass_through(foreign):
    assert split_tool_call_id(foreign) == (foreign, None)


def test_non_base64_signatures_survive_too():
    call_id = tool_call_id("fc-7", "not base64: ünïcode/+")
    assert call_id.startswith("fc-7__tx_")
    assert split_tool_call_id(call_id) == ("fc-7", "not base64: ünïcode/+")


# --- answers ----------------------------------------------------------------------------------------

def test_recorded_answer_becomes_an_openai_completion():
    got = completion_from_gemini(recorded("generate_content.recorded.json"), model="gemini-2.5-flash", created=7)
    assert got == {
        "id": "chatcmpl-bzlXaa_EE_aHqtsPi_zw8Ao", "object": "chat.completion", "created": 7,
        "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?",
                                             "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 43, "total_tokens": 52,
                  "prompt_tokens_details": {"cached_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 34}},
    }


def test_recorded_function_call_becomes_tool_calls():
    got = completion_from_gemini(recorded("generate_content_function_call_2.recorded.json"), model="x", created=1)
    [choice] = got["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "final_result", "arguments": '{"city":"Mexico City","country":"Mexico"}'}


def test_json_array_stream_elements_drop_thoughts_and_keep_signatures():
    translator = StreamTranslator(model="x", created=1)
    chunks = [c for event in recorded("stream_generate_content_json_array_function_call.recorded.json")
              for c in translator.feed(event)]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    assert not any("Pelican Names" in str(d) for d in deltas)  # the thought summary stays out
    head = deltas[1]["tool_calls"][0]
    assert head["function"] == {"name": "pelican_name_generator", "arguments": ""}
    assert split_tool_call_id(head["id"])[1].startswith("ClgBEU0yD8z3")
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and translator.complete
    assert translator.usage_chunk()["usage"]["completion_tokens"] == 12 + 42

    text = StreamTranslator(model="x", created=1)
    content = "".join(c["choices"][0]["delta"].get("content", "")
                      for event in recorded("stream_generate_content_json_array.recorded.json")
                      for c in text.feed(event))
    assert content == "Scoop"


@pytest.mark.parametrize(("gemini", "tools", "openai"), [
    ("STOP", False, "stop"), ("STOP", True, "tool_calls"), ("MAX_TOKENS", True, "length"),
    ("SAFETY", False, "content_filter"), ("RECITATION", False, "content_filter"),
    ("BLOCKLIST", False, "content_filter"), ("PROHIBITED_CONTENT", False, "content_filter"),
    ("SPII", False, "content_filter"), ("OTHER", False, "stop"),
])
def test_finish_reasons(gemini, tools, openai):
    assert finish_reason(gemini, tools) == openai


def test_blocked_prompt_and_empty_answers():
    with pytest.raises(BlockedPrompt) as caught:
        completion_from_gemini({"promptFeedback": {"blockReason": "SAFETY"}}, model="x", created=1)
    assert caught.value.reason == "SAFETY"
    with pytest.raises(ValueError):
        completion_from_gemini({"candidates": []}, model="x", created=1)
    safety = completion_from_gemini({"candidates": [{"finishReason": "SAFETY", "index": 0}]}, model="x", created=1)
    assert safety["choices"][0]["finish_reason"] == "content_filter"
    assert safety["choices"][0]["message"]["content"] is None


def test_cached_tokens_are_reported():
    usage = completion_from_gemini({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
                                    "usageMetadata": {"promptTokenCount": 100, "cachedContentTokenCount": 64,
                                                      "candidatesTokenCount": 1, "totalTokenCount": 101}},
                                   model="x", created=1)["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 64} and usage["total_tokens"] == 101
