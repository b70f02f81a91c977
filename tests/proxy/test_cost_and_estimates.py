"""Every row's cost from the model's prices, cached and reasoning tokens included; an upstream that
reports no usage gets the gateway's own count, marked estimated."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from core.tokens import count_message_tokens, count_tokens
from providers.specs import ModelSpec
from tests.conftest import usage_rows
from tests.providers.scripted_upstream import Reply, ScriptedUpstream

MESSAGES = [{"role": "user", "content": "Summarise the design of a token bucket in two sentences."}]
ANSWER = "A bucket fills with tokens at a steady rate. Each request takes one, and waits when none are left."
IN, CACHED, OUT = Decimal("2"), Decimal("0.5"), Decimal("8")  # $ per 1M tokens


def completion(usage: dict | None) -> dict:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "scripted-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}]}
    return {**body, "usage": usage} if usage is not None else body


def stream_parts(with_usage: bool) -> list[bytes]:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": word + " "}}]} for word in ANSWER.split(" ")]
    chunks += [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    if with_usage:
        chunks.append({"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}})
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "scripted-1"}
    return [f"data: {json.dumps({**base, **chunk})}\n\n".encode() for chunk in chunks] + [b"data: [DONE]\n\n"]


@pytest.fixture
def scripted(gateway, routing):
    from routing.models import Model, Provider

    server = ScriptedUpstream()
    provider = Provider.objects.create(name="scripted", base_url=f"{server.url}/v1", api_key_env="MOCKAI_API_KEY",
                                       tier="paid", timeout_seconds=5)
    Model.objects.create(public_id="priced-model", provider=provider, upstream_name="scripted-1",
                         input_price_per_mtok=IN, cached_input_price_per_mtok=CACHED, output_price_per_mtok=OUT)
    gateway.sync_config()
    yield server
    server.close()


def post(gateway, stream: bool = False) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                      json={"model": "priced-model", "messages": MESSAGES, "stream": stream})


def test_cached_and_reasoning_tokens_are_priced_as_the_model_says(gateway, scripted):
    scripted.on("/v1/chat/completions", Reply.json(completion({
        "prompt_tokens": 1000, "completion_tokens": 300, "total_tokens": 1300,
        "prompt_tokens_details": {"cached_tokens": 800}, "completion_tokens_details": {"reasoning_tokens": 200}})))
    assert post(gateway).status_code == 200
    [row] = usage_rows(1)
    assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens, row.reasoning_tokens) == (1000, 800, 300, 200)
    assert not row.tokens_estimated
    # 200 uncached at $2, 800 cached at $0.50, 300 output (reasoning included) at $8, per million
    assert row.cost == Decimal("0.0004") + Decimal("0.0004") + Decimal("0.0024")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_answer_without_usage_is_counted_by_the_gateway_and_marked(gateway, scripted, stream):
    reply = Reply(parts=stream_parts(False), content_type="text/event-stream") if stream else \
        Reply.json(completion(None))
    scripted.on("/v1/chat/completions", reply)
    # The first count of a process may come before its tokenizer has loaded (in the background, so that the
    # end of a stream never waits): four characters per token then, still marked estimated.
    warm_up = post(gateway, stream)
    response = post(gateway, stream)
    assert response.status_code == 200 and ANSWER.split(" ")[0] in response.text
    first, row = usage_rows(2)
    assert first.tokens_estimated and first.completion_tokens > 0 and warm_up.status_code == 200
    prompt = count_message_tokens(MESSAGES)
    answer_tokens = count_tokens(ANSWER + " " if stream else ANSWER)
    assert row.tokens_estimated and (row.prompt_tokens, row.completion_tokens) == (prompt, answer_tokens)
    assert row.total_tokens == prompt + answer_tokens
    assert row.cost == (prompt * IN + answer_tokens * OUT) / 1_000_000


def test_a_stream_with_usage_is_not_estimated(gateway, scripted):
    scripted.on("/v1/chat/completions", Reply(parts=stream_parts(True), content_type="text/event-stream"))
    assert post(gateway, stream=True).status_code == 200
    [row] = usage_rows(1)
    assert (row.prompt_tokens, row.completion_tokens, row.tokens_estimated) == (30, 20, False)


def test_cache_writes_cost_a_quarter_more_than_input_unless_the_model_prices_them():
    spec = ModelSpec("m", "p", "m", input_price_per_token=4e-6, output_price_per_token=20e-6)
    # 1000 prompt tokens: 600 written to the cache (x1.25), 100 read from it (input price: none set), 300 plain
    assert spec.cost(1000, 0, cached_tokens=100, cache_creation_tokens=600) == pytest.approx(
        400 * 4e-6 + 600 * 5e-6)
    priced = ModelSpec("m", "p", "m", input_price_per_token=4e-6, cached_input_price_per_token=0.4e-6,
                       cache_write_price_per_token=8e-6)
    assert priced.cost(1000, 10, cached_tokens=100, cache_creation_tokens=600) == pytest.approx(
        300 * 4e-6 + 100 * 0.4e-6 + 600 * 8e-6)
    # Details larger than the prompt (a confused upstream) are capped by it: never a negative or inflated cost.
    assert spec.cost(10, 0, cached_tokens=50, cache_creation_tokens=50) == pytest.approx(10 * 4e-6)
