"""Scores per role: scaled within each publisher, one publisher per family, stale data and gaps cost."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from research.scoring import (
    DEFAULT_WEIGHTS_PATH,
    CostScale,
    ResearchWeights,
    WeightsError,
    cost_score,
    dump_weights,
    load_weights,
    load_weights_file,
    normalise,
    score_role,
    score_roles,
)
from research.sources import CatalogueEntry, MetricRecord

TODAY = date(2026, 1, 15)


def rec(model: str, value: float, *, metric: str = "aider_polyglot", family: str = "coding", source: str = "aider",
        as_of: date = TODAY, higher: bool = True) -> MetricRecord:  # fmt: skip
    return MetricRecord(model, metric, family, value, higher, source, as_of, f"https://{source}.test/board")


def priced(identity: str, per_million_in: float, per_million_out: float, *, free: bool = False) -> CatalogueEntry:
    return CatalogueEntry(
        identity=identity,
        id=identity + (":free" if free else ""),
        name=identity,
        context_window=128000,
        input_price_per_token=0.0 if free else per_million_in / 1e6,
        output_price_per_token=0.0 if free else per_million_out / 1e6,
        modalities=("text",),
        free=free,
        source_url="https://openrouter.ai/api/v1/models",
        as_of=TODAY,
    )


def weights(roles: dict, **kwargs) -> ResearchWeights:
    return ResearchWeights(roles=roles, **kwargs)


def identity(records) -> dict[str, str]:
    return {r.model_name: r.model_name for r in records}


def score(role_weights: dict, records, candidates, *, catalogue=(), profile="work", **kwargs):
    w = weights({"role": role_weights}, **kwargs)
    return score_role(
        "role",
        records=records,
        identities=identity(records),
        candidates=candidates,
        weights=w,
        profile=profile,
        today=TODAY,
        catalogue=catalogue,
    )


# ---- normalising -------------------------------------------------------------------------------------


def test_min_max_within_each_source_and_metric_respecting_direction():
    records = [
        rec("a", 80), rec("b", 60), rec("c", 40),
        rec("a", 10, metric="aider_seconds_per_case", family="speed", higher=False),
        rec("b", 30, metric="aider_seconds_per_case", family="speed", higher=False),
        rec("a", 1400, metric="lmarena_coding", source="lmarena"),
        rec("b", 1400, metric="lmarena_coding", source="lmarena"),
    ]  # fmt: skip
    values = {(n.record.model_name, n.record.metric): n.normalised for n in normalise(records)}
    assert values[("a", "aider_polyglot")] == 1.0
    assert values[("b", "aider_polyglot")] == 0.5
    assert values[("c", "aider_polyglot")] == 0.0
    assert values[("a", "aider_seconds_per_case")] == 1.0  # faster is better
    assert values[("b", "aider_seconds_per_case")] == 0.0
    assert values[("a", "lmarena_coding")] == 0.5  # a tie says nothing either way


def test_the_scale_is_the_publishers_not_our_catalogues():
    records = [rec("ours", 50), rec("theirs-best", 90), rec("theirs-worst", 10)]
    scores = score({"coding": 1}, records, ["ours"])
    assert scores["ours"].families[0].value == pytest.approx(0.5)


# ---- weights file ------------------------------------------------------------------------------------


def test_shipped_weights_file_has_the_agreed_defaults():
    w = load_weights_file()
    assert DEFAULT_WEIGHTS_PATH.name == "research_weights.yaml"
    assert set(w.roles) == {
        "architect", "implementation", "code_review", "debugging", "testing", "documentation", "research", "general",
    }  # fmt: skip
    assert w.roles["architect"] == {"reasoning": 3, "coding": 2, "long_context": 1, "speed": 1, "cost": 1}
    assert w.roles["implementation"] == {"coding": 3, "instruction_following": 1, "cost": 1}
    assert w.roles["documentation"] == {"writing": 2, "cost": 2, "speed": 2}
    assert w.roles["general"] == {"general_chat": 2, "cost": 1}
    assert w.profiles["personal"] > 1 > w.profiles["work"]
    assert w.half_life_days == 365


def test_weights_round_trip_through_yaml():
    w = load_weights_file()
    assert load_weights(dump_weights(w)) == w
    changed = ResearchWeights(roles={"x": {"coding": 2.5}}, profiles={"solo": 1.0}, half_life_days=90,
                              coverage_exponent=0.5, cost=CostScale(0.5, 0.2, 20.0))  # fmt: skip
    assert load_weights(dump_weights(changed)) == changed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("roles: {architect: {vibes: 3}}", "unknown family 'vibes'"),
        ("roles: {architect: {coding: -1}}", "roles.architect.coding must be a number ≥ 0"),
        ("roles: {architect: {coding: yes}}", "must be a number"),
        ("roles: {}", "'roles' must be a non-empty mapping"),
        ("- just a list", "must be a mapping"),
        ("roles: {a: {coding: 1}}\nhalf_life_days: 0", "half_life_days must be above 0"),
        ("roles: {a: {coding: 1}}\nprofiles: {}", "'profiles' must be a non-empty"),
        ("roles: {a: {coding: 1}}\ncost: {floor_per_million: 5, ceiling_per_million: 1}", "ceiling_per_million"),
        ("roles: {a: {coding: 1}}\nversion: 2", "unsupported version"),
        ("roles: [unclosed", "invalid YAML"),
    ],
)
def test_bad_weights_files_say_what_is_wrong(text, says):
    with pytest.raises(WeightsError, match=says):
        load_weights(text)


def test_profile_scales_the_cost_weight():
    w = load_weights_file()
    personal, work = w.role_weights("documentation", "personal"), w.role_weights("documentation", "work")
    assert personal["cost"] == 2 * w.profiles["personal"] and work["cost"] == 2 * w.profiles["work"]
    assert personal["writing"] == work["writing"] == 2
    with pytest.raises(WeightsError, match="unknown profile"):
        w.role_weights("documentation", "holiday")
    with pytest.raises(WeightsError, match="unknown role"):
        w.role_weights("poet", "work")


# ---- role scores -------------------------------------------------------------------------------------


def test_weighted_mean_over_families_with_a_coverage_penalty():
    records = [
        rec("full", 100), rec("low", 0),
        rec("full", 9, metric="lmarena_if", family="instruction_following", source="lmarena"),
        rec("low", 1, metric="lmarena_if", family="instruction_following", source="lmarena"),
        rec("half", 100),
    ]  # fmt: skip
    scores = score({"coding": 3, "instruction_following": 1}, records, ["full", "half", "low"])
    assert scores["full"].score == pytest.approx(1.0)
    assert scores["half"].quality == pytest.approx(1.0)  # what it has is as good as it gets...
    assert scores["half"].coverage == pytest.approx(0.75)  # ...but a quarter of the role is unknown
    assert scores["half"].score == pytest.approx(0.75)
    assert scores["half"].missing == ("instruction_following",)
    assert scores["low"].score == 0.0
    stricter = score({"coding": 3, "instruction_following": 1}, records, ["half"], coverage_exponent=2.0)
    assert stricter["half"].score == pytest.approx(0.75**2)


def test_older_results_weigh_less_with_a_configurable_half_life():
    year_ago = TODAY - timedelta(days=365)
    records = [
        rec("fresh", 100), rec("stale", 100, as_of=year_ago), rec("floor", 0),
    ]  # fmt: skip
    scores = score({"coding": 1}, records, ["fresh", "stale"])
    assert scores["fresh"].score == pytest.approx(1.0)
    assert scores["stale"].families[0].recency == pytest.approx(0.5)
    assert scores["stale"].score == pytest.approx(0.5)
    lenient = score({"coding": 1}, records, ["stale"], half_life_days=3650)
    assert lenient["stale"].score == pytest.approx(0.5**0.1)


def test_within_a_family_newer_metrics_outweigh_older_ones():
    old = TODAY - timedelta(days=730)
    records = [
        rec("m", 100, metric="livebench_coding", source="livebench"),
        rec("m", 0, metric="livebench_agentic_coding", source="livebench", as_of=old),
        rec("x", 0, metric="livebench_coding", source="livebench"),
        rec("x", 100, metric="livebench_agentic_coding", source="livebench", as_of=old),
    ]
    family = score({"coding": 1}, records, ["m"])["m"].families[0]
    assert family.value == pytest.approx(1 / 1.25)  # weights 1 and 0.25: (1×1 + 0.25×0) / 1.25


def test_one_publisher_per_family_chosen_by_coverage_never_averaged():
    records = [
        rec("a", 60), rec("b", 50), rec("c", 40),  # aider covers all three candidates
        rec("a", 0, metric="swebench_verified", source="swebench"),  # swebench only a and b, reversed
        rec("b", 100, metric="swebench_verified", source="swebench"),
    ]  # fmt: skip
    scores = score({"coding": 1}, records, ["a", "b", "c"])
    assert {s.families[0].source for s in scores.values()} == {"aider"}
    assert scores["a"].score > scores["b"].score > scores["c"].score
    # The other publisher's numbers are kept for explanations, not scored.
    assert [(c.source, c.raw) for c in scores["b"].context] == [("swebench", 100)]


def test_publisher_ties_go_to_the_fresher_data():
    old = TODAY - timedelta(days=400)
    records = [
        rec("a", 60, as_of=old), rec("b", 50, as_of=old),
        rec("a", 10, metric="swebench_verified", source="swebench"),
        rec("b", 90, metric="swebench_verified", source="swebench"),
    ]  # fmt: skip
    scores = score({"coding": 1}, records, ["a", "b"])
    assert scores["a"].families[0].source == "swebench"
    assert scores["b"].score > scores["a"].score


def test_a_model_published_twice_uses_its_latest_result():
    records = [
        rec("gpt-4o-2024-08-06", 23.1, as_of=date(2024, 12, 30)),
        rec("gpt-4o-2024-11-20", 18.2, as_of=date(2025, 1, 2)),
        rec("other", 50),
    ]
    scores = score_role(
        "role",
        records=records,
        identities={"gpt-4o-2024-08-06": "openai/gpt-4o", "gpt-4o-2024-11-20": "openai/gpt-4o", "other": "other"},
        candidates=["openai/gpt-4o"],
        weights=weights({"role": {"coding": 1}}),
        profile="work",
        today=TODAY,
    )
    (component,) = scores["openai/gpt-4o"].families[0].components
    assert (component.raw, component.published_name) == (18.2, "gpt-4o-2024-11-20")


def test_cost_from_prices_with_free_tier_best():
    scale = CostScale()
    assert cost_score(priced("free", 0, 0, free=True), scale) == (0.0, 1.0)
    assert cost_score(priced("cheap", 0.05, 0.1), scale)[1] == 1.0  # under the floor
    blended, value = cost_score(priced("mid", 3, 15), scale)
    assert blended == pytest.approx(6.0) and 0 < value < 1
    assert cost_score(priced("dear", 60, 240), scale)[1] == 0.0
    unpriced = CatalogueEntry("u", "u", "u", None, None, None, (), False)
    assert cost_score(unpriced, scale) is None


def test_personal_profile_prefers_the_cheap_model_work_prefers_the_strong_one():
    records = [rec("strong", 80), rec("cheap", 60), rec("floor", 20)]
    catalogue = [priced("strong", 15, 75), priced("cheap", 0, 0, free=True)]
    w = weights({"implementation": {"coding": 3, "cost": 1}}, profiles={"personal": 6.0, "work": 0.25})
    kwargs = dict(records=records, identities=identity(records), candidates=["strong", "cheap"], weights=w,
                  today=TODAY, catalogue=catalogue)  # fmt: skip
    work = score_role("implementation", profile="work", **kwargs)
    personal = score_role("implementation", profile="personal", **kwargs)
    assert work["strong"].score > work["cheap"].score
    assert personal["cheap"].score > personal["strong"].score
    cost = personal["cheap"].family("cost")
    assert cost is not None and cost.components[0].url == "https://openrouter.ai/api/v1/models"


def test_components_keep_source_url_and_date_for_explanations():
    records = [rec("a", 70, as_of=date(2025, 11, 24)), rec("b", 30)]
    result = score({"coding": 1}, records, ["a"])["a"]
    (component,) = result.families[0].components
    assert (component.url, component.as_of, component.label, component.unit) == (
        "https://aider.test/board",
        date(2025, 11, 24),
        "Aider polyglot",
        "%",
    )
    assert "Aider polyglot 70% (2025-11)" in result.explain()


def test_every_role_on_the_real_fixtures(all_records, catalogue):
    from research.matching import match_all

    matches = match_all([r.model_name for r in all_records], catalogue, {})
    identities = {name: m.identity for name, m in matches.items() if m.status == "matched"}
    candidates = sorted({e.identity for e in catalogue})
    results = score_roles(
        records=all_records,
        identities=identities,
        candidates=candidates,
        weights=load_weights_file(),
        profile="work",
        today=TODAY,
        catalogue=catalogue,
    )
    assert set(results) == set(load_weights_file().roles)
    for by_identity in results.values():
        assert set(by_identity) == set(candidates)
        assert all(0.0 <= s.score <= 1.0 and 0.0 <= s.coverage <= 1.0 for s in by_identity.values())
    implementation = results["implementation"]
    # Aider polyglot: o3 76.9/81.3% vs gpt-4o 18.2/23.1%, read off the fixture.
    assert implementation["openai/o3"].score > implementation["openai/gpt-4o"].score
    o3_coding = implementation["openai/o3"].family("coding")
    assert o3_coding is not None and o3_coding.source == "aider"
    # "o3" (76.9%) and "o3 (high)" (81.3%) are both dated 2025-06-25: same day, the better result is used.
    assert (o3_coding.components[0].raw, o3_coding.components[0].published_name) == (81.3, "o3 (high)")
