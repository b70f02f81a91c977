"""Proposed rankings: the benchmark leader wins with its numbers in the reason; humans' choices hold."""

from __future__ import annotations

import json
from datetime import date

import pytest

from research.matching import match_all
from research.ranking import RankingEntry, diff_rankings, propose_ranking, replacement_reason
from research.scoring import Component, FamilyScore, RoleScore, load_weights_file, score_roles
from tests.research.conftest import FETCHED


def role_score(model_id: str, score: float, *, aider: float | None = None, role: str = "implementation") -> RoleScore:
    families: tuple[FamilyScore, ...] = ()
    if aider is not None:
        component = Component(
            metric="aider_polyglot", label="Aider polyglot", unit="%", source="aider", family="coding", raw=aider,
            normalised=aider / 100, higher_is_better=True, as_of=date(2025, 8, 23),
            url="https://aider.test/board", recency=1.0, published_name=model_id,
        )  # fmt: skip
        families = (FamilyScore("coding", "aider", aider / 100, 3.0, 1.0, (component,)),)
    return RoleScore(model_id, role, "work", score, score, 1.0, families, ())


def scores(**values: float) -> dict[str, RoleScore]:
    return {model: role_score(model, value) for model, value in values.items()}


def ids(entries) -> list[str]:
    return [e.model_id for e in entries]


# ---- on the real fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_scores(all_records, catalogue):
    matches = match_all([r.model_name for r in all_records], catalogue, {})
    identities = {name: m.identity for name, m in matches.items() if m.status == "matched"}
    return score_roles(
        ["implementation", "code_review"],
        records=all_records,
        identities=identities,
        candidates=sorted({e.identity for e in catalogue}),
        weights=load_weights_file(),
        profile="work",
        today=FETCHED,
        catalogue=catalogue,
    )


@pytest.mark.parametrize("role", ["implementation", "code_review"])
def test_the_coding_leader_replaces_a_trailing_primary_with_the_numbers_in_the_reason(fixture_scores, role):
    current = [
        RankingEntry("openai/gpt-4o", "primary", "Fast and cheap, good enough for edits"),
        RankingEntry("openai/gpt-4.1", "fallback", "Long context"),
    ]
    callable_ids = ["openai/gpt-4o", "openai/gpt-4.1", "openai/o3", "anthropic/claude-4-sonnet-20250522"]
    proposed = propose_ranking(current, fixture_scores[role], callable_ids)

    order = ids(proposed)
    assert order.index("openai/o3") < order.index("openai/gpt-4o")
    assert order.index("anthropic/claude-4-sonnet-20250522") < order.index("openai/gpt-4o")
    primary = proposed[0]
    assert (primary.model_id, primary.kind) == ("openai/o3", "primary")
    # Aider polyglot: o3 81.3% vs gpt-4o 23.1%; SWE-bench bash-only: 58.4% vs 21.62% (fixtures).
    assert "Aider polyglot 81% vs 23%" in primary.reason
    assert "SWE-bench bash-only 58% vs 22%" in primary.reason
    assert primary.reason.endswith("2025-07 data")
    assert primary.reason.startswith(f"openai/o3 over openai/gpt-4o for {role}")
    demoted = next(e for e in proposed if e.model_id == "openai/gpt-4o")
    assert (demoted.kind, demoted.reason) == ("fallback", "Fast and cheap, good enough for edits")


def test_a_leader_already_primary_keeps_its_human_reason(fixture_scores):
    current = [
        RankingEntry("openai/o3", "primary", "Chosen by the team in March"),
        RankingEntry("openai/gpt-4o", "fallback", "cheap"),
    ]
    proposed = propose_ranking(current, fixture_scores["implementation"], ["openai/o3", "openai/gpt-4o"])
    assert proposed == current
    assert diff_rankings(current, proposed) == []


# ---- rules -------------------------------------------------------------------------------------------


