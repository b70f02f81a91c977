"""Embeddings through Google: the translation (pure), and Vertex AI's `predict` with service-account auth.

The Gemini API's `batchEmbedContents` is covered through the real gateway in
tests/proxy/test_embeddings_api.py; Vertex needs a signed token grant, so it is driven here at the
provider, against a loopback token endpoint and a loopback Vertex.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from providers.base import ProviderError
from providers.google import VertexProvider
from providers.google.embeddings import encode_base64, input_texts, openai_embeddings, vectors_from_predict
from providers.http import ClientSettings, UpstreamClient
from providers.specs import ModelSpec
from providers.translation import TranslationError
from tests.providers.scripted_upstream import Reply, ScriptedUpstream
from tests.providers.test_google_vertex import key_file, private_key, spec  # noqa: F401 (fixtures)

MODEL = ModelSpec(public_id="vertex-embedder", provider="vertex", upstream_name="text-embedding-005",
                  kind="embedding")
URL = "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/text-embedding-005:predict"
PREDICTIONS = {"predictions": [
    {"embeddings": {"values": [0.5, -0.25], "statistics": {"truncated": False, "token_count": 4}}},
    {"embeddings": {"values": [0.0, 1.0], "statistics": {"truncated": False, "token_count": 2}}},
]}


@pytest.fixture
def server():
    server = ScriptedUpstream()
    server.on("/token", Reply.json({"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}))
    server.on(URL, Reply.json(PREDICTIONS))
    yield server
    server.close()


def embed(server: ScriptedUpstream, body: dict):
    async def go():
        client = UpstreamClient(ClientSettings(connect_timeout=5, read_timeout=5, max_connections=10))
        try:
            return await VertexProvider(spec(server), client).embed(body, MODEL)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_vertex_predict_answers_in_openais_shape(server, key_file):  # noqa: F811
    completion = embed(server, {"model": "vertex-embedder", "input": ["a longer text", "hi"], "dimensions": 2,
                                "encoding_format": "float"})
    [sent] = server.requests_to(URL)
    assert sent.json() == {"instances": [{"content": "a longer text"}, {"content": "hi"}],
                           "parameters": {"outputDimensionality": 2}}
    assert sent.headers["authorization"] == "Bearer tok-1"
    answer = orjson.loads(completion.body)
    assert [item["embedding"] for item in answer["data"]] == [[0.5, -0.25], [0.0, 1.0]]
    assert (completion.usage.prompt_tokens, completion.usage.estimated) == (6, False)  # Vertex's own counts

    base64_answer = orjson.loads(embed(server, {"model": "m", "input": "x", "encoding_format": "base64"}).body)
    assert base64_answer["data"][0]["embedding"] == encode_base64([0.5, -0.25])


def test_vertex_refuses_token_arrays_as_an_unsupported_feature(server, key_file):  # noqa: F811
    with pytest.raises(ProviderError) as caught:
        embed(server, {"model": "m", "input": [[1, 2]]})
    assert caught.value.retryable and caught.value.code == "unsupported_feature"  # another candidate may serve it
    assert server.requests_to(URL) == []


def test_translation_helpers():
    assert input_texts({"input": "one"}) == ["one"]
    with pytest.raises(TranslationError):
        input_texts({"input": [1, 2, 3]})
    with pytest.raises(ValueError):
        vectors_from_predict({"predictions": [{"embeddings": {}}]})
    assert encode_base64([1.0]) == "AACAPw=="  # 1.0 as little-endian float32, as OpenAI encodes it
    assert openai_embeddings([[1.0]], model="m", prompt_tokens=2, encoding_format=None)["usage"] == {
        "prompt_tokens": 2, "total_tokens": 2}
