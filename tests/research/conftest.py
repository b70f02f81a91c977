"""Research fixtures: the real leaderboard and catalogue samples in tests/fixtures/, parsed once."""

from __future__ import annotations

from datetime import date

import pytest

from research.sources import PARSERS, CatalogueEntry, MetricRecord
from tests.fixture_files import CATALOGUES, LEADERBOARDS

FETCHED = date(2026, 1, 15)
CATALOGUE_URL = "https://openrouter.ai/api/v1/models"
LEADERBOARD_FILES = {
    "aider": "aider_polyglot_leaderboard.yml",
    "lmarena": "lmarena_leaderboard-text.excerpt.json",
    "livebench": "livebench_table_2026_01_08.excerpt.csv",
    "swebench": "swe-bench_leaderboards.excerpt.json",
    "arena_hard": "arena_hard_auto_leaderboard_v0.1.csv",
    "open_llm": "open_llm_leaderboard_contents_rows.excerpt.json",
}


def leaderboard_url(kind: str) -> str:
    return f"https://example.test/{LEADERBOARD_FILES[kind]}"


def parse_leaderboard(kind: str) -> list[MetricRecord]:
    extra = {}
    if kind == "livebench":
        extra["categories"] = (LEADERBOARDS / "livebench_categories_2026_01_08.json").read_bytes()
    body = (LEADERBOARDS / LEADERBOARD_FILES[kind]).read_bytes()
    return PARSERS[kind](body, url=leaderboard_url(kind), fetched_at=FETCHED, **extra)


def fixture_catalogue() -> list[CatalogueEntry]:
    """Both recorded OpenRouter answers: the 2026 one (canonical slugs) wins where ids overlap."""
    parse = PARSERS["openrouter"]
    new = parse((CATALOGUES / "openrouter_models.recorded.json").read_bytes(), url=CATALOGUE_URL, fetched_at=FETCHED)
    old = parse(
        (CATALOGUES / "openrouter_models_2025-04.excerpt.json").read_bytes(), url=CATALOGUE_URL, fetched_at=FETCHED
    )
    ids = {entry.id for entry in new}
    return [*new, *(entry for entry in old if entry.id not in ids)]


@pytest.fixture(scope="session")
def catalogue() -> list[CatalogueEntry]:
    return fixture_catalogue()


@pytest.fixture(scope="session")
def all_records() -> list[MetricRecord]:
    return [record for kind in LEADERBOARD_FILES for record in parse_leaderboard(kind)]


# ---- a research world on loopback: the real files published by a local host, a provider listing models ----

PUBLISHED = {
    "/openrouter/api/v1/models": CATALOGUES / "openrouter_models.recorded.json",
    "/openrouter-archive/models.json": CATALOGUES / "openrouter_models_2025-04.excerpt.json",
    "/aider/polyglot_leaderboard.yml": LEADERBOARDS / "aider_polyglot_leaderboard.yml",
    "/lmarena/leaderboard-text.json": LEADERBOARDS / "lmarena_leaderboard-text.excerpt.json",
    "/livebench/table.csv": LEADERBOARDS / "livebench_table_2026_01_08.excerpt.csv",
    "/livebench/categories.json": LEADERBOARDS / "livebench_categories_2026_01_08.json",
    "/swebench/leaderboards.json": LEADERBOARDS / "swe-bench_leaderboards.excerpt.json",
}
# The model rows of the world: (public id, OpenRouter id as upstream name). o3 leads Aider polyglot
# (81%) where gpt-4o trails (23%); claude-3.7 sits between (60%).
WORLD_MODELS = {"gpt-4o": "openai/gpt-4o", "o3": "openai/o3", "claude-3.7": "anthropic/claude-3.7-sonnet"}
HUMAN_REASON = "Chosen by hand: fast and good enough"


def provider_catalogue_json() -> bytes:
    """The provider's own /models: OpenRouter's answer, both recorded snapshots merged (ids unique)."""
    import json

    new = json.loads((CATALOGUES / "openrouter_models.recorded.json").read_bytes())["data"]
    old = json.loads((CATALOGUES / "openrouter_models_2025-04.excerpt.json").read_bytes())["data"]
    ids = {entry["id"] for entry in new}
    return json.dumps({"data": new + [entry for entry in old if entry["id"] not in ids]}).encode()


@pytest.fixture
def files():
    from tests.research.loopback import file_host

    with file_host() as host:
        for path, file in PUBLISHED.items():
            host.publish(path, file.read_bytes())
        host.publish("/provider/v1/models", provider_catalogue_json(), content_type="application/json")
        yield host


def point_sources_at(host) -> None:
    """The shipped sources, re-pointed at the loopback host (as an operator points them at a mirror)."""
    from research.models import ResearchSource
    from research.setup import research_setup

    research_setup()
    ResearchSource.objects.update(enabled=False)
    urls = {
        "openrouter": ("/openrouter/api/v1/models", {}),
        "aider": ("/aider/polyglot_leaderboard.yml", {}),
        "lmarena": ("/lmarena/leaderboard-text.json", {}),
        "livebench": ("/livebench/table.csv", {"categories": "/livebench/categories.json"}),
        "swebench": ("/swebench/leaderboards.json", {}),
    }
    for name, (path, documents) in urls.items():
        ResearchSource.objects.filter(name=name).update(
            url=host.url(path), documents={k: host.url(v) for k, v in documents.items()}, enabled=True
        )
    ResearchSource.objects.create(name="openrouter_archive", kind="openrouter",
                                  url=host.url("/openrouter-archive/models.json"))


def build_world(host) -> dict:
    """Roles, one OpenRouter-like provider on the loopback host, three model rows and hand-made rankings:
    implementation and code_review led by gpt-4o (which trails the coding boards), architect with a pin."""
    from routing.models import Model, Profile, Provider, RankingEntry, Role, RoleName

    for role_name in RoleName.values:
        Role.objects.get_or_create(name=role_name)
    provider = Provider.objects.create(name="openrouter", base_url=host.url("/provider/v1"), api_key_env="",
                                       tier="paid", timeout_seconds=5)
    models = {
        public_id: Model.objects.create(public_id=public_id, provider=provider, upstream_name=upstream,
                                        context_window=128000, input_price_per_mtok=2, output_price_per_mtok=8)
        for public_id, upstream in WORLD_MODELS.items()
    }
    # The provider lists 200000 tokens for claude-3.7: ×25, beyond the guard (held, never applied).
    Model.objects.filter(public_id="claude-3.7").update(context_window=8000)
    roles = {role.name: role for role in Role.objects.all()}
    rankings = {
        "implementation": [("gpt-4o", "primary", HUMAN_REASON, False), ("claude-3.7", "fallback", "", False)],
        "code_review": [("gpt-4o", "primary", HUMAN_REASON, False)],
        "architect": [("gpt-4o", "primary", "Pinned by the team", True), ("claude-3.7", "fallback", "", False)],
    }
    for role, entries in rankings.items():
        for position, (model, kind, reason, pinned) in enumerate(entries):
            RankingEntry.objects.create(role=roles[role], model=models[model], kind=kind, position=position,
                                        reason=reason, pinned=pinned)
    Profile.objects.get_or_create(name="personal", defaults={"tiers": "free,paid,enterprise"})
    point_sources_at(host)
    return models


@pytest.fixture
def world(transactional_db, files, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.RESEARCH_PROFILE = "work"
    settings.RESEARCH_MAX_ENTRIES = 30  # room for every candidate: the order, not the cut, is under test
    settings.RESEARCH_FETCH_TIMEOUT_SECONDS = 2.0
    build_world(files)
    return files
