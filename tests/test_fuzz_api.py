"""Fuzzing the public API through the real gateway: never a 5xx, and every error in the shape its clients parse.

Two layers: schemathesis walks the gateway's own OpenAPI schema (every operation, valid and invalid
inputs), and hypothesis posts hostile JSON of our own making (deep nesting, huge numbers, NUL, lone
surrogates, wrong types) at /v1/chat/completions and /v1/messages. Examples are bounded and derandomized, so a run is
reproducible and stays well under a minute.
"""

from __future__ import annotations

import copy
import json
import re

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from gateway_project.api import api
from tests.conftest import GatewayProcess

FUZZ = settings(max_examples=30, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
SCHEMA_FUZZ = settings(FUZZ, max_examples=60)  # per operation; most of them take no input at all
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


def assert_error_shape(path: str, status: int, content_type: str, body: bytes, request_type: str = "") -> None:
    """Never a 5xx; under /v1 every 4xx is JSON in Anthropic's shape on /v1/messages, OpenAI's elsewhere."""
    assert status < 500, f"{status} on {path}: {body[:300]!r}"
    if status < 400 or not path.startswith("/v1/"):
        return
    if status == 400 and not body and request_type.startswith("multipart/form-data"):
        return  # Twisted (under Daphne) parses form bodies itself and drops what it cannot: not the app's answer
    assert content_type.startswith("application/json"), f"{status} on {path} is {content_type}: {body[:300]!r}"
    data = json.loads(body)
    error = data.get("error") if isinstance(data, dict) else None
    if path.startswith("/v1/messages"):
        assert data.get("type") == "error" and set(error) == {"type", "message"}, f"{status} on {path}: {data}"
    elif path.startswith("/v1/"):
        assert set(data) == {"error"} and set(error) == OPENAI_ERROR_KEYS, f"{status} on {path}: {data}"
    assert isinstance(error["message"], str) and error["message"], data


# --- schemathesis: the OpenAPI schema the gateway serves ------------------------------------------------


def fuzzable(raw: dict) -> dict:
    """The schema as served, plus a request body for POSTs that document none (/v1/messages parses its
    body by hand): those get arbitrary JSON objects."""
    raw = copy.deepcopy(raw)
    for item in raw["paths"].values():
        post = item.get("post")
        if post is not None and "requestBody" not in post:
            post["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return raw


# Built from the app at collection (schemathesis' lazy fixture loader does not run on pytest 9); the first
# test below checks that it is exactly what the gateway process serves at /openapi.json.
schema = schemathesis.openapi.from_dict(fuzzable(api.get_openapi_schema()))


def test_the_fuzzed_schema_is_the_one_the_gateway_serves(gateway):
    served = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    assert json.loads(json.dumps(api.get_openapi_schema())) == served
    paths = {(method.upper(), path) for path, item in served["paths"].items() for method in item}
    assert {
        ("POST", "/v1/chat/completions"), ("POST", "/v1/messages"), ("GET", "/v1/models"),
        ("GET", "/v1/models/{model_id}"), ("GET", "/health"), ("GET", "/status"),
    } <= paths


def openai_or_anthropic_errors(ctx, response, case) -> None:
    content_type = (response.headers.get("content-type") or [""])[0]
    request_type = response.request.headers.get("content-type", "")
    assert_error_shape(case.operation.path, response.status_code, content_type, response.content, request_type)


@schema.parametrize()
@SCHEMA_FUZZ
def test_every_operation_survives_schema_fuzzing(case, gateway):
    case.call_and_validate(base_url=gateway.url, timeout=20, checks=[not_a_server_error, openai_or_anthropic_errors])


# --- hypothesis: hostile JSON of our own -----------------------------------------------------------------

MODELS = ["fast-model", "smart-model", "free-model", "auto", "auto:debugging", "auto:", "nope"]
weird_text = st.one_of(
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "\udfff", "x\r\nSet-Cookie: a=b", "../../admin",
                     "%2e%2e", "\u2028", "\ufeff", "😀" * 50, "a" * 5000]),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-16", categories=["Cs", "Cc", "Zl", "Zp", "Co"]), max_size=10),
)
scalars = st.one_of(
    st.none(), st.booleans(), weird_text,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e308, -1e308, 5e-324, 2**63, -(2**63) - 1]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(weird_text, inner, max_size=4)), max_leaves=20)


