"""Every kind of bad input gets a 4xx in OpenAI's error shape that says what to fix; never a 500."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import usage_rows


def post(gateway, content: bytes | str, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/chat/completions", content=content,
        headers={"content-type": "application/json", **(headers or {})}, timeout=10,
    )


def assert_openai_error(response: httpx.Response, status: int, *, param: str | None = None, says: str = ""):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param
    assert says.lower() in error["message"].lower()
    return error


MESSAGES = '"messages": [{"role": "user", "content": "hi"}]'


@pytest.mark.parametrize(("body", "param", "says"), [
    ("{not json", None, "not valid JSON"),
    ("[1, 2]", None, "JSON object"),
    ("", None, "not valid JSON"),
    ('{"model": "smart-model"}', "messages", "messages"),
    ('{"model": "smart-model", "messages": []}', "messages", "non-empty"),
    ('{"model": "smart-model", "messages": "hi"}', "messages", "non-empty list"),
    ('{"messages": [{"role": "user", "content": "hi"}]}', "model", "model"),
    ('{"model": 42, ' + MESSAGES + "}", "model", "model"),
    ('{"model": "smart-model", "messages": [{"role": "wizard", "content": "hi"}]}', "messages[0].role", "role"),
    ('{"model": "smart-model", "messages": [{"role": "user"}]}', "messages[0].content", "content"),
    ('{"model": "smart-model", "messages": [{"role": "user", "content": 5}]}', "messages[0].content", "string"),
    ('{"model": "smart-model", "messages": ["hi"]}', "messages[0]", "object"),
    ('{"model": "smart-model", "stream": "yes", ' + MESSAGES + "}", "stream", "boolean"),
    ('{"model": "smart-model", "temperature": "hot", ' + MESSAGES + "}", "temperature", "number"),
    ('{"model": "smart-model", "max_tokens": 1.5, ' + MESSAGES + "}", "max_tokens", "integer"),
    ('{"model": "smart-model", "n": 0, ' + MESSAGES + "}", "n", "at least 1"),
    ('{"model": "smart-model", "tools": {}, ' + MESSAGES + "}", "tools", "list"),
    ('{"model": "auto", "role": "wizard", ' + MESSAGES + "}", "role", "Unknown role"),
    ('{"model": "auto:wizard", ' + MESSAGES + "}", "role", "Unknown role"),
    ('{"model": "smart-model", "conversation_id": 7, ' + MESSAGES + "}", "conversation_id", "string"),
    ('{"model": "smart-model", "conversation_id": "a\\r\\nX-Evil: 1", ' + MESSAGES + "}", "conversation_id",
     "control characters"),
])
def test_malformed_requests_get_400(gateway, body, param, says):
    assert_openai_error(post(gateway, body), 400, param=param, says=says)


def test_unknown_model_is_404_model_not_found(sdk, gateway):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gpt-17-ultra", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["code"] == "model_not_found"
    assert "/v1/models" in caught.value.body["message"]


def test_model_whose_provider_has_no_key_is_400_naming_the_variable(sdk, gateway, routing):
    from routing.models import Model, Provider

    keyless = Provider.objects.create(name="keyless", base_url="http://127.0.0.1:9/v1",
                                      api_key_env="KEYLESS_TEST_API_KEY")
    Model.objects.create(public_id="locked-model", provider=keyless, upstream_name="locked")
    gateway.sync_config()
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="locked-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["code"] == "model_not_available"
    assert "KEYLESS_TEST_API_KEY" in caught.value.body["message"]


def test_disabled_model_and_disabled_provider_are_explained(sdk, gateway, routing):
    from routing.models import Model, Provider

    routing.models["fast-model"].enabled = False
    routing.models["fast-model"].save()
    paused = Provider.objects.create(name="paused", base_url="http://127.0.0.1:9/v1", api_key_env="MOCKAI_API_KEY",
                                     enabled=False)
    Model.objects.create(public_id="paused-model", provider=paused, upstream_name="paused")
    gateway.sync_config()
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fast-model", messages=[{"role": "user", "content": "hi"}])
    assert "the model is disabled" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="paused-model", messages=[{"role": "user", "content": "hi"}])
    assert "provider 'paused' is disabled" in caught.value.body["message"]


def test_auto_skips_unusable_models(sdk, gateway, routing):
    routing.models["fast-model"].enabled = False
    routing.models["fast-model"].save()
    gateway.sync_config()
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-model"] == "backup-model"


def test_oversized_body_is_413_and_recorded(gateway):
    from django.conf import settings

    too_big = b'{"model": "smart-model", "messages": [{"role": "user", "content": "' + b"x" * (
        settings.GATEWAY_MAX_BODY_BYTES + 10) + b'"}]}'
    assert_openai_error(post(gateway, too_big), 413, says="larger")
    [row] = usage_rows(1)
    assert (row.status, row.status_code, row.error_type) == ("error", 413, "request_too_large")


def test_too_many_messages_is_413(gateway):
    from django.conf import settings

    messages = ",".join(['{"role": "user", "content": "x"}'] * (settings.GATEWAY_MAX_MESSAGES + 1))
    assert_openai_error(post(gateway, '{"model": "smart-model", "messages": [' + messages + "]}"), 413,
                        param="messages", says="at most")


def test_unknown_profile_is_400(gateway):
    response = post(gateway, '{"model": "auto", ' + MESSAGES + "}", headers={"x-gateway-profile": "nope"})
    assert_openai_error(response, 400, param="profile", says="Unknown profile")


def test_upstream_refusal_is_passed_on_not_retried(sdk, gateway, upstream):
    upstream.configure(models={"smart-upstream": {"status": 400}})
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="smart-model", messages=[{"role": "user", "content": "hi"}])
    assert "mockai" in caught.value.body["message"]
    assert caught.value.response.headers["x-gateway-attempts"] == "1"


def test_upstream_rejecting_the_gateway_key_is_never_a_401_to_the_client(sdk, gateway, upstream):
    upstream.configure(default={"status": 401})
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="fast-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    assert "credentials" in caught.value.body["message"]


def test_failed_requests_are_recorded_too(gateway):
    post(gateway, "{not json")
    post(gateway, '{"model": "gpt-17-ultra", ' + MESSAGES + "}")
    rows = usage_rows(2)
    assert [(row.status, row.status_code) for row in rows] == [("error", 400), ("error", 404)]
    assert rows[1].requested_model == "gpt-17-ultra" and rows[1].error_type == "model_not_found"


def test_unknown_routes_and_methods_answer_in_json(gateway):
    response = httpx.get(f"{gateway.base_url}/chat/completions", timeout=5)
    assert_openai_error(response, 405, says="GET is not allowed")
    assert "POST" in response.headers["allow"]
    assert_openai_error(httpx.get(f"{gateway.base_url}/chat/completion", timeout=5), 404, says="No such endpoint")


def test_a_form_or_multipart_content_type_still_gets_an_openai_error(gateway):
    """Under Daphne, Twisted no longer parses POST bodies as forms: the gateway answers, in its own shape."""
    for content_type in ("multipart/form-data; boundary=zz", "application/x-www-form-urlencoded"):
        response = httpx.post(f"{gateway.base_url}/chat/completions", content=b"not a form at all",
                              headers={"content-type": content_type}, timeout=10)
        assert response.status_code == 400, (content_type, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"
