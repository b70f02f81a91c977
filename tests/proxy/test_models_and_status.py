"""Model listing, health and status, as a client and an operator see them."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import FREE_KEY, MOCK_KEY


def test_models_list_in_openai_shape(sdk, gateway, routing):
    routing.models["backup-model"].enabled = False
    routing.models["backup-model"].save()
    gateway.sync_config()
    ids = [model.id for model in sdk.models.list()]
    assert {"smart-model", "fast-model", "free-model", "auto", "auto:architect"} <= set(ids)
    assert "backup-model" not in ids  # disabled models are not offered
    raw = httpx.get(f"{gateway.base_url}/models").json()
    assert raw["object"] == "list"
    smart = next(model for model in raw["data"] if model["id"] == "smart-model")
    assert smart["object"] == "model" and smart["owned_by"] == "mockai" and isinstance(smart["created"], int)
    assert smart["context_window"] == 128000 and smart["pricing"]["output_per_million"] == 15


def test_model_get_including_ids_with_slashes(sdk, gateway, routing):
    from routing.models import Model

    Model.objects.create(public_id="mockai/vendor/model-x", provider=routing.paid, upstream_name="model-x")
    gateway.sync_config()
    assert sdk.models.retrieve("smart-model").id == "smart-model"
    assert sdk.models.retrieve("mockai/vendor/model-x").owned_by == "mockai"
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("nope")
    assert caught.value.body["code"] == "model_not_found"


def test_health_reports_database(gateway):
    response = httpx.get(f"{gateway.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_status_shows_providers_and_whether_keys_are_set_but_never_the_keys(gateway, routing):
    from routing.models import Provider

    Provider.objects.create(name="nokey", base_url="http://127.0.0.1:9/v1", api_key_env="NOKEY_TEST_API_KEY")
    gateway.sync_config()
    response = httpx.get(f"{gateway.url}/status")
    status = response.json()
    providers = {provider["name"]: provider for provider in status["providers"]}
    assert providers["mockai"]["key_set"] is True and providers["mockai"]["key_env"] == "MOCKAI_API_KEY"
    assert providers["nokey"]["key_set"] is False
    assert status["active_profile"] == "personal" and "work" in status["profiles"]
    assert status["quota"]["monthly_tokens"] == 60000 and status["version"]
    assert isinstance(status["circuits"], dict)  # providers whose circuit is open, half-open or counting
    assert MOCK_KEY not in response.text and FREE_KEY not in response.text


def test_openapi_docs_are_served(gateway):
    schema = httpx.get(f"{gateway.url}/openapi.json").json()
    assert "/v1/chat/completions" in schema["paths"] and "/v1/models" in schema["paths"]
    assert httpx.get(f"{gateway.url}/docs").status_code == 200


def test_keys_never_reach_the_logs(sdk, gateway, upstream):
    upstream.configure(default={"status": 401})
    with pytest.raises(openai.APIStatusError):
        sdk.chat.completions.create(model="smart-model", messages=[{"role": "user", "content": "hi"}])
    upstream.reset()
    sdk.chat.completions.create(model="fast-model", messages=[{"role": "user", "content": "hi"}])
    logs = gateway.logs()
    assert MOCK_KEY not in logs and FREE_KEY not in logs
