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
