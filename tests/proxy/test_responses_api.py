"""`POST /v1/responses`: the official `openai` SDK's `client.responses` through the real gateway.

Behind it the OpenAI-speaking mock upstream (`smart-model`, `fast-model`, ...) or a loopback
Anthropic server replaying recordings. The translation itself is checked on Codex's recorded requests.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import OpenAI
from pydantic import BaseModel

from core.errors import InvalidRequest
from proxy.fronts.responses.stream import ResponseStreamBuilder
from proxy.fronts.responses.translate_request import to_chat_request
from proxy.fronts.responses.translate_response import ResponseEnvelope, to_response
from tests.conftest import dedicated_gateway, usage_rows
from tests.fixture_files import FIXTURES
from tests.providers.anthropic_loopback import AnthropicLoopback
from tests.providers.scripted_upstream import Reply, ScriptedUpstream

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city", "strict": True,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}}


def codex_request(n: int) -> dict:
    return json.loads((FIXTURES / "agents" / f"codex_0.171.0_{n}.request.json").read_text())["body"]


def sse(body: bytes) -> list[dict]:
    return [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]


# --- translation (pure) -----------------------------------------------------------------------------------


def test_codex_tool_round_becomes_a_chat_request():
    body = codex_request(2)  # gpt-5-codex, turn 2: history with function_call and function_call_output
    body["tools"] = [t for t in body["tools"] if t["type"] != "web_search"]
    chat = to_chat_request(body).chat
    assert chat["model"] == "gpt-5-codex" and chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    assert chat["conversation_id"] == body["prompt_cache_key"]  # Codex's session id groups the usage rows
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True
    names = [tool["function"]["name"] for tool in chat["tools"]]
    assert names[0] == "exec_command" and "close_agent" in names  # namespace members become functions
    roles = [message["role"] for message in chat["messages"]]
    assert roles[:2] == ["system", "system"] and roles[-2:] == ["assistant", "tool"]
    call, output = chat["messages"][-2:]
    assert call["tool_calls"] == [{"id": "call_rec_499cb7132ca241c3", "type": "function", "function": {
        "name": "exec_command", "arguments": '{"cmd": "cat hello.txt"}'}}]
    assert output["tool_call_id"] == "call_rec_499cb7132ca241c3" and "Hello from the gateway" in output["content"]
    for dropped in ("store", "include", "client_metadata", "reasoning", "prompt_cache_key", "input"):
        assert dropped not in chat


def test_codex_code_mode_custom_tool_round_trips():
    body = codex_request(4)  # gpt-6.2-sol: additional_tools item with a custom `exec` tool, custom_tool_call
    translation = to_chat_request(body)
    chat = translation.chat
    assert chat["reasoning_effort"] == "low" and "exec" in translation.custom_tools
    exec_tool = next(t["function"] for t in chat["tools"] if t["function"]["name"] == "exec")
    assert exec_tool["parameters"]["required"] == ["input"]
    call, output = chat["messages"][-2:]
    script = body["input"][-2]["input"]
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"input": script}
    assert output["role"] == "tool" and output["content"].startswith("Script completed")
    answer = {"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "exec", "arguments": json.dumps({"input": "x()"})}}
    ]}}], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    [item] = to_response(answer, ResponseEnvelope.for_request(body, translation.custom_tools))["output"]
    assert (item["type"], item["call_id"], item["input"]) == ("custom_tool_call", "call_9", "x()")


def test_tool_settings_without_tools_are_not_forwarded():
    chat = to_chat_request({"model": "m", "input": "hi", "tool_choice": "auto", "parallel_tool_calls": False}).chat
    assert "tool_choice" not in chat and "parallel_tool_calls" not in chat  # chat APIs refuse them alone


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "m", "input": "hi", "tools": [WEATHER, {"type": "file_search", "vector_store_ids": []}]},
     "tools[1].type"),
    ({"model": "m", "input": "hi", "background": True}, "background"),
    ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
    ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
    ({"model": "m"}, "input"),
    ({"input": "hi"}, "model"),
])
def test_unsupported_requests_name_the_field(body, param):
    with pytest.raises(InvalidRequest) as caught:
        to_chat_request(body)
    assert caught.value.param == param


def test_chunks_become_typed_events_in_order():
    builder = ResponseStreamBuilder(ResponseEnvelope.for_request({"model": "m", "tools": [WEATHER]}))
    events = builder.start()
    events += builder.feed({"model": "up", "choices": [{"index": 0, "delta": {"content": "Let me check."}}]})
    events += builder.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": '{"city":'}}]}}]})
    events += builder.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '"Paris"}'}}]}, "finish_reason": "tool_calls"}]})
    events += builder.feed({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
                                                      "prompt_tokens_details": {"cached_tokens": 2}}})
    done, response = builder.done()
    events += done + [builder.completed_event(response)]
    received = sse(b"".join(events))
    assert [e["type"] for e in received] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in received] == list(range(len(received)))
    final = received[-1]["response"]
    assert final["model"] == "up" and final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]
    assert final["output"][1]["arguments"] == '{"city":"Paris"}'
    assert final["usage"] == {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 4,
                              "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 13}


def test_reasoning_deltas_become_a_reasoning_summary_item():
    builder = ResponseStreamBuilder(ResponseEnvelope.for_request({"model": "m"}))
    events = builder.start()
    for delta in ({"reasoning_content": "Think "}, {"reasoning_content": "hard."}, {"content": "42"}):
        events += builder.feed({"choices": [{"index": 0, "delta": delta}]})
    done, response = builder.done()
    received = sse(b"".join(events + done))
    assert [e["type"] for e in received][2:9] == [
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done"]
    reasoning, message = response["output"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Think hard."}]
    assert message["content"][0]["text"] == "42"
    whole = to_response({"choices": [{"message": {"content": "42", "reasoning": "Because."}}]},
                        ResponseEnvelope.for_request({"model": "m"}))
    assert [item["type"] for item in whole["output"]] == ["reasoning", "message"]


def test_the_sdk_reads_reasoning_from_an_openai_compatible_reasoner(sdk, gateway, routing):
    from routing.models import Model, Provider

    server = ScriptedUpstream()
    try:
        provider = Provider.objects.create(name="reasoner", base_url=f"{server.url}/v1", api_key_env="MOCKAI_API_KEY",
                                           tier="paid", timeout_seconds=5)
        Model.objects.create(public_id="reasoner", provider=provider, upstream_name="deepseek-reasoner")
        gateway.sync_config()
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "Two plus two."}}]},
                  {"choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": "stop"}]},
                  {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14,
                                            "completion_tokens_details": {"reasoning_tokens": 8}}}]
        parts = [f"data: {json.dumps({'id': 'c', 'model': 'deepseek-reasoner', **c})}\n\n".encode() for c in chunks]
        server.on("/v1/chat/completions", Reply(parts=[*parts, b"data: [DONE]\n\n"], content_type="text/event-stream"))
        with sdk.responses.stream(model="reasoner", input="2+2?") as stream:
            summary = [event.delta for event in stream if event.type == "response.reasoning_summary_text.delta"]
            final = stream.get_final_response()
    finally:
        server.close()
    assert summary == ["Two plus two."] and final.output_text == "4"
    assert final.output[0].type == "reasoning" and final.usage.output_tokens_details.reasoning_tokens == 8


# --- the openai SDK through the gateway, mock OpenAI upstream ---------------------------------------------


def test_plain_response(sdk, gateway):
    raw = sdk.responses.with_raw_response.create(model="smart-model", instructions="Be brief.", input="Say hello")
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == "mock reply to: Say hello"
    assert response.instructions == "Be brief." and response.id.startswith("resp_")
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (4, 5, 9)
    assert raw.headers["x-gateway-model"] == "smart-model"
    [row] = usage_rows(1)
    assert (row.model, row.prompt_tokens, row.completion_tokens, row.status) == ("smart-model", 4, 5, "ok")
    assert row.cost > 0


def test_streamed_response_has_the_sdks_event_sequence(sdk, gateway, upstream):
    upstream.configure(default={"chunks": 4})
    with sdk.responses.stream(model="auto:architect", input="Design a cache") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds.count("response.output_text.delta") == 4
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert final.output_text == "mock reply to: Design a cache" and final.usage.output_tokens == 6
    [row] = usage_rows(1)
    assert (row.role, row.model, row.stream, row.total_tokens) == ("architect", "smart-model", True, 9)


@pytest.mark.parametrize("stream", [False, True])
def test_function_tool_and_its_result(sdk, gateway, stream):
    request = {"model": "smart-model", "tools": [WEATHER], "input": "Weather in Paris?"}
    if stream:
        with sdk.responses.stream(**request) as events:
            response = events.get_final_response()
    else:
        response = sdk.responses.create(**request)
    [call] = response.output
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "get_weather", {"city": "test"})
    follow_up = sdk.responses.create(**{**request, "input": [
        {"role": "user", "content": "Weather in Paris?"}, call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"},
    ]})
    assert follow_up.output_text == "mock reply to tool result: sunny, 21C"


class City(BaseModel):
    city: str
    country: str


def test_text_format_json_schema(sdk, gateway, upstream):
    parsed = sdk.responses.parse(model="fast-model", input="Largest city of France?", text_format=City)
    assert parsed.output_parsed == City(city="mock reply to: Largest city of France?",
                                        country="mock reply to: Largest city of France?")
    sent = upstream.stats()["log"][-1]["body"]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["city", "country"]


def test_previous_response_id_continues_a_stored_conversation(sdk, gateway, upstream):
    first = sdk.responses.create(model="fast-model", instructions="Be brief.", input="My name is Ada")
    second = sdk.responses.create(model="fast-model", previous_response_id=first.id, input="What is my name?")
    assert second.previous_response_id == first.id
    sent = upstream.stats()["log"][-1]["body"]["messages"]
    assert sent == [{"role": "user", "content": "My name is Ada"},
                    {"role": "assistant", "content": "mock reply to: My name is Ada"},
                    {"role": "user", "content": "What is my name?"}]  # instructions are not carried over
    with sdk.responses.stream(model="fast-model", previous_response_id=second.id, input="And again?") as stream:
        third = stream.get_final_response()
    fourth = sdk.responses.create(model="fast-model", previous_response_id=third.id, input="Last one")
    assert fourth.status == "completed"
    assert len(upstream.stats()["log"][-1]["body"]["messages"]) == 7


def test_a_stored_response_is_continued_on_another_gateway_process(sdk, gateway, upstream, tmp_path):
    first = sdk.responses.create(model="fast-model", input="My name is Ada")
    with dedicated_gateway(tmp_path / "second") as second, OpenAI(base_url=second.base_url, api_key="unused",
                                                                  max_retries=0) as other:
        follow_up = other.responses.create(model="fast-model", previous_response_id=first.id, input="Who am I?")
    assert follow_up.status == "completed"
    assert upstream.stats()["log"][-1]["body"]["messages"][0] == {"role": "user", "content": "My name is Ada"}


def test_unstored_or_unknown_previous_response_is_a_400(sdk, gateway):
    unstored = sdk.responses.create(model="fast-model", input="hi", store=False)
    for previous in (unstored.id, "resp_nope"):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.responses.create(model="fast-model", previous_response_id=previous, input="again")
        assert caught.value.body["param"] == "previous_response_id"
        assert caught.value.body["code"] == "previous_response_not_found"


def test_errors_in_openais_shape(sdk, gateway):
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model="gpt-17-ultra", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="fast-model", input="hi", tools=[{"type": "web_search"}])
    assert caught.value.body["param"] == "tools[0].type" and "web_search" in caught.value.body["message"]
    response = httpx.post(f"{gateway.url}/v1/responses", content=b"{nope", timeout=10)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]
    assert response.headers["x-request-id"].startswith("gw-")
    assert [row.status_code for row in usage_rows(3)] == [404, 400, 400]  # refusals are counted too


def test_a_failure_mid_stream_ends_with_response_failed(gateway, upstream):
    upstream.configure(models={"fast-upstream": {"mode": "drop_mid_stream", "chunks": 6}})
    response = httpx.post(f"{gateway.url}/v1/responses", timeout=10,
                          json={"model": "fast-model", "stream": True, "input": "a b c d e f"})
    received = sse(response.content)
    assert received[0]["type"] == "response.created" and received[-1]["type"] == "response.failed"
    assert received[-1]["response"]["status"] == "failed" and received[-1]["response"]["error"]["message"]
    assert "response.completed" not in [event["type"] for event in received]
    with OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0) as sdk:
        with pytest.raises(RuntimeError, match="response.completed"), sdk.responses.stream(
                model="fast-model", input="a b c d e f") as stream:
            stream.get_final_response()  # the SDK never takes the cut answer for a whole one
    assert [row.status for row in usage_rows(2)] == ["error", "error"]


def test_events_leave_as_they_come_and_a_client_leaving_is_recorded(gateway, upstream):
    import time

    upstream.configure(default={"chunks": 5, "chunk_delay_ms": 300})
    started = time.monotonic()
    with httpx.stream("POST", f"{gateway.url}/v1/responses", timeout=10, json={
            "model": "fast-model", "stream": True, "input": "one two three four five"}) as response:
        first_delta = next(line for line in response.iter_lines() if "response.output_text.delta" in line
                           and line.startswith("data:"))
        assert time.monotonic() - started < 1.2  # the whole answer takes 1.5 s: this came on its own
        assert json.loads(first_delta[5:])["delta"]
    [row] = usage_rows(1, status="client_closed")
    assert row.model == "fast-model" and row.stream


@pytest.mark.parametrize("n", [1, 2, 3, 4, 20, 21])
def test_codex_recorded_requests_are_served(gateway, upstream, n):
    """Each HTTP request Codex 0.171.0 sent (tests/fixtures/agents), with its headers, as a gateway model."""
    recorded = json.loads((FIXTURES / "agents" / f"codex_0.171.0_{n}.request.json").read_text())
    body = {**recorded["body"], "model": "fast-model"}
    if "tools" in body:  # code mode (3, 4, 20, 21) sends its tools in an `additional_tools` input item instead
        body["tools"] = [tool for tool in body["tools"] if tool["type"] != "web_search"]  # web_search = "disabled"
    headers = {name: value for name, value in recorded["headers"]
               if name.lower() not in ("host", "content-length", "accept-encoding")}
    response = httpx.post(f"{gateway.base_url}/responses", json=body, headers=headers, timeout=20)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    kinds = [event["type"] for event in sse(response.content)]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    sent = upstream.stats()["log"][-1]["body"]
    assert sent["messages"][-1]["role"] == ("tool" if n in (2, 4, 21) else "user")


# --- an Anthropic backend ---------------------------------------------------------------------------------


@pytest.fixture
def claude(gateway, routing):
    from routing.models import Model, Provider

    server = AnthropicLoopback()
    provider = Provider.objects.create(name="claude", kind="anthropic", base_url=server.base_url,
                                       api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=5)
    Model.objects.create(public_id="claude-model", provider=provider, upstream_name="claude-haiku-4-5-20251001")
    gateway.sync_config()
    yield server
    server.close()


def test_through_an_anthropic_backend(sdk, claude):
    claude.serve_fixture("messages_response.recorded.json")
    response = sdk.responses.create(model="claude-model", instructions="Answer in one sentence.",
                                    input="What is the capital of France?", max_output_tokens=300)
    assert response.output_text == "The capital of France is Paris."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 10)
    sent = claude.last.body
    assert sent["system"] == "Answer in one sentence." and sent["max_tokens"] == 300
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]

    claude.serve_fixture("messages_stream_text.recorded.sse")
    with sdk.responses.stream(model="claude-model", input="Name some pelicans") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and "Captain" in final.output_text
    assert final.usage.input_tokens == 17

    claude.serve_fixture("messages_tool_use_response.recorded.json")
    tool = {"type": "function", "name": "get_user_country", "parameters": {"type": "object", "properties": {}}}
    called = sdk.responses.create(model="claude-model", input="Largest city in my country?", tools=[tool],
                                  tool_choice="required")
    [call] = called.output
    assert (call.type, call.name, call.call_id) == ("function_call", "get_user_country",
                                                    "toolu_01X9wcHKKAZD9tBC711xipPa")
    assert claude.last.body["tool_choice"] == {"type": "any"}
    claude.serve_fixture("messages_response.recorded.json")
    sdk.responses.create(model="claude-model", tools=[tool], input=[
        {"role": "user", "content": "Largest city in my country?"}, call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "France"}])
    blocks = claude.last.body["messages"]
    assert blocks[1]["content"][0]["type"] == "tool_use" and blocks[2]["content"][0]["type"] == "tool_result"
    assert len(usage_rows(4, provider="claude")) == 4


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)
FIELDS = st.sampled_from(["model", "input", "instructions", "tools", "tool_choice", "text", "reasoning", "stream",
                          "max_output_tokens", "previous_response_id", "background", "parallel_tool_calls"])
ITEM = st.fixed_dictionaries({"type": st.sampled_from(["message", "function_call", "function_call_output",
                                                       "custom_tool_call", "additional_tools", "reasoning"]) | JSON},
                             optional={"role": st.sampled_from(["user", "assistant", "developer", "x"]) | JSON,
                                       "content": JSON, "call_id": JSON, "name": JSON, "arguments": JSON,
                                       "output": JSON, "tools": JSON, "input": JSON})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, JSON, max_size=6), st.lists(ITEM, max_size=4))
def test_any_request_translates_or_gets_a_400_naming_the_field(body, items):
    """Whatever the shape, never an exception other than a 400 (which the front answers in OpenAI's shape)."""
    for candidate in (body, {**body, "model": "m", "input": items}):
        try:
            chat = to_chat_request(candidate).chat
        except InvalidRequest as error:
            assert error.message
        else:
            assert chat["model"] == candidate["model"] and chat["messages"]


CHUNK = st.fixed_dictionaries({}, optional={
    "model": JSON, "usage": JSON,
    "choices": st.lists(st.fixed_dictionaries({}, optional={
        "index": st.just(0) | JSON, "finish_reason": JSON,
        "delta": st.fixed_dictionaries({}, optional={"content": JSON, "refusal": JSON, "tool_calls": JSON}) | JSON,
        "message": JSON}), max_size=2)})


@settings(max_examples=300, deadline=None)
@given(st.lists(CHUNK, max_size=5))
def test_any_upstream_chunks_become_a_well_formed_event_stream(chunks):
    builder = ResponseStreamBuilder(ResponseEnvelope.for_request({"model": "m"}))
    events = builder.start()
    for chunk in chunks:
        events += builder.feed(chunk)
    done, response = builder.done()
    received = sse(b"".join(events + done + [builder.completed_event(response)]))
    assert [event["sequence_number"] for event in received] == list(range(len(received)))
    assert received[-1]["type"] in ("response.completed", "response.incomplete")
    whole = to_response(chunks[0] if chunks else {}, ResponseEnvelope.for_request({"model": "m"}))
    assert whole["object"] == "response"
