"""A whole research run against loopback hosts publishing the real leaderboard and catalogue files."""

from __future__ import annotations

import re

import pytest

from research import services
from research.models import ModelAlias, ResearchRun, ResearchSource
from routing.services import ranking_read
from tests.research.conftest import HUMAN_REASON

pytestmark = pytest.mark.timeout(120)


def order(role: str) -> list[str]:
    return [entry.model for entry in ranking_read(role=role)]


def test_a_run_ranks_the_coding_leader_above_the_trailer_with_reasons_naming_numbers(world):
    run = services.run_now(triggered_by="test")

    assert run.status == ResearchRun.Status.SUCCEEDED, run.error
    assert run.progress == 100
    assert {s["name"]: s["status"] for s in run.sources} == {
        "aider": "ok", "livebench": "ok", "lmarena": "ok", "openrouter": "ok", "openrouter_archive": "ok",
        "swebench": "ok",
    }
    assert all(s["records"] > 0 for s in run.sources)
    for role in ("implementation", "code_review"):
        ranking = ranking_read(role=role)
        ids = [entry.model for entry in ranking]
        assert ids.index("o3") < ids.index("gpt-4o") if "gpt-4o" in ids else "o3" in ids, (role, ids)
        primary = ranking[0]
        assert primary.kind == "primary" and primary.reason != HUMAN_REASON
        # "o3 over gpt-4o for implementation (0.45 vs 0.10): Aider polyglot 81% vs 27%, 2025-06 data"
        assert re.search(r"Aider polyglot \d+(\.\d+)?% vs \d+(\.\d+)?%", primary.reason), primary.reason
        assert re.search(r"\d{4}-\d{2} data", primary.reason), primary.reason
    assert set(run.changes) >= {"implementation", "code_review"}
    assert run.matched_count > 0 and run.unmatched_count > 0
    assert ModelAlias.objects.filter(status="unmatched", reviewed=False).exists()
    assert ResearchSource.objects.get(name="aider").last_status == "ok"


def test_debug_print(world):
    run = services.run_now(triggered_by="test")
    print(run.summary)
    for role in ("implementation", "code_review", "architect", "documentation"):
        for e in ranking_read(role=role):
            print(role, e)
    print(run.sources)
    print(run.catalogue)
