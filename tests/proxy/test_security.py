"""Security drills through the real gateway: injection through ids, provider keys that must never leak,
and server-side request forgery (who can point the gateway at a URL, and redirects it must not follow).
"""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import quote, unquote

import httpx
import pytest
from django.contrib import admin
from django.urls import reverse

from mock_upstream import start_in_thread
from providers.base import ProviderError
from providers.google import VertexProvider
from providers.google.provider import gemini_model_path
from providers.http import ClientSettings, UpstreamClient
from providers.specs import ModelSpec, ProviderSpec
from tests.conftest import FREE_KEY, MOCK_KEY, usage_rows
from tests.providers.scripted_upstream import Reply, ScriptedUpstream
from tests.providers.test_google_vertex import key_file, private_key, server  # noqa: F401 (fixtures)
from tests.proxy.test_bad_input import assert_openai_error

HI = [{"role": "user", "content": "hi"}]
HOSTILE_MODELS = [
    "../../admin",
    "..%2F..%2Fadmin",
    "%2e%2e/%2e%2e/v1/models",
    "x?key=stolen",
    "x#fragment",
    "models/../../admin",
    "x\r\nSet-Cookie: a=b",
    "x\nLocation: http://evil.test/",
]


def raw_http(gateway, head: bytes, body: bytes = b"") -> tuple[bytes, bytes]:
    """Send bytes no HTTP client would let through; returns (response head, body)."""
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    response_head, _, response_body = received.partition(b"\r\n\r\n")
    return response_head, response_body


def assert_no_injected_header(head: bytes) -> None:
    lines = head.split(b"\r\n")
    names = [line.split(b":", 1)[0].strip().lower() for line in lines[1:]]
    assert b"set-cookie" not in names and b"location" not in names, head
    assert not any(b"a=b" in line or b"evil.test" in line for line in lines), head


# --- injection through `model` and `conversation_id` ---------------------------------------------------


@pytest.mark.parametrize("model", HOSTILE_MODELS)
def test_a_hostile_model_id_reaches_no_upstream_and_no_header(gateway, upstream, model):
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={"model": model, "messages": HI})
    if any(c in model for c in "\r\n"):
        assert_openai_error(response, 400, param="model", says="control characters")
    else:
        assert_openai_error(response, 404, param="model", says="does not exist")
    assert "set-cookie" not in response.headers and "location" not in response.headers
    assert upstream.stats()["requests"] == 0


@pytest.mark.parametrize("model", HOSTILE_MODELS)
def test_a_hostile_model_id_in_the_models_path_is_a_json_404(gateway, model):
    head, body = raw_http(gateway, b"GET /v1/models/" + quote(model, safe="").encode()
                          + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 ") and b"content-type: application/json" in head.lower(), head
    assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}
    assert_no_injected_header(head)


def test_a_hostile_model_id_on_the_messages_api_is_an_anthropic_error(gateway, upstream):
    response = httpx.post(f"{gateway.base_url}/messages", timeout=10, json={
        "model": "x\r\nSet-Cookie: a=b", "max_tokens": 10, "messages": HI})
    assert response.status_code == 400 and response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "set-cookie" not in response.headers and upstream.stats()["requests"] == 0


@pytest.mark.parametrize("conversation_id", [
    "c\r\nSet-Cookie: a=b", "c\nLocation: http://evil.test/", "c\rSet-Cookie: a=b", "c\x00", "c\x85", "c\u2028x",
])
def test_a_conversation_id_with_line_breaks_in_the_body_is_refused(gateway, upstream, conversation_id):
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                          json={"model": "fast-model", "messages": HI, "conversation_id": conversation_id})
    assert_openai_error(response, 400, param="conversation_id", says="control characters")
    assert "set-cookie" not in response.headers and "location" not in response.headers
    assert upstream.stats()["requests"] == 0


CHAT_BODY = json.dumps({"model": "fast-model", "messages": HI}).encode()


