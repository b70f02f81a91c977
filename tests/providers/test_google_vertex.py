"""Vertex AI: service-account auth against a loopback token endpoint, and the Vertex URL and answers.

The key file is real (an RSA key made here); its `token_uri` points at a loopback server, which must
receive a correctly signed JWT grant. The bearer token must reach Vertex, be cached, and be refreshed
when it nears expiry.
"""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from providers.base import ProviderError
from providers.google import VertexProvider
from providers.google import auth as vertex_auth
from providers.http import ClientSettings, UpstreamClient
from providers.specs import ModelSpec, ProviderSpec
from tests.providers.scripted_upstream import Reply, ScriptedUpstream
from tests.providers.test_google_translate import GEMINI

MODEL = ModelSpec(public_id="gemini-2.0-flash", provider="vertex", upstream_name="gemini-2.0-flash")
URL = "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.0-flash"
CHAT = {"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "What is the capital of France?"}]}


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def server():
    server = ScriptedUpstream()
    answer = (GEMINI / "vertex_generate_content.recorded.json").read_bytes() if GEMINI.exists() else b"{}"
    server.on("/token", Reply.json({"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}),
              Reply.json({"access_token": "tok-2", "expires_in": 3600, "token_type": "Bearer"}))
    server.on(URL, Reply(body=answer))
    yield server
    server.close()


@pytest.fixture
def key_file(tmp_path, private_key, server, settings):
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "key-file-project", "private_key_id": "k1", "private_key": pem,
        "client_email": "gateway@my-proj.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": f"{server.url}/token",
    }))
    settings.VERTEX_CREDENTIALS_FILE = str(path)
    settings.VERTEX_PROJECT_ID = "my-proj"
    settings.VERTEX_LOCATION = "europe-west4"
    vertex_auth.tokens.clear()
    yield path
    vertex_auth.tokens.clear()


def spec(server: ScriptedUpstream) -> ProviderSpec:
    return ProviderSpec(name="vertex", kind="vertex", base_url=server.url, tier="enterprise", timeout_seconds=5,
                        enabled=True, key_env="")


def run(server: ScriptedUpstream, *bodies: dict, concurrently: bool = False, stream: bool = False) -> list:
    async def go():
        client = UpstreamClient(ClientSettings(connect_timeout=5, read_timeout=5, max_connections=10))
        try:
            provider = VertexProvider(spec(server), client)
            if concurrently:
                return await asyncio.gather(*(provider.complete(body, MODEL) for body in bodies),
                                            return_exceptions=True)
            results = []
            for body in bodies:
                try:
                    if stream:
                        results.append([event.chunk async for event in await provider.stream(body, MODEL)])
                    else:
                        results.append(await provider.complete(body, MODEL))
                except ProviderError as error:
                    results.append(error)
            return results
        finally:
            await client.aclose()

    return asyncio.run(go())


def bearer_tokens(server: ScriptedUpstream) -> list[str]:
    return [r.headers.get("authorization", "") for r in server.received if r.path.startswith(URL)]


