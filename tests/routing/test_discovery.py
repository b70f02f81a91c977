"""Model discovery against loopback servers replaying real catalogues (shared/fixtures/catalogues).

New models arrive as disabled `<provider>/<id>` rows with prices and context from the catalogue;
existing rows are never touched; the key goes in a header, never in the URL or an error message.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from providers.catalogue import parse_gemini_models, parse_openai_models
from routing.discovery import DiscoveryError, discover_models
from routing.models import Model, Provider
from routing.selectors import read_config_token
from tests.fixture_files import CATALOGUES
from tests.providers.scripted_upstream import Reply, ScriptedUpstream

KEY = "sk-discovery-test-9d1f"


@pytest.fixture
def server():
    upstream = ScriptedUpstream()
    yield upstream
    upstream.close()


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("DISCOVERY_TEST_KEY", KEY)


def provider(server: ScriptedUpstream, name: str, kind: str, path: str = "", key_env: str = "DISCOVERY_TEST_KEY"):
    return Provider.objects.create(name=name, kind=kind, base_url=f"{server.url}{path}", api_key_env=key_env)


def catalogue(name: str) -> bytes:
    return (CATALOGUES / name).read_bytes()


def test_openrouter_catalogue_adds_disabled_rows_with_prices_and_context(transactional_db, server):
    server.on("/api/v1/models", Reply(body=catalogue("openrouter_models.recorded.json")))
    orouter = provider(server, "orouter", "openai_compatible", "/api/v1")
    before = read_config_token()
    result = discover_models(orouter)
    assert result.added == ["orouter/anthropic/claude-sonnet-4", "orouter/openai/gpt-4.1-mini",
                            "orouter/openai/gpt-4o", "orouter/openai/gpt-3.5-turbo"]
    claude = Model.objects.get(public_id="orouter/anthropic/claude-sonnet-4")
    assert (claude.upstream_name, claude.enabled, claude.context_window) == (
        "anthropic/claude-sonnet-4", False, 1000000)
    assert (claude.input_price_per_mtok, claude.output_price_per_mtok) == (Decimal("3"), Decimal("15"))
    assert claude.supports_vision and claude.supports_tools
    mini = Model.objects.get(public_id="orouter/openai/gpt-4.1-mini")
    assert (mini.input_price_per_mtok, mini.output_price_per_mtok) == (Decimal("0.4"), Decimal("1.6"))
    [sent] = server.received
    assert sent.headers["authorization"] == f"Bearer {KEY}" and KEY not in sent.path
    assert read_config_token() != before, "new rows must reach the router's snapshot"
    assert "4 added (disabled until you enable them)" in result.summary()


def test_existing_rows_are_never_touched_and_a_second_run_adds_nothing(db, server):
    server.on("/api/v1/models", Reply(body=catalogue("openrouter_models.recorded.json")))
    orouter = provider(server, "orouter", "openai_compatible", "/api/v1")
    mine = Model.objects.create(public_id="orouter/openai/gpt-4o", provider=orouter, upstream_name="openai/gpt-4o",
                                input_price_per_mtok=9, enabled=True)
    Model.objects.create(public_id="cheap-gpt", provider=orouter, upstream_name="openai/gpt-3.5-turbo")
    result = discover_models(orouter)
    assert result.added == ["orouter/anthropic/claude-sonnet-4", "orouter/openai/gpt-4.1-mini"]
    assert result.known == 2
    mine.refresh_from_db()
    assert (mine.input_price_per_mtok, mine.enabled) == (Decimal("9"), True)
    assert not Model.objects.filter(public_id="orouter/openai/gpt-3.5-turbo").exists()
    assert discover_models(orouter).added == []


def test_gemini_catalogue_keeps_generate_content_models_and_follows_pages(db, server):
    first = json.loads(catalogue("gemini_v1beta_models.recorded.json"))
    server.on("/v1beta/models", Reply(body=catalogue("gemini_v1beta_models.recorded.json")),
              Reply.json({"models": [{"name": "models/gemini-next", "inputTokenLimit": 2000000,
                                      "supportedGenerationMethods": ["generateContent"]}]}))
    gemini = provider(server, "gem", "gemini")
    result = discover_models(gemini)
    chat = [m["name"].removeprefix("models/") for m in first["models"]
            if "generateContent" in m["supportedGenerationMethods"]]
    assert [f.upstream_name for f in result.found] == [*chat, "gemini-next"]
    assert "gem/gemini-embedding-001" not in result.added and "gem/imagen-4.0-generate-001" not in result.added
    flash = Model.objects.get(public_id="gem/gemini-2.5-flash")
    assert (flash.upstream_name, flash.context_window, flash.enabled) == ("gemini-2.5-flash", 1048576, False)
    page_one, page_two = server.received
    assert page_one.headers["x-goog-api-key"] == KEY and "key" not in page_one.query
    assert page_two.query["pageToken"] == [first["nextPageToken"]]


def test_ollama_tags(db, server):
    server.on("/api/tags", Reply(body=catalogue("ollama_api_tags.docs.json")))
    local = provider(server, "local", "ollama", "/v1", key_env="")
    assert discover_models(local).added == ["local/deepseek-r1:latest", "local/llama3.2:latest"]
    assert "authorization" not in server.received[0].headers


def test_anthropic_models_with_paging(db, server):
    # Shaped like Anthropic's documented GET /v1/models answer (no recorded one is in the fixtures).
    server.on("/v1/models",
              Reply.json({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                                    "created_at": "2025-09-29T00:00:00Z"}],
                          "has_more": True, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}),
              Reply.json({"data": [{"type": "model", "id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5",
                                    "created_at": "2025-10-01T00:00:00Z"}], "has_more": False}))
    claude = provider(server, "claude", "anthropic")
    assert discover_models(claude).added == ["claude/claude-sonnet-4-5", "claude/claude-haiku-4-5"]
    first, second = server.received
    assert first.headers["x-api-key"] == KEY and first.headers["anthropic-version"] == "2023-06-01"
    assert second.query["after_id"] == ["claude-sonnet-4-5"]


def test_openai_doc_example_is_not_valid_json_and_says_so(db, server):
    raw = catalogue("openai_v1_models.doc-example.txt")
    server.on("/v1/models", Reply(body=raw))
    openai_row = provider(server, "oai", "openai_compatible", "/v1")
    with pytest.raises(DiscoveryError, match="oai: the catalogue is not valid JSON"):
        discover_models(openai_row)
    server.on("/v1/models", Reply(body=raw.replace(b"},\n  ]", b"}\n  ]")))  # the doc's trailing comma removed
    assert discover_models(openai_row).added == ["oai/model-id-0", "oai/model-id-1", "oai/model-id-2"]


def test_refusals_name_the_status_but_never_the_key(db, server):
    server.on("/v1/models", Reply.json({"error": {"message": f"Incorrect API key provided: {KEY}"}}, status=401))
    with pytest.raises(DiscoveryError) as caught:
        discover_models(provider(server, "oai", "openai_compatible", "/v1"))
    assert "401" in str(caught.value) and KEY not in str(caught.value) and "[redacted]" in str(caught.value)


def test_vertex_has_no_catalogue_and_unreachable_servers_are_named(db, server):
    with pytest.raises(DiscoveryError, match="kind 'vertex'"):
        discover_models(provider(server, "vx", "vertex", key_env=""))
    gone = Provider.objects.create(name="gone", kind="ollama", base_url="http://127.0.0.1:9")
    with pytest.raises(DiscoveryError, match="gone: could not read the catalogue"):
        discover_models(gone)


def test_parsers_skip_non_chat_models():
    assert [m.upstream_name for m in parse_openai_models({"data": [
        {"id": "gpt-4o"}, {"id": "text-embedding-3-small"}, {"id": "whisper-1"}, {"id": "tts-1"},
        {"id": "img/gen", "architecture": {"output_modalities": ["image"]}},
        {"id": "router/auto", "pricing": {"prompt": "-1", "completion": "-1"}},
    ]})] == ["gpt-4o", "router/auto"]
    assert parse_openai_models({"data": [{"id": "router/auto", "pricing": {"prompt": "-1"}}]})[0] \
        .input_price_per_mtok == 0
    assert parse_gemini_models({"models": [{"name": "models/aqa", "supportedGenerationMethods": ["generateAnswer"]}]}) \
        == []


def test_command_reports_what_it_added(db, server, capsys):
    server.on("/api/tags", Reply(body=catalogue("ollama_api_tags.docs.json")))
    provider(server, "local", "ollama", key_env="")
    call_command("discover_models", "local")
    out = capsys.readouterr().out
    assert "local: 2 model(s) in the catalogue, 2 added" in out and "local/llama3.2:latest" in out
    with pytest.raises(CommandError, match="Unknown provider"):
        call_command("discover_models", "nope")


def test_command_without_names_reads_every_enabled_provider_and_fails_loudly(db, server, capsys):
    server.on("/api/tags", Reply(body=catalogue("ollama_api_tags.docs.json")))
    provider(server, "local", "ollama", key_env="")
    Provider.objects.create(name="off", kind="ollama", base_url="http://127.0.0.1:9", enabled=False)
    Provider.objects.create(name="vx", kind="vertex", base_url="http://127.0.0.1:9")
    with pytest.raises(CommandError, match="1 of 2 provider"):
        call_command("discover_models")
    captured = capsys.readouterr()
    assert "local: 2 model(s)" in captured.out and "kind 'vertex'" in captured.err


def test_admin_action(admin_client, server):
    server.on("/api/tags", Reply(body=catalogue("ollama_api_tags.docs.json")))
    local = provider(server, "local", "ollama", key_env="")
    vx = Provider.objects.create(name="vx", kind="vertex", base_url="http://127.0.0.1:9")
    response = admin_client.post(reverse("admin:routing_provider_changelist"), {
        "action": "discover_selected", "_selected_action": [local.pk, vx.pk]}, follow=True)
    assert response.status_code == 200
    added, refused = (str(message) for message in response.context["messages"])
    assert added.startswith("local: 2 model(s) in the catalogue, 2 added") and "kind 'vertex'" in refused
    assert Model.objects.filter(provider=local, enabled=False).count() == 2
