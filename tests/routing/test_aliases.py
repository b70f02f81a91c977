"""Model aliases: the ids agents send (Claude Code's `claude-opus-5-5`, ...) resolved to what the gateway serves.

Resolution is pure (snapshot in, candidates out); the document and the admin form validate what is saved.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.core.exceptions import ValidationError

from core.errors import ModelNotAvailable, ModelNotFound
from routing.aliases import alias_spec, ordered
from routing.config_io import (
    ConfigError,
    default_routing_path,
    load_routing_file,
    routing_config_export,
    routing_config_import,
)
from routing.selection import is_alias, resolve_profile, select_candidates
from tests.routing.test_selection import provider, snapshot


def with_aliases(*aliases: tuple[str, tuple[str, ...]], **changes):
    base = snapshot(**changes)
    return dataclasses.replace(base, aliases=ordered(alias_spec(pattern, targets) for pattern, targets in aliases))


def route(snap, model_id: str, role: str | None = None) -> list[tuple[str, str]]:
    found = select_candidates(snap, model=model_id, role=role, profile=resolve_profile(snap, None))
    return [(candidate.model.public_id, candidate.via) for candidate in found]


CLAUDE_CODE = (("claude-opus-*", ("anthropic/*", "auto")), ("claude-*haiku*", ("anthropic/*", "auto:general")),
               ("claude-*", ("p2",)))


def anthropic(**changes):
    return provider("anthropic", "paid", kind="anthropic", **changes)


def test_claude_codes_models_go_to_the_same_model_on_anthropic_when_it_has_a_key():
    snap = with_aliases(*CLAUDE_CODE, providers={**snapshot().providers, "anthropic": anthropic()},
                        supported_kinds=frozenset({"openai_compatible", "anthropic"}))
    assert route(snap, "claude-opus-5-5") == [("anthropic/claude-opus-5-5", "anthropic/*")]
    assert route(snap, "claude-haiku-5-5") == [("anthropic/claude-haiku-5-5", "anthropic/*")]


def test_without_an_anthropic_key_they_fall_to_auto_and_its_role():
    snap = with_aliases(*CLAUDE_CODE, providers={**snapshot().providers, "anthropic": anthropic(api_key=None)},
                        supported_kinds=frozenset({"openai_compatible", "anthropic"}))
    assert route(snap, "claude-opus-5-5", role="architect") == [("novision", "auto"), ("p2", "auto")]
    assert route(snap, "claude-haiku-5-5", role="architect") == [("f1", "auto:general"), ("p1", "auto:general"),
                                                                 ("e1", "auto:general")]


def test_an_exact_alias_wins_over_globs_and_the_more_literal_glob_wins():
    snap = with_aliases(("claude-*", ("p2",)), ("claude-*haiku*", ("f1",)), ("claude-haiku-5-5", ("e1",)))
    assert route(snap, "claude-haiku-5-5") == [("e1", "e1")]
    assert route(snap, "claude-3-haiku") == [("f1", "f1")]
    assert route(snap, "claude-sonnet-9") == [("p2", "p2")]


def test_a_catalogue_model_is_never_shadowed_and_unknown_ids_stay_404():
    snap = with_aliases(("p*", ("f1",)))
    assert route(snap, "p1") == [("p1", ""), ("p2", ""), ("e1", "")]
    assert route(snap, "pqr") == [("f1", "f1")]
    assert not is_alias(snap, "p1") and is_alias(snap, "pqr") and not is_alias(snap, "auto")
    with pytest.raises(ModelNotFound):
        route(snap, "gpt-17")


def test_when_no_target_can_serve_the_error_says_why_for_each():
    snap = with_aliases(("claude-*", ("anthropic/*", "gone-model")))
    with pytest.raises(ModelNotAvailable) as caught:
        route(snap, "claude-opus-5-5")
    message = caught.value.message
    assert "'claude-*'" in message and "anthropic/*:" in message and "gone-model:" in message


# --- the routing document and the admin form -------------------------------------------------------------


def shipped() -> dict:
    return load_routing_file(default_routing_path())


def test_the_shipped_aliases_send_claude_code_to_anthropic_or_auto(db):
    routing_config_import(shipped())
    exported = {alias["pattern"]: alias["targets"] for alias in routing_config_export()["aliases"]}
    assert exported == {"claude-*haiku*": ["anthropic/*", "auto:general"], "claude-opus-*": ["anthropic/*", "auto"],
                        "claude-sonnet-*": ["anthropic/*", "auto"]}


def test_importing_aliases_replaces_a_patterns_targets_and_prune_removes_the_rest(db):
    from routing.models import ModelAlias

    document = shipped()
    routing_config_import(document)
    document["aliases"] = [{"pattern": "claude-opus-*", "targets": ["auto:architect", "gpt-4o"], "notes": "mine"},
                           {"pattern": "gpt-5*", "targets": ["gpt-4o"]}]
    summary = routing_config_import(document, prune=True)
    rows = list(ModelAlias.objects.values_list("pattern", "target", "position", "notes"))
    assert rows == [("claude-opus-*", "auto:architect", 0, "mine"), ("claude-opus-*", "gpt-4o", 1, ""),
                    ("gpt-5*", "gpt-4o", 0, "")]
    assert summary.updated["aliases"] == 1 and summary.created["aliases"] == 1
    assert routing_config_import(document).changed is False


@pytest.mark.parametrize(("alias", "says"), [
    ({"pattern": "claude-*", "targets": ["no-such-model"]}, "aliases[0].targets[0]: unknown model 'no-such-model'"),
    ({"pattern": "claude-*", "targets": ["auto:astrology"]}, "aliases[0].targets[0]: unknown role 'astrology'"),
    ({"pattern": "claude-*", "targets": ["nobody/*"]}, "aliases[0].targets[0]: unknown provider 'nobody'"),
    ({"pattern": "gpt-4o", "targets": ["auto"]}, "aliases[0].pattern: model 'gpt-4o' exists"),
    ({"pattern": "auto:x", "targets": ["auto"]}, "aliases[0].pattern: 'auto' routes cannot be aliased"),
    ({"pattern": "claude-*", "targets": []}, "aliases[0].targets: list at least one target"),
])
def test_a_bad_alias_is_refused_with_its_path(alias, says):
    document = {**shipped(), "aliases": [alias]}
    with pytest.raises(ConfigError) as caught:
        routing_config_import(document)
    assert any(problem.startswith(says) for problem in caught.value.problems), caught.value.problems


def test_the_admin_form_checks_pattern_and_target(db):
    from routing.models import ModelAlias

    routing_config_import(shipped())
    with pytest.raises(ValidationError) as caught:
        ModelAlias(pattern="gpt-4o", target="nowhere").full_clean()
    assert set(caught.value.message_dict) == {"pattern", "target"}
    ModelAlias(pattern="gpt-5*", target="auto:implementation").full_clean()