@pytest.mark.parametrize("value", [
    b"c\rSet-Cookie: a=b",  # a bare CR: refused by the HTTP server itself
    b"c\r\n Set-Cookie: a=b",  # an obsolete folded line: one header, value "c Set-Cookie: a=b"
    b"c\r\nSet-Cookie: a=b",  # simply a second request header
    b"c\x00",
    b"c\xc2\x85",  # U+0085 NEXT LINE in UTF-8
    b"c\xe2\x80\xa8",  # U+2028 LINE SEPARATOR in UTF-8
])
@pytest.mark.parametrize("path", [b"/v1/chat/completions", b"/v1/messages"])
def test_a_conversation_id_header_is_never_reflected_into_a_response_header(gateway, path, value):
    body = CHAT_BODY if path.endswith(b"completions") else json.dumps(
        {"model": "fast-model", "max_tokens": 10, "messages": HI}).encode()
    head, _ = raw_http(gateway, b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                       b"Content-Type: application/json\r\nX-Conversation-Id: " + value
                       + b"\r\nContent-Length: %d\r\n\r\n" % len(body), body)
    assert head.split(b" ")[1] in (b"200", b"400"), head
    assert_no_injected_header(head)


# --- upstream URLs built from model names --------------------------------------------------------------


@pytest.mark.parametrize(("name", "path"), [
    ("gemini-2.5-flash", "models/gemini-2.5-flash"),
    ("../../admin", "models/..%2F..%2Fadmin"),
    ("models/../../admin", "models/..%2F..%2Fadmin"),
    ("x?key=stolen#frag", "models/x%3Fkey%3Dstolen%23frag"),
    ("%2e%2e", "models/%252e%252e"),
    ("x\r\nHost: evil", "models/x%0D%0AHost%3A%20evil"),
])
def test_gemini_model_path_quotes_every_reserved_character(name, path):
    assert gemini_model_path(name) == path


@pytest.fixture
def hostile_gemini(gateway, routing):
    """A `gemini` provider on a loopback server, serving models whose upstream names try to escape the path."""
    from routing.models import Model, Provider

    scripted = ScriptedUpstream()
    provider = Provider.objects.create(name="gemhostile", kind="gemini", base_url=scripted.url,
                                       api_key_env="MOCKAI_API_KEY", timeout_seconds=5)
    for index, name in enumerate(["../../admin", "x?key=stolen#frag", "%2e%2e/%2e%2e/admin", "models/.."]):
        Model.objects.create(public_id=f"hostile-{index}", provider=provider, upstream_name=name)
    gateway.sync_config()
    yield scripted
    scripted.close()


def assert_one_segment(path: str, prefix: str, name: str, method: str) -> None:
    """`path` as received is `prefix` plus one segment that decodes back to exactly `<name>:<method>`."""
    assert path.startswith(prefix) and "/" not in path[len(prefix):], path
    assert unquote(path[len(prefix):]) == f"{name}:{method}", path


@pytest.mark.parametrize(("model", "name"), [
    ("hostile-0", "../../admin"),
    ("hostile-1", "x?key=stolen#frag"),
    ("hostile-2", "%2e%2e/%2e%2e/admin"),
    ("hostile-3", ".."),  # "models/..": the prefix is Gemini's own
])
@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_upstream_name_stays_one_path_segment_on_the_wire(gateway, hostile_gemini, model, name, stream):
    hostile_gemini.on("/", Reply.json({"error": {"code": 404, "message": "no", "status": "NOT_FOUND"}}, status=404))
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                          json={"model": model, "messages": HI, "stream": stream})
    assert_openai_error(response, 404)
    [sent] = hostile_gemini.received
    method = "streamGenerateContent" if stream else "generateContent"
    assert_one_segment(sent.path, "/v1beta/models/", name, method)
    assert sent.query == ({"alt": ["sse"]} if stream else {})
    assert sent.headers["x-goog-api-key"] == MOCK_KEY  # the key rides in a header, never in the URL