def nested_json(depth: int) -> str:
    """`depth` levels of alternating objects and lists, as text (json.dumps itself stops near 1000)."""
    opening = "".join("[" if level % 2 else '{"k":' for level in range(depth))
    closing = "".join("]" if level % 2 else "}" for level in reversed(range(depth)))
    return f"{opening}1{closing}"


def deep_marker(depth: int) -> str:
    """A string that `encode` replaces with `nested_json(depth)`."""
    return f"\x01deep{depth}\x01"


depths = st.one_of(st.integers(min_value=1, max_value=1100), st.sampled_from([128, 129, 254, 255, 1023, 1024]))
deep = depths.map(deep_marker)
content = st.one_of(weird_text, json_values, deep,
                    st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "image", "x"])},
                                                   optional={"text": weird_text, "image_url": json_values}),
                             max_size=3))
message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", "developer", "bot"])},
                          optional={"content": content, "tool_calls": json_values, "name": weird_text,
                                    "tool_call_id": weird_text}),
    json_values,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(st.sampled_from(MODELS), weird_text, json_values),
        "messages": st.one_of(st.lists(message, max_size=4), json_values, deep),
        "stream": st.one_of(st.booleans(), json_values),
        "conversation_id": st.one_of(weird_text, json_values),
        "role": st.one_of(weird_text, st.sampled_from(["debugging", "general"])),
        "profile": st.one_of(weird_text, st.sampled_from(["personal", "work"])),
        "max_tokens": scalars, "temperature": scalars, "n": st.one_of(scalars, st.integers(0, 200)),
        "tools": st.one_of(json_values, deep), "tool_choice": json_values, "response_format": json_values,
        "stream_options": json_values, "metadata": st.one_of(json_values, deep), "system": json_values,
    },
)
# What an HTTP client will send at all (no CR, LF, NUL, no edge whitespace), less the bytes Daphne itself
# refuses with its own HTML 400 before the app sees the request (its INVALID_HEADER_VALUE_BYTES).
header_values = st.binary(max_size=40).map(bytes.strip).filter(
    lambda v: not set(v) & set(b"\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85"))


def post(gateway: GatewayProcess, path: str, body: bytes, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{gateway.url}{path}", content=body, timeout=20,
                      headers={"content-type": "application/json", **(headers or {})})


def encode(body: object) -> bytes:
    """JSON as a buggy client might send it: lone surrogates as \\udXXX escapes (ensure_ascii), and
    `deep_marker`s replaced by their nesting."""
    text = json.dumps(body, ensure_ascii=True)
    return re.sub(r'"\\u0001deep(\d+)\\u0001"', lambda m: nested_json(int(m.group(1))), text).encode()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens"])
@FUZZ
@given(body=bodies, conversation=header_values)
def test_hostile_request_bodies_never_get_a_5xx(gateway, path, body, conversation):
    response = post(gateway, path, encode(body), {"x-conversation-id": conversation})
    assert_error_shape(path, response.status_code, response.headers.get("content-type", ""), response.content)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
@FUZZ
@given(raw=st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"null", b"[]", b'"x"', b"1e999", b"-0", b"{", b'{"model":', b"\xff\xfe{}",
                     b'{"model": "fast-model", "messages": [{"role": "user", "content": "hi"}]}\x00',
                     b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000 + b"1" + b"}" * 2000]),
))
def test_malformed_bytes_never_get_a_5xx(gateway, path, raw):
    response = post(gateway, path, raw)
    assert_error_shape(path, response.status_code, response.headers.get("content-type", ""), response.content)


@pytest.mark.parametrize(("depth", "status"), [(100, 200), (200, 400), (300, 400), (1000, 400), (1100, 400)])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_deep_nesting_is_a_400_not_a_500(gateway, path, depth, status):
    """Parsing allows 1024 levels but re-encoding what is forwarded allows 254: the gateway refuses at 128."""
    body = {"model": "fast-model", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
            "metadata": {"x": deep_marker(depth)}}
    response = post(gateway, path, encode(body))
    assert response.status_code == status, response.text
    assert_error_shape(path, response.status_code, response.headers["content-type"], response.content)
