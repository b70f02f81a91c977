"""Conformance: recorded Gemini API traffic replayed from a loopback server, through the real gateway.

The client is the official `openai` SDK and must see exactly OpenAI's shapes; the loopback must get
the request the recording was made with, with the key in `x-goog-api-key` (never in the URL).
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from providers.google.ids import split_tool_call_id
from providers.sse import SSEDecoder
from tests.conftest import MOCK_KEY, usage_rows
from tests.providers.scripted_upstream import Reply, ScriptedUpstream
from tests.providers.test_google_translate import GEMINI, recorded

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
QUESTION = {"role": "user", "content": "What is the largest city in the user country?"}
COUNTRY_TOOLS = [
    {"type": "function", "function": {"name": "get_user_country", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {
        "name": "final_result", "description": "The final response which ends this conversation",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                       "required": ["city", "country"], "additionalProperties": False}}},
]


@pytest.fixture
def gemini(gateway, routing):
    """A `gemini` provider on a loopback server; `gem-model` falls back to `backup-model`, `gem-alone` has none."""
    from routing.models import Model, ModelFallback, Provider

    server = ScriptedUpstream()
    provider = Provider.objects.create(name="gemtest", kind="gemini", base_url=server.url,
                                       api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=5)
    model = Model.objects.create(public_id="gem-model", provider=provider, upstream_name="gemini-2.5-flash",
                                 input_price_per_mtok=1, output_price_per_mtok=2, supports_vision=True)
    Model.objects.create(public_id="gem-alone", provider=provider, upstream_name="gemini-2.5-flash")
    ModelFallback.objects.create(model=model, fallback=routing.models["backup-model"], position=0)
    gateway.sync_config()
    yield server
    server.close()


def sse_reply(name: str, cut: int | None = None) -> Reply:
    """A recorded alt=sse body sent event by event (CRLF separators kept), optionally cut after `cut` bytes."""
    raw = (GEMINI / name).read_bytes()
    if cut is not None:
        raw = raw[:cut]
    events = raw.split(b"\r\n\r\n")
    parts = [event + b"\r\n\r\n" for event in events[:-1]] + ([events[-1]] if events[-1] else [])
    return Reply(parts=parts, content_type="text/event-stream")


def stream_chat(gateway, **body) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", timeout=15, json={
        "stream": True, "stream_options": {"include_usage": True}, **body})


def chunks_of(response: httpx.Response) -> list:
    events = SSEDecoder().feed(response.content)
    return [event if event == b"[DONE]" else json.loads(event) for event in events]


def test_recorded_answer(sdk, gemini):
    gemini.on(GENERATE, Reply(body=(GEMINI / "generate_content.recorded.json").read_bytes()))
    raw = sdk.chat.completions.with_raw_response.create(model="gem-model", messages=[
        {"role": "system", "content": "You are a chatbot."}, {"role": "user", "content": "Hello!"}])
    completion = raw.parse()
    assert completion.to_dict() == {
        "id": "chatcmpl-bzlXaa_EE_aHqtsPi_zw8Ao", "object": "chat.completion", "created": completion.created,
        "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?",
                                             "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 43, "total_tokens": 52,
                  "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 34}},
    }
    assert raw.headers["x-gateway-provider"] == "gemtest"
    [sent] = gemini.received
    assert sent.path == GENERATE and sent.query == {}
    assert sent.headers["x-goog-api-key"] == MOCK_KEY and "authorization" not in sent.headers
    want = recorded("generate_content.recorded.request.json")
    body = sent.json()
    assert body["contents"] == want["contents"]
    assert body["systemInstruction"]["parts"] == want["systemInstruction"]["parts"]
    [row] = usage_rows(1)
    assert (row.provider, row.upstream_model, row.prompt_tokens, row.completion_tokens, row.total_tokens) == (
        "gemtest", "gemini-2.5-flash", 9, 43, 52)


def test_recorded_function_call_then_function_response(sdk, gemini):
    gemini.on(GENERATE, Reply(body=(GEMINI / "generate_content_function_call.recorded.json").read_bytes()),
              Reply(body=(GEMINI / "generate_content_function_call_2.recorded.json").read_bytes()))
    first = sdk.chat.completions.create(model="gem-model", messages=[QUESTION], tools=COUNTRY_TOOLS,
                                        tool_choice="required")
    [choice] = first.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert (call.type, call.function.name, call.function.arguments) == ("function", "get_user_country", "{}")
    assert first.usage.prompt_tokens == 33 and first.usage.completion_tokens == 5

    # The recorded second turn was made by a client whose tool call id was `pyd_ai_...`: replay it as sent.
    call_id = "pyd_ai_3fa5644dae1d4aad997ae39c70006fbd"
    second = sdk.chat.completions.create(model="gem-model", tools=COUNTRY_TOOLS, tool_choice="required", messages=[
        QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_user_country", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": '{"return_value": "Mexico"}'},
    ])
    [call] = second.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"city": "Mexico City", "country": "Mexico"}
    first_sent, second_sent = (request.json() for request in gemini.received)
    for sent, name in ((first_sent, "generate_content_function_call.recorded.request.json"),
                       (second_sent, "generate_content_after_function_response.recorded.request.json")):
        want = recorded(name)
        assert sent["contents"] == want["contents"]
        assert sent["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"
        assert [(d["name"], d.get("parameters")) for d in sent["tools"][0]["functionDeclarations"]] == [
            (d["name"], d["parameters"]) for d in want["tools"][0]["functionDeclarations"]]


def test_recorded_stream_is_relayed_as_openai_chunks(gateway, gemini):
    gemini.on(STREAM, sse_reply("stream_generate_content_alt_sse.recorded.sse"))
    response = stream_chat(gateway, model="gem-model", temperature=0.0, messages=[
        {"role": "system", "content": "You are a helpful chatbot."},
        {"role": "user", "content": "What is the capital of France?"}])
    assert response.status_code == 200
    *chunks, done = chunks_of(response)
    assert done == b"[DONE]"
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-w1peaMz6INOvnvgPgYfPiQY"}
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["model"] for chunk in chunks} == {"gemini-2.0-flash-exp"}
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) if c["choices"] else c["usage"]
            for c in chunks] == [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"content": "The"}, None),
        ({"content": " capital of France"}, None),
        ({"content": " is Paris.\n"}, None),
        ({}, "stop"),
        {"prompt_tokens": 13, "completion_tokens": 8, "total_tokens": 21,
         "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
    ]
    [sent] = gemini.received
    assert sent.path == STREAM and sent.query == {"alt": ["sse"]}
    assert sent.headers["x-goog-api-key"] == MOCK_KEY
    want = recorded("stream_generate_content_alt_sse.recorded.request.json")
    assert sent.json()["contents"] == want["contents"]
    assert sent.json()["generationConfig"] == want["generationConfig"]
    assert sent.json()["systemInstruction"]["parts"] == want["systemInstruction"]["parts"]
    [row] = usage_rows(1)
    assert (row.status, row.prompt_tokens, row.completion_tokens) == ("ok", 13, 8)


def test_recorded_thinking_stream_counts_thoughts_and_the_sdk_reads_it(sdk, gemini):
    gemini.on(STREAM, sse_reply("stream_generate_content_alt_sse_thoughts.recorded.sse"))
    stream = sdk.chat.completions.create(model="gem-model", stream=True, stream_options={"include_usage": True},
                                         messages=[{"role": "user", "content": "Count to 30"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "\n".join(str(i) for i in range(1, 31))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (18, 80 + 35, 133)
    assert usage.completion_tokens_details.reasoning_tokens == 35


def test_recorded_function_call_stream_keeps_the_thought_signature_for_the_next_turn(sdk, gemini):
    gemini.on(STREAM, sse_reply("stream_generate_content_function_call.recorded.sse"))
    gemini.on(GENERATE, Reply(body=(GEMINI / "generate_content.recorded.json").read_bytes()))
    question = {"role": "user", "content": "What is the capital of the user country? Call the tool"}
    tool = {"type": "function", "function": {"name": "get_country", "description": "",
                                             "parameters": {"type": "object", "properties": {},
                                                            "additionalProperties": False}}}
    chunks = list(sdk.chat.completions.create(model="gem-model", stream=True, messages=[question], tools=[tool]))
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    head, arguments = calls
    assert (head.index, head.type, head.function.name, head.function.arguments) == (0, "function", "get_country", "")
    assert (arguments.index, arguments.id, arguments.function.arguments) == (0, None, "{}")
    streamed_sent = gemini.received[0].json()
    want = recorded("stream_generate_content_function_call.recorded.request.json")
    assert streamed_sent["contents"] == want["contents"]
    assert streamed_sent["tools"][0]["functionDeclarations"][0]["name"] == "get_country"

    sdk.chat.completions.create(model="gem-model", tools=[tool], messages=[
        question,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": head.id, "type": "function", "function": {"name": "get_country", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": head.id, "content": "France"},
    ])
    signature = json.loads(SSEDecoder().feed((GEMINI / "stream_generate_content_function_call.recorded.sse")
                                             .read_bytes())[0])["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    model_turn, result_turn = gemini.received[1].json()["contents"][1:]
    base, _ = split_tool_call_id(head.id)
    assert model_turn == {"role": "model", "parts": [
        {"functionCall": {"name": "get_country", "args": {}, "id": base}, "thoughtSignature": signature}]}
    assert result_turn["parts"] == [
        {"functionResponse": {"id": base, "name": "get_country", "response": {"content": "France"}}}]


@pytest.mark.parametrize(("fixture", "status", "error_class"), [
    ("error_404_not_found.json", 404, openai.NotFoundError),
])
def test_recorded_refusal_is_passed_on_without_fallback(sdk, gemini, fixture, status, error_class):
    gemini.on(GENERATE, Reply(status=status, body=(GEMINI / fixture).read_bytes()))
    with pytest.raises(error_class) as caught:
        sdk.chat.completions.create(model="gem-model", messages=[{"role": "user", "content": "hi"}])
    assert "is not found for API version v1beta" in caught.value.body["message"]
    assert caught.value.body["code"] == "NOT_FOUND"
    assert caught.value.response.headers["x-gateway-attempts"] == "1"


@pytest.mark.parametrize("fixture", ["error_429_resource_exhausted.json", "error_429_resource_exhausted_short.json"])
def test_recorded_rate_limit_falls_back_then_is_passed_on_alone(sdk, gemini, fixture):
    gemini.on(GENERATE, Reply(status=429, body=(GEMINI / fixture).read_bytes()))
    raw = sdk.chat.completions.with_raw_response.create(model="gem-model", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-provider"] == "mockai" and raw.headers["x-gateway-attempts"] == "2"
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gem-alone", messages=[{"role": "user", "content": "x"}])
    message = json.loads((GEMINI / fixture).read_text())["error"]["message"]
    assert message.strip() in caught.value.body["message"]


def test_blocked_prompt_is_a_400_naming_the_reason(sdk, gemini):
    gemini.on(GENERATE, Reply.json({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                                    "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gem-model", messages=[{"role": "user", "content": "x"}])
    assert "PROHIBITED_CONTENT" in caught.value.body["message"]
    assert caught.value.response.headers["x-gateway-attempts"] == "1"


def test_truncated_answer_is_an_openai_error_never_a_hang(sdk, gemini):
    body = (GEMINI / "generate_content.recorded.json").read_bytes()
    gemini.on(GENERATE, Reply(body=body[: len(body) // 2]))
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="gem-alone", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and "not valid JSON" in caught.value.body["message"]


@pytest.mark.parametrize(("cut", "code"), [
    (400, "upstream_bad_stream"),  # inside the second event
    (None, "upstream_stream_incomplete"),  # whole events, but no finishReason ever came
])
def test_stream_cut_short_ends_with_an_error_event_and_no_done(gateway, gemini, cut, code):
    raw = (GEMINI / "stream_generate_content_alt_sse.recorded.sse").read_bytes()
    if cut is None:
        cut = raw.rindex(b"data: ")  # drop the last (finishing) event entirely
    else:
        cut = raw.index(b"\r\n\r\n") + 4 + cut
    gemini.on(STREAM, sse_reply("stream_generate_content_alt_sse.recorded.sse", cut=cut))
    response = stream_chat(gateway, model="gem-model", messages=[{"role": "user", "content": "x"}])
    chunks = chunks_of(response)
    assert b"[DONE]" not in chunks
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["error"]["code"] == code
    [row] = usage_rows(1)
    assert row.status == "error"


def test_error_inside_a_200_stream_becomes_an_error_event(gateway, gemini):
    first = (GEMINI / "stream_generate_content_alt_sse.recorded.sse").read_bytes().split(b"\r\n\r\n")[0]
    error = (GEMINI / "error_429_resource_exhausted_short.json").read_bytes().replace(b"\n", b"")
    gemini.on(STREAM, Reply(parts=[first + b"\r\n\r\n", b"data: " + error + b"\r\n\r\n"],
                            content_type="text/event-stream"))
    chunks = chunks_of(stream_chat(gateway, model="gem-model", messages=[{"role": "user", "content": "x"}]))
    assert "Resource has been exhausted" in chunks[-1]["error"]["message"]
    assert b"[DONE]" not in chunks


def test_unsupported_feature_falls_back_before_any_network_call(sdk, gemini):
    raw = sdk.chat.completions.with_raw_response.create(
        model="gem-model", logprobs=True, messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-provider"] == "mockai" and gemini.received == []


def test_a_refused_api_key_is_the_gateways_problem_not_the_clients(sdk, gemini):
    # The Gemini API answers a bad key with 400 INVALID_ARGUMENT and an ErrorInfo reason (shape per Google's docs).
    gemini.on(GENERATE, Reply.json({"error": {
        "code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                     "domain": "googleapis.com"}]}}, status=400))
    raw = sdk.chat.completions.with_raw_response.create(model="gem-model", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-provider"] == "mockai"
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="gem-alone", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and "rejected the gateway's credentials" in caught.value.message


def test_retry_delay_becomes_retry_after(sdk, gemini):
    body = json.loads((GEMINI / "error_429_resource_exhausted.json").read_text())
    body["error"]["details"].append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36.5s"})
    gemini.on(GENERATE, Reply.json(body, status=429))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gem-alone", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "37"