def test_a_vertex_upstream_name_stays_one_path_segment_on_the_wire(server, key_file):  # noqa: F811
    async def call() -> ProviderError:
        client = UpstreamClient(ClientSettings(connect_timeout=5, read_timeout=5, max_connections=2))
        try:
            spec = ProviderSpec(name="vertex", kind="vertex", base_url=server.url, tier="enterprise",
                                timeout_seconds=5, enabled=True, key_env="")
            model = ModelSpec(public_id="v", provider="vertex", upstream_name="../../../x?alt=json#f")
            with pytest.raises(ProviderError) as caught:
                await VertexProvider(spec, client).complete({"model": "v", "messages": HI}, model)
            return caught.value
        finally:
            await client.aclose()

    assert asyncio.run(call()).upstream_status == 404  # the scripted server knows no such path
    [sent] = [r for r in server.received if r.path != "/token"]
    prefix = "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/"
    assert_one_segment(sent.path, prefix, "../../../x?alt=json#f", "generateContent")
    assert sent.query == {}


# --- provider keys never leak --------------------------------------------------------------------------


def test_provider_keys_never_leak_into_logs_bodies_usage_rows_or_the_admin(
    gateway, upstream, second_upstream, routing, admin_client
):
    """Upstreams that echo the gateway's own key back, in every kind of failure; then look everywhere."""
    echo = {"error": {"message": f"Incorrect API key provided: {MOCK_KEY}.", "type": "invalid_request_error",
                      "code": "invalid_api_key"}}
    echo_free = {"error": {"message": f"Bad key {FREE_KEY} (you sent {FREE_KEY})", "code": "invalid_api_key"}}
    html = f"<html><body>proxy error for Bearer {MOCK_KEY}</body></html>"
    failures = [
        ("fast-upstream", {"status": 401, "error_body": echo}, False),
        ("fast-upstream", {"status": 403, "error_body": html}, True),
        ("fast-upstream", {"status": 400, "error_body": echo}, False),
        ("fast-upstream", {"status": 404, "error_body": echo}, True),
        ("fast-upstream", {"status": 429, "error_body": echo}, False),
        ("fast-upstream", {"status": 500, "error_body": html}, False),
        ("fast-upstream", {"status": 503, "error_body": echo}, True),
        ("fast-upstream", {"mode": "error_in_200", "error_body": echo}, False),
        ("fast-upstream", {"mode": "error_in_200", "error_body": echo}, True),
        ("free-upstream", {"status": 401, "error_body": echo_free}, False),
        ("free-upstream", {"status": 502, "error_body": echo_free}, True),
        ("free-upstream", {"mode": "error_in_200", "error_body": echo_free}, True),
    ]
    texts = []
    for upstream_model, knobs, stream in failures:
        mock = second_upstream if upstream_model == "free-upstream" else upstream
        mock.configure(models={upstream_model: knobs})
        model = "free-model" if upstream_model == "free-upstream" else "fast-model"
        response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                              json={"model": model, "messages": HI, "stream": stream})
        assert response.status_code >= 400 or "error" in response.text, (knobs, response.text)
        texts.append(str(response.headers) + response.text)
    # The keys were really in play: each upstream received its own key on every request.
    sent = [entry["headers"]["authorization"] for entry in upstream.stats()["log"]]
    assert sent and set(sent) == {f"Bearer {MOCK_KEY}"}
    assert {entry["headers"]["authorization"] for entry in second_upstream.stats()["log"]} == {f"Bearer {FREE_KEY}"}

    gateway.drain_usage()
    rows = usage_rows(len(failures))
    assert len(rows) == len(failures)
    texts += [json.dumps([row.error_message, row.attempt_log]) for row in rows]
    texts.append(httpx.get(f"{gateway.url}/status", timeout=5).text)
    texts.append(gateway.logs())
    for model_admin in admin.site._registry.values():
        opts = model_admin.model._meta
        texts.append(admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).content.decode())
        for pk in model_admin.model._default_manager.values_list("pk", flat=True)[:50]:
            page = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]))
            assert page.status_code == 200
            texts.append(page.content.decode())
    everything = "\n".join(texts)
    assert "[redacted]" in everything  # the echoed keys were seen, and replaced
    for key in (MOCK_KEY, FREE_KEY):
        assert key not in everything
        assert key[-12:] not in everything  # nor a recognisable piece of it