def test_a_newly_published_model_appears():
    current = [RankingEntry("a", "primary", "human"), RankingEntry("b", "fallback", "human")]
    proposed = propose_ranking(current, scores(a=0.6, b=0.5, new=0.55), ["a", "b", "new"])
    assert ids(proposed) == ["a", "b", "new"]  # not clearly better than b: it joins at the end
    assert proposed[2].kind == "fallback"
    assert proposed[2].reason == "new scores 0.55 for implementation"  # nothing below it to compare with
    climber = propose_ranking(current, scores(a=0.6, b=0.5, new=0.9), ["a", "b", "new"])
    assert ids(climber) == ["new", "a", "b"]
    assert climber[0].kind == "primary" and climber[0].reason.startswith("new over a")
    assert climber[1] == RankingEntry("a", "fallback", "human")


def test_only_callable_models_enter_and_uncallable_ones_leave():
    current = [RankingEntry("a", "primary", "human"), RankingEntry("gone", "fallback", "old")]
    proposed = propose_ranking(current, scores(a=0.5, gone=0.9, strong=0.95), ["a"])
    assert ids(proposed) == ["a"]
    changes = diff_rankings(current, proposed)
    assert [(c.action, c.model_id) for c in changes] == [("removed", "gone")]


def test_pinned_entries_never_move():
    current = [
        RankingEntry("a", "primary", "human a"),
        RankingEntry("pinned", "fallback", "keep me here", pinned=True),
        RankingEntry("c", "fallback", "human c"),
    ]
    board = scores(a=0.2, pinned=0.0, c=0.9, d=0.99)
    proposed = propose_ranking(current, board, ["a", "c", "d"])  # the pinned model is not even callable
    assert proposed[1] == current[1]
    assert ids(proposed) == ["d", "pinned", "c", "a"]
    pinned_primary = [RankingEntry("p", "primary", "ours", pinned=True), RankingEntry("x", "fallback", "")]
    proposed = propose_ranking(pinned_primary, scores(p=0.1, x=0.2, y=0.99), ["p", "x", "y"])
    assert proposed[0] == pinned_primary[0]
    assert [e.kind for e in proposed] == ["primary", "fallback", "fallback"]  # y outranks x, not the pin


def test_the_margin_rule_prevents_flapping():
    current = [RankingEntry("a", "primary", "human"), RankingEntry("b", "fallback", "human")]
    # Month to month b edges past a, then back: inside the margin nothing changes.
    for month in (scores(a=0.60, b=0.63), scores(a=0.62, b=0.60), scores(a=0.60, b=0.649)):
        assert propose_ranking(current, month, ["a", "b"]) == current
    swapped = propose_ranking(current, scores(a=0.60, b=0.70), ["a", "b"])
    assert ids(swapped) == ["b", "a"]
    # Once swapped, the same small lead for a does not swap it back.
    assert propose_ranking(swapped, scores(a=0.63, b=0.60), ["a", "b"]) == swapped
    assert ids(propose_ranking(current, scores(a=0.60, b=0.70), ["a", "b"], margin=0.2)) == ["a", "b"]


def test_entries_without_scores_are_not_overtaken():
    current = [RankingEntry("local", "primary", "runs offline"), RankingEntry("b", "fallback", "")]
    proposed = propose_ranking(current, scores(b=0.1, c=0.99), ["local", "b", "c"])
    assert ids(proposed)[0] == "local"
    assert proposed[0] == current[0]


def test_growth_is_capped_and_only_outscored_entries_drop_off():
    current = [RankingEntry(m, "primary" if m == "a" else "fallback", "") for m in "abc"]
    board = scores(a=0.5, b=0.4, c=0.3, d=0.35, e=0.9, f=0.2)
    proposed = propose_ranking(current, board, "abcdef", max_entries=4)
    assert ids(proposed) == ["e", "a", "b", "c"]
    tight = propose_ranking(current, board, "abcdef", max_entries=3)
    assert ids(tight) == ["e", "a", "b"]  # c was outscored by a newcomer that climbed above it
    assert ids(propose_ranking(current, board, "abc", max_entries=1)) == ["a", "b", "c"]  # never shrinks


