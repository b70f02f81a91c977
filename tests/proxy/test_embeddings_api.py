"""`POST /v1/embeddings`: the official `openai` SDK's `client.embeddings.create` through the real gateway.

Embedding models are Model rows of kind `embedding`, routed by model like chat: the mock upstream
(OpenAI-compatible, deterministic vectors), a scripted Gemini API (`batchEmbedContents`) behind it.
"""

from __future__ import annotations

import base64
import struct
from decimal import Decimal

import httpx
import openai
import pytest

from mock_upstream.wire import embedding_vector
from tests.conftest import usage_rows
from tests.providers.scripted_upstream import Reply, ScriptedUpstream


@pytest.fixture
def embedders(routing, gateway):
    from routing.models import Model, ModelFallback

    models = {}
    # The fallback stands for the same model served elsewhere: vectors of two models are not comparable.
    for public_id, upstream_name, price in [("embed-small", "embed-upstream", "0.02"),
                                            ("embed-small-mirror", "embed-mirror-upstream", "0.02")]:
        models[public_id] = Model.objects.create(
            public_id=public_id, provider=routing.paid, upstream_name=upstream_name, kind="embedding",
            input_price_per_mtok=Decimal(price), output_price_per_mtok=Decimal(0))
    ModelFallback.objects.create(model=models["embed-small"], fallback=models["embed-small-mirror"], position=0)
    gateway.sync_config()
    return models


def floats_of(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_float_embeddings_of_a_batch(sdk, embedders, upstream):
    raw = sdk.embeddings.with_raw_response.create(model="embed-small", input=["hello world", "goodbye"],
                                                  encoding_format="float")
    result = raw.parse()
    assert [item.index for item in result.data] == [0, 1]
    assert result.data[0].embedding == embedding_vector("hello world", 8)
    assert result.data[1].embedding == embedding_vector("goodbye", 8)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)
    assert raw.headers["x-gateway-model"] == "embed-small"
    sent = upstream.stats()["log"][-1]
    assert sent["path"] == "/v1/embeddings" and sent["body"]["model"] == "embed-upstream"
    assert sent["body"]["encoding_format"] == "float"
    [row] = usage_rows(1)
    assert (row.model, row.prompt_tokens, row.completion_tokens, row.status) == ("embed-small", 3, 0, "ok")
    assert row.cost == Decimal("0.00000006")  # 3 tokens at $0.02 per million


def test_base64_embeddings_decode_to_the_same_vectors(sdk, embedders, upstream):
    # The SDK asks for base64 by default and decodes it itself.
    by_default = sdk.embeddings.create(model="embed-small", input="hello world")
    assert upstream.stats()["log"][-1]["body"]["encoding_format"] == "base64"
    assert by_default.data[0].embedding == pytest.approx(embedding_vector("hello world", 8), abs=1e-6)
    explicit = sdk.embeddings.create(model="embed-small", input="hello world", encoding_format="base64")
    assert floats_of(explicit.data[0].embedding) == pytest.approx(embedding_vector("hello world", 8), abs=1e-6)


def test_token_arrays_and_dimensions_pass_through(sdk, embedders, upstream):
    result = sdk.embeddings.create(model="embed-small", input=[[1, 2, 3], [4, 5]], dimensions=4,
                                   encoding_format="float")
    assert [len(item.embedding) for item in result.data] == [4, 4] and result.usage.prompt_tokens == 5
    assert upstream.stats()["log"][-1]["body"]["input"] == [[1, 2, 3], [4, 5]]


def test_a_failing_embedding_provider_falls_back_to_its_mirror(sdk, embedders, upstream):
    upstream.configure(models={"embed-upstream": {"status": 503}})
    raw = sdk.embeddings.with_raw_response.create(model="embed-small", input="x", encoding_format="float")
    assert raw.headers["x-gateway-model"] == "embed-small-mirror" and raw.headers["x-gateway-attempts"] == "2"
    [row] = usage_rows(1)
    assert row.model == "embed-small-mirror" and [a["status"] for a in row.attempt_log] == [503, 200]


def test_embedding_and_chat_models_stay_apart(sdk, embedders, gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="smart-model", input="x")
    assert "not an embedding model" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="embed-small", messages=[{"role": "user", "content": "hi"}])
    assert "use POST /v1/embeddings" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="auto", input="x")
    assert caught.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="no-such-embedder", input="x")
    models = {model.id: model for model in sdk.models.list()}
    assert models["embed-small"].model_extra["kind"] == "embedding"


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "embed-small", "input": ""}, "input"),
    ({"model": "embed-small", "input": []}, "input"),
    ({"model": "embed-small", "input": ["ok", ""]}, "input[1]"),
    ({"model": "embed-small", "input": ["ok", [1, "x"]]}, "input[1]"),
    ({"model": "embed-small", "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"model": "embed-small", "input": "x", "dimensions": 0}, "dimensions"),
    ({"input": "x"}, "model"),
])
def test_bad_requests_name_the_field(gateway, embedders, body, param):
    response = httpx.post(f"{gateway.base_url}/embeddings", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


# --- a Gemini API backend ------------------------------------------------------------------------------


@pytest.fixture
def gemini(routing, gateway):
    from routing.models import Model, Provider

    server = ScriptedUpstream()
    provider = Provider.objects.create(name="gemini-embed", kind="gemini", base_url=server.url,
                                       api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=5)
    Model.objects.create(public_id="gemini-embedder", provider=provider, upstream_name="gemini-embedding-001",
                         kind="embedding", input_price_per_mtok=Decimal("0.15"))
    gateway.sync_config()
    yield server
    server.close()


def test_through_the_gemini_api(sdk, gemini):
    vectors = [[0.25, -0.5, 0.125], [1.0, 0.0, -1.0]]
    gemini.on("/v1beta/models/gemini-embedding-001:batchEmbedContents",
              Reply.json({"embeddings": [{"values": vector} for vector in vectors]}))
    result = sdk.embeddings.create(model="gemini-embedder", input=["first text", "second"], dimensions=3,
                                   encoding_format="float")
    assert [item.embedding for item in result.data] == vectors and result.model == "gemini-embedding-001"
    [sent] = gemini.requests_to("/v1beta")
    assert sent.json() == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "first text"}]},
         "outputDimensionality": 3},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "second"}]},
         "outputDimensionality": 3}]}
    assert sent.headers["x-goog-api-key"] and "key=" not in sent.path
    decoded = sdk.embeddings.create(model="gemini-embedder", input=["first text", "second"])  # base64
    assert [item.embedding for item in decoded.data] == vectors  # these values are exact in float32
    rows = usage_rows(2, model="gemini-embedder")
    assert rows[0].prompt_tokens == 3 and rows[0].cost > 0  # counted by the gateway: Gemini reports none

    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="gemini-embedder", input=[[1, 2, 3]])
    assert "Token-array input" in caught.value.body["message"]
    assert len(gemini.requests_to("/v1beta")) == 2  # refused before any request went to Gemini


def test_a_backend_without_embeddings_is_a_400_naming_it(sdk, routing, gateway):
    from routing.models import Model, Provider

    provider = Provider.objects.create(name="claude", kind="anthropic", base_url="http://127.0.0.1:9",
                                       api_key_env="MOCKAI_API_KEY", tier="paid")
    Model.objects.create(public_id="claude-embedder", provider=provider, upstream_name="x", kind="embedding")
    gateway.sync_config()
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="claude-embedder", input="x")
    assert caught.value.body["code"] == "unsupported_feature" and "'claude' (anthropic)" in caught.value.body["message"]