# --- SSRF: who may point the gateway at a URL, and redirects ------------------------------------------


@pytest.mark.django_db
def test_only_staff_can_change_a_provider_base_url(client, django_user_model):
    from django.contrib.auth.models import Permission

    from routing.models import Provider

    provider = Provider.objects.create(name="acme", base_url="https://api.acme.test/v1", api_key_env="ACME_KEY")
    change = reverse("admin:routing_provider_change", args=[provider.pk])
    form = {"name": "acme", "kind": "openai_compatible", "base_url": "http://169.254.169.254/latest",
            "api_key_env": "ACME_KEY", "tier": "paid", "timeout_seconds": 60, "enabled": "on"}

    user = django_user_model.objects.create_user("mallory", password="pw-mallory-1")  # logged in, not staff
    client.force_login(user)
    for url in (change, reverse("admin:routing_provider_add"), reverse("admin:index")):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["location"]
    assert client.post(change, form).status_code == 302

    user.is_staff = True  # staff, but only allowed to look
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_provider"))
    client.force_login(user)
    page = client.get(change)
    assert page.status_code == 200 and 'name="base_url"' not in page.content.decode()
    assert client.post(change, form).status_code == 403
    assert client.get(reverse("admin:routing_provider_add")).status_code == 403

    provider.refresh_from_db()
    assert provider.base_url == "https://api.acme.test/v1"


WRITE_METHODS = {"post", "put", "patch", "delete"}


def test_the_api_has_no_endpoint_that_sets_a_provider_url(gateway):
    from routing.models import Provider

    schema = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    writes = [(method, path, operation) for path, item in schema["paths"].items()
              for method, operation in item.items() if method in WRITE_METHODS]
    assert writes, "the chat endpoints at least take a body"
    for method, path, operation in writes:
        assert "base_url" not in json.dumps(operation), (method, path)
        assert "provider" not in path.lower(), (method, path)
    before = list(Provider.objects.values_list("name", "base_url"))
    for path in ["/v1/providers", "/v1/providers/mockai", "/v1/models/fast-model", "/status", "/admin/routing"]:
        for method in ("POST", "PUT", "PATCH"):
            response = httpx.request(method, f"{gateway.url}{path}", timeout=10,
                                     json={"name": "mockai", "base_url": "http://169.254.169.254/"})
            assert response.status_code in (301, 302, 401, 403, 404, 405), (method, path, response.status_code)
    assert list(Provider.objects.values_list("name", "base_url")) == before


@pytest.fixture
def elsewhere():
    """Another loopback server, where a redirect would lead: it must never see a request."""
    counter = start_in_thread()
    yield counter
    counter.stop()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_an_upstream_redirect_is_never_followed(gateway, upstream, elsewhere, status, stream):
    target = {"location": f"{elsewhere.base_url}/chat/completions"}
    upstream.configure(models={"fast-upstream": {"status": status, "headers": target},
                               "smart-upstream": {"status": status, "headers": target}})
    alone = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                       json={"model": "fast-model", "messages": HI, "stream": stream})
    error = assert_openai_error(alone, 502, says="redirect")
    assert error["type"] == "upstream_error" and error["code"] == "all_candidates_failed"
    assert alone.headers["x-gateway-attempts"] == "1" and "location" not in alone.headers
    # With a fallback, the redirecting provider is just a failed attempt.
    fell_back = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                           json={"model": "smart-model", "messages": HI, "stream": stream})
    assert fell_back.status_code == 200 and fell_back.headers["x-gateway-model"] == "backup-model"
    assert fell_back.headers["x-gateway-attempts"] == "2"
    stats = elsewhere.stats()
    assert stats["requests"] == 0 and stats["connections_total"] == 0
    first, second = usage_rows(2)
    assert first.status == "error" and first.attempt_log[0]["status"] == status
    assert second.status == "ok" and second.attempt_log[0]["status"] == status