def test_free_tier_entries_keep_their_kind():
    current = [RankingEntry("paid", "primary", "human"), RankingEntry("gratis", "free_tier", "free alt")]
    proposed = propose_ranking(current, scores(paid=0.3, gratis=0.9, newfree=0.8), ["paid", "gratis", "newfree"],
                               free_ids={"newfree"})  # fmt: skip
    assert [(e.model_id, e.kind) for e in proposed] == [
        ("gratis", "free_tier"),
        ("newfree", "free_tier"),
        ("paid", "primary"),
    ]
    assert proposed[0].reason == "free alt"


def test_replacement_reason_without_comparable_results():
    winner = role_score("w", 0.8, aider=88.0)
    loser = role_score("l", 0.3)
    assert replacement_reason("w", winner, "l", loser) == (
        "w over l for implementation (0.80 vs 0.30): Aider polyglot 88%, no comparable results for l, 2025-08 data"
    )
    assert (
        replacement_reason("w", winner, None, None)
        == "w scores 0.80 for implementation: Aider polyglot 88%, 2025-08 data"
    )
    assert replacement_reason("w", None, "l", loser) == "w: no benchmark data"
    both = replacement_reason("w", winner, "l", role_score("l", 0.3, aider=52.4))
    assert both == "w over l for implementation (0.80 vs 0.30): Aider polyglot 88% vs 52%, 2025-08 data"


def test_diff_lists_every_change_ready_for_a_run_row():
    before = [
        RankingEntry("a", "primary", "human"),
        RankingEntry("b", "fallback", "b reason"),
        RankingEntry("c", "fallback", "c reason"),
    ]
    after = [
        RankingEntry("d", "primary", "d over a"),
        RankingEntry("a", "fallback", "human"),
        RankingEntry("b", "fallback", "b reason"),
    ]
    changes = diff_rankings(before, after)
    assert [(c.action, c.model_id, c.before_index, c.after_index) for c in changes] == [
        ("added", "d", None, 0),
        ("moved", "a", 0, 1),
        ("moved", "b", 1, 2),
        ("removed", "c", 2, None),
    ]
    assert changes[1].before_kind == "primary" and changes[1].after_kind == "fallback"
    relabelled = diff_rankings(before, [before[0], RankingEntry("b", "free_tier", "b reason"), before[2]])
    assert [(c.action, c.model_id, c.after_kind) for c in relabelled] == [("updated", "b", "free_tier")]
    stored = json.loads(json.dumps([c.as_dict() for c in changes]))
    assert stored[0] == {
        "action": "added",
        "model_id": "d",
        "before_index": None,
        "after_index": 0,
        "before_kind": None,
        "after_kind": "primary",
        "before_reason": None,
        "after_reason": "d over a",
    }


def test_trimming_drops_rows_that_cannot_serve_first_and_keeps_pins_and_the_primary_in_place():
    from research.evaluation import trim_ranking

    current = [RankingEntry("a", "primary", "", False), RankingEntry("pin", "fallback", "kept", True)]
    proposed = [
        RankingEntry("new1", "primary", "x", False), RankingEntry("pin", "fallback", "kept", True),
        RankingEntry("new2", "fallback", "x", False), RankingEntry("a", "fallback", "", False),
        RankingEntry("new3", "fallback", "x", False), RankingEntry("b", "fallback", "x", False),
    ]
    trimmed = trim_ranking(proposed, current, limit=3, serving={"a", "b", "pin"})
    assert [e.model_id for e in trimmed] == ["new1", "pin", "a"]
    trimmed = trim_ranking(proposed, current, limit=4, serving={"a", "b", "pin"})
    assert [e.model_id for e in trimmed] == ["new1", "pin", "a", "b"]
