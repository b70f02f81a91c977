"""The selection step is pure: snapshots in, ordered candidates out. Tested case by case, no I/O."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import ModelNotAvailable, ModelNotFound
from providers.specs import ModelSpec, ProviderSpec
from routing.selection import resolve_profile, select_candidates
from routing.snapshot import ProfileSpec, RankedModel, RoutingSnapshot


def provider(name: str, tier: str, **changes) -> ProviderSpec:
    spec = ProviderSpec(name=name, kind="openai_compatible", base_url=f"http://{name}", tier=tier,
                        timeout_seconds=10, enabled=True, key_env=f"{name.upper()}_API_KEY", api_key="k")
    return dataclasses.replace(spec, **changes)


def model(public_id: str, provider_name: str, **changes) -> ModelSpec:
    return dataclasses.replace(ModelSpec(public_id=public_id, provider=provider_name, upstream_name=public_id),
                               **changes)


def snapshot(**changes) -> RoutingSnapshot:
    providers = {p.name: p for p in [provider("free", "free"), provider("paid", "paid"), provider("ent", "enterprise")]}
    models = {m.public_id: m for m in [
        model("p1", "paid", fallbacks=("p2", "e1")), model("p2", "paid"), model("f1", "free"), model("e1", "ent"),
        model("novision", "paid", supports_vision=False, supports_tools=False),
    ]}
    rankings = {
        "general": (RankedModel("p1", "primary"), RankedModel("e1", "fallback"), RankedModel("f1", "free_tier")),
        "architect": (RankedModel("novision", "primary"), RankedModel("p2", "fallback")),
    }
    profiles = {
        "personal": ProfileSpec("personal", ("free", "paid", "enterprise")),
        "work": ProfileSpec("work", ("enterprise", "paid")),
        "paid-only": ProfileSpec("paid-only", ("free", "paid", "enterprise"), frozenset({"paid"})),
    }
    base = RoutingSnapshot(providers=providers, models=models, rankings=rankings, profiles=profiles,
                           roles=frozenset({"general", "architect", "debugging"}), default_profile="personal",
                           supported_kinds=frozenset({"openai_compatible"}))
    return dataclasses.replace(base, **changes)


def ids(candidates) -> list[str]:
    return [candidate.model.public_id for candidate in candidates]


def pick(snap: RoutingSnapshot, model_id: str, role: str | None = None, profile: str | None = None,
         needs: frozenset[str] = frozenset()) -> list[str]:
    return ids(select_candidates(snap, model=model_id, role=role, profile=resolve_profile(snap, profile),
                                 needs=needs))


def test_auto_orders_by_profile_tier_preference_then_ranking():
    snap = snapshot()
    assert pick(snap, "auto") == ["f1", "p1", "e1"]  # personal: free first
    assert pick(snap, "auto", profile="work") == ["e1", "p1"]  # work: enterprise first, no free tier
    assert pick(snap, "auto", profile="paid-only") == ["p1"]  # restricted to one provider


def test_auto_uses_the_role_ranking_and_defaults_to_general():
    snap = snapshot()
    assert pick(snap, "auto", role="architect") == ["novision", "p2"]
    assert pick(snap, "auto", role="debugging") == ["f1", "p1", "e1"]  # no ranking of its own: general's
    assert pick(snap, "auto:architect", role="architect") == ["novision", "p2"]


def test_auto_filters_models_lacking_a_needed_capability():
    snap = snapshot()
    assert pick(snap, "auto", role="architect", needs=frozenset({"tools"})) == ["p2"]
    snap.models["p2"] = model("p2", "paid", supports_vision=True)
    assert pick(snap, "auto", role="architect", needs=frozenset({"vision"})) == ["p2"]
    with pytest.raises(ModelNotAvailable, match="does not support vision"):
        pick(snap, "novision", needs=frozenset({"vision"}))


def test_auto_skips_disabled_keyless_and_unsupported():
    snap = snapshot()
    snap.providers["free"] = provider("free", "free", api_key=None)
    snap.providers["ent"] = provider("ent", "enterprise", kind="vertex")
    snap.models["p1"] = model("p1", "paid", enabled=False)
    with pytest.raises(ModelNotAvailable) as caught:
        pick(snap, "auto")
    message = caught.value.message
    assert "FREE_API_KEY" in message and "vertex" in message and "disabled" in message


def test_provider_needing_no_key_is_usable_without_one():
    snap = snapshot()
    snap.providers["free"] = provider("free", "free", key_env="", api_key=None)
    assert pick(snap, "auto")[0] == "f1"


def test_named_model_then_its_usable_fallbacks():
    snap = snapshot()
    assert pick(snap, "p1") == ["p1", "p2", "e1"]
    assert pick(snap, "p1", profile="paid-only") == ["p1", "p2"]  # e1 is outside the profile
    snap.providers["paid"] = provider("paid", "paid", enabled=False)
    with pytest.raises(ModelNotAvailable, match="disabled"):
        pick(snap, "p1")


def test_named_model_outside_profile_is_refused():
    with pytest.raises(ModelNotAvailable, match="profile 'work'"):
        pick(snapshot(), "f1", profile="work")


def test_pattern_route_to_a_provider():
    candidates = select_candidates(snapshot(), model="paid/brand-new", role=None,
                                   profile=resolve_profile(snapshot(), None))
    assert [(c.provider.name, c.model.upstream_name, c.kind) for c in candidates] == [
        ("paid", "brand-new", "pattern")
    ]
    assert candidates[0].reason == "pattern route paid/<model> to provider 'paid' (upstream model 'brand-new')"


def test_unknown_model_and_unknown_provider_prefix_are_404():
    with pytest.raises(ModelNotFound):
        pick(snapshot(), "nothing-like-this")
    with pytest.raises(ModelNotFound):
        pick(snapshot(), "nobody/some-model")
    with pytest.raises(ModelNotFound):
        pick(snapshot(), "paid/")


def test_unknown_profile_and_missing_active_profile():
    snap = snapshot()
    with pytest.raises(ModelNotAvailable, match="Unknown profile"):
        resolve_profile(snap, "ghost")
    permissive = resolve_profile(dataclasses.replace(snap, default_profile="absent"), None)
    assert permissive.tiers == ("free", "paid", "enterprise")


def test_role_without_any_ranking_is_explained():
    snap = snapshot(rankings={})
    with pytest.raises(ModelNotAvailable, match="no ranked models"):
        pick(snap, "auto")


def reasons(snap: RoutingSnapshot, model_id: str, role: str | None = None, profile: str | None = None) -> list:
    return [(c.model.public_id, c.kind, c.reason) for c in
            select_candidates(snap, model=model_id, role=role, profile=resolve_profile(snap, profile))]


def test_each_candidate_says_why_it_is_there():
    snap = snapshot(rankings={"general": (RankedModel("p1", "primary", "best value for code"),
                                          RankedModel("e1", "fallback"), RankedModel("f1", "free_tier", "no cost"))})
    assert reasons(snap, "auto") == [
        ("f1", "free_tier", "role 'general' ranking #3 (free-tier alternative: no cost, free tier first in profile "
                            "'personal')"),
        ("p1", "primary", "role 'general' ranking #1 (primary: best value for code)"),
        ("e1", "fallback", "role 'general' ranking #2 (fallback)"),
    ]
    assert reasons(snap, "auto:debugging", role="debugging")[1][2] == (
        "role 'debugging' (unranked, so 'general') ranking #1 (primary: best value for code)")
    assert reasons(snap, "p1") == [
        ("p1", "requested", "model 'p1' requested by id"),
        ("p2", "fallback", "fallback #1 of 'p1'"),
        ("e1", "fallback", "fallback #2 of 'p1'"),
    ]
    assert reasons(snap, "p1", profile="paid-only")[1:] == [("p2", "fallback", "fallback #1 of 'p1'")]


def test_embedding_models_serve_only_embedding_requests():
    snap = snapshot()
    snap.models["emb"] = model("emb", "paid", kind="embedding", fallbacks=("emb-mirror", "p2"))
    snap.models["emb-mirror"] = model("emb-mirror", "ent", kind="embedding")
    snap.rankings["general"] = (RankedModel("emb", "primary"), *snap.rankings["general"])
    embedding = frozenset({"embedding"})
    assert pick(snap, "emb", needs=embedding) == ["emb", "emb-mirror"]  # a chat model is no fallback
    with pytest.raises(ModelNotAvailable, match="use POST /v1/embeddings"):
        pick(snap, "emb")
    with pytest.raises(ModelNotAvailable, match="not an embedding model"):
        pick(snap, "p1", needs=embedding)
    assert "emb" not in pick(snap, "auto")  # a ranking that lists one by mistake skips it for chat