def b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def test_token_reaches_vertex_and_is_cached(server, key_file, private_key):
    first, second = run(server, CHAT, CHAT)
    completion = json.loads(first.body)
    assert completion["choices"][0]["message"]["content"] == "The capital of France is Paris.\n"
    assert completion["model"] == "gemini-2.0-flash" and first.usage.total_tokens == 21
    assert bearer_tokens(server) == ["Bearer tok-1", "Bearer tok-1"]
    [grant] = server.requests_to("/token")
    form = parse_qs(grant.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    header, payload, signature = form["assertion"][0].split(".")
    private_key.public_key().verify(b64url(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(),
                                    hashes.SHA256())
    claims = json.loads(b64url(payload))
    assert claims["iss"] == "gateway@my-proj.iam.gserviceaccount.com"
    assert claims["aud"] == "https://oauth2.googleapis.com/token"  # google-auth's fixed audience
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert server.requests_to(URL)[0].path == f"{URL}:generateContent"


def test_token_is_refreshed_when_it_nears_expiry(server, key_file, monkeypatch):
    run(server, CHAT)
    real_now = vertex_auth._now
    # A 3600 s token is refreshed 300 s before it expires: still good at +3200 s, refreshed at +3400 s.
    monkeypatch.setattr(vertex_auth, "_now", lambda: real_now() + 3200)
    run(server, CHAT)
    monkeypatch.setattr(vertex_auth, "_now", lambda: real_now() + 3400)
    run(server, CHAT)
    assert bearer_tokens(server) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert len(server.requests_to("/token")) == 2


def test_one_refresh_serves_concurrent_requests(server, key_file):
    results = run(server, *[CHAT] * 6, concurrently=True)
    assert all(not isinstance(result, Exception) for result in results)
    assert len(server.requests_to("/token")) == 1 and set(bearer_tokens(server)) == {"Bearer tok-1"}


def test_streaming_uses_alt_sse_on_the_vertex_url(server, key_file):
    server.on(URL, Reply(parts=[(GEMINI / "stream_generate_content_alt_sse.recorded.sse").read_bytes()],
                           content_type="text/event-stream"))
    [chunks] = run(server, CHAT, stream=True)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == (
        "The capital of France is Paris.\n")
    assert chunks[-1]["usage"]["total_tokens"] == 21
    [sent] = server.requests_to(URL)
    assert sent.path == f"{URL}:streamGenerateContent" and sent.query == {"alt": ["sse"]}
    assert sent.headers["authorization"] == "Bearer tok-1"


def test_a_rejected_token_is_dropped_and_the_next_request_gets_a_new_one(server, key_file):
    answer = (GEMINI / "vertex_generate_content.recorded.json").read_bytes()
    unauthenticated = Reply.json({"error": {"code": 401, "message": "Request had invalid authentication "
                                            "credentials.", "status": "UNAUTHENTICATED"}}, status=401)
    server.on(URL, unauthenticated, Reply(body=answer))
    failed, succeeded = run(server, CHAT, CHAT)
    assert isinstance(failed, ProviderError) and failed.retryable and failed.status == 502
    assert failed.code == "upstream_auth_failed"
    assert json.loads(succeeded.body)["choices"][0]["finish_reason"] == "stop"
    assert bearer_tokens(server) == ["Bearer tok-1", "Bearer tok-2"]


def test_project_defaults_to_the_key_files(server, key_file, settings):
    settings.VERTEX_PROJECT_ID = ""
    settings.VERTEX_LOCATION = ""
    server.on("/v1/projects/key-file-project/locations/us-central1/", Reply.json({"candidates": [
        {"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}))
    [completion] = run(server, CHAT)
    assert json.loads(completion.body)["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize(("setup", "says"), [
    ("no_variable", "VERTEX_CREDENTIALS_FILE"),
    ("missing_file", "does not exist"),
    ("not_a_key", "not a usable service-account key file"),
])
def test_misconfiguration_is_named_and_costs_no_request(server, key_file, settings, tmp_path, setup, says):
    if setup == "no_variable":
        settings.VERTEX_CREDENTIALS_FILE = ""
    elif setup == "missing_file":
        settings.VERTEX_CREDENTIALS_FILE = str(tmp_path / "nope.json")
    else:
        (tmp_path / "bad.json").write_text('{"type": "service_account"}')
        settings.VERTEX_CREDENTIALS_FILE = str(tmp_path / "bad.json")
    [error] = run(server, CHAT)
    assert isinstance(error, ProviderError) and error.code == "provider_not_configured"
    assert error.retryable and says in error.message and "Vertex" in error.message
    assert server.received == []


def test_missing_project_is_named(server, key_file, settings):
    data = json.loads(key_file.read_text())
    del data["project_id"]
    key_file.write_text(json.dumps(data))
    settings.VERTEX_PROJECT_ID = ""
    [error] = run(server, CHAT)
    assert isinstance(error, ProviderError) and "VERTEX_PROJECT_ID" in error.message
    assert server.requests_to(URL) == []


def test_token_endpoint_refusal_is_retryable(server, key_file):
    server.on("/token", Reply.json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                                     status=400))
    [error] = run(server, CHAT)
    assert isinstance(error, ProviderError) and error.retryable and error.code == "upstream_auth_failed"
    assert "invalid_grant" in error.message and server.requests_to(URL) == []
