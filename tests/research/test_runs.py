"""A whole research run against a loopback host publishing the real leaderboard and catalogue files."""

from __future__ import annotations

import json
import re

import pytest

from research import services
from research.models import CatalogueChange, ModelAlias, ResearchRun, ResearchSource
from routing.config_io import dumps_routing, routing_config_export
from routing.models import Model
from routing.services import ranking_read
from tests.fixture_files import CATALOGUES, LEADERBOARDS
from tests.research.conftest import HUMAN_REASON, provider_catalogue_json

pytestmark = pytest.mark.timeout(120)


def order(role: str) -> list[str]:
    return [entry.model for entry in ranking_read(role=role)]


def test_a_run_ranks_the_coding_leader_above_the_trailer_with_reasons_naming_numbers(world):
    architect_before = ranking_read(role="architect")

    run = services.run_now(triggered_by="test")

    assert run.status == ResearchRun.Status.SUCCEEDED, run.error
    assert run.progress == 100 and run.finished_at and run.active is None
    assert {s["name"]: s["status"] for s in run.sources} == {
        "aider": "ok", "livebench": "ok", "lmarena": "ok", "openrouter": "ok", "openrouter_archive": "ok",
        "swebench": "ok", "provider:openrouter": "ok",
    }
    assert all(s["records"] > 0 and s["elapsed_ms"] >= 0 for s in run.sources)
    for role in ("implementation", "code_review"):
        ranking = ranking_read(role=role)
        ids = [entry.model for entry in ranking]
        assert ids.index("o3") < ids.index("claude-3.7") < ids.index("gpt-4o"), (role, ids)
        primary = ranking[0]
        assert primary.kind == "primary" and primary.model != "gpt-4o"
        # e.g. "… over gpt-4o for implementation (0.37 vs 0.06): Aider polyglot 77% vs 23%, …, 2026-12 data"
        assert "over gpt-4o" in primary.reason, primary.reason
        assert re.search(r"Aider polyglot \d+(\.\d+)?% vs 23(\.\d+)?%", primary.reason), primary.reason
        assert re.search(r"\d{4}-\d{2} data", primary.reason), primary.reason
        demoted = ranking[ids.index("gpt-4o")]
        assert demoted.kind == "fallback"  # keeps its own (human) reason: it is still about gpt-4o
        assert run.changes[role]
    # The pinned primary of architect kept its place, kind and reason; others moved around it.
    architect = ranking_read(role="architect")
    assert architect[0] == architect_before[0]
    assert architect != architect_before
    # A fallback nobody replaced keeps its (empty, human) reason; newcomers from the catalogue are disabled rows.
    added = run.catalogue["rows_added"]
    assert added and not Model.objects.filter(public_id__in=added, enabled=True).exists()
    # Names: matched and unmatched both counted; the unmatched wait for review.
    assert run.matched_count > 0 and run.unmatched_count > 0 and run.ambiguous_count > 0
    assert ModelAlias.objects.filter(status="unmatched", reviewed=False).count() >= run.unmatched_count // 2
    ambiguous = ModelAlias.objects.filter(status="ambiguous").exclude(candidates=[]).first()
    assert ambiguous is not None and ambiguous.identity == ""  # flagged, never guessed
    # Scores are on the run with their explanation.
    best = run.scores["implementation"][0]
    assert best["score"] > 0 and "Aider polyglot" in best["explanation"]
    # Catalogue guard: ×1.25 price applied; a ×25 context window held, the row unchanged.
    assert Model.objects.get(public_id="gpt-4o").input_price_per_mtok == 2.5
    held = CatalogueChange.objects.get(model__public_id="claude-3.7", field="context_window")
    assert (held.current_value, held.proposed_value, held.status) == ("8000", "200000", "held")
    assert Model.objects.get(public_id="claude-3.7").context_window == 8000
    assert ResearchSource.objects.get(name="aider").last_status == "ok"
    assert ResearchSource.objects.get(name="aider").last_fetched_at is not None


def test_a_newly_published_model_enters_the_ranking_after_trigger(world):
    first = services.run_now(triggered_by="test")
    assert first.status == "succeeded"
    assert not Model.objects.filter(upstream_name="kestrel/kestrel-coder-2").exists()

    # The next month's snapshots: Aider and OpenRouter publish one new model, which the provider lists.
    aider = (LEADERBOARDS / "aider_polyglot_leaderboard.yml").read_text() + NEW_AIDER_ENTRY
    world.publish("/aider/polyglot_leaderboard.yml", aider)
    catalogue = json.loads((CATALOGUES / "openrouter_models.recorded.json").read_bytes())
    catalogue["data"].append(NEW_CATALOGUE_ENTRY)
    world.publish("/openrouter/api/v1/models", json.dumps(catalogue))
    listed = json.loads(provider_catalogue_json())
    listed["data"].append(NEW_CATALOGUE_ENTRY)
    world.publish("/provider/v1/models", json.dumps(listed))

    second = services.run_now(triggered_by="test")

    assert second.status == "succeeded", second.error
    new_id = "openrouter/kestrel/kestrel-coder-2"
    assert new_id in second.catalogue["rows_added"]
    row = Model.objects.get(public_id=new_id)
    assert not row.enabled and row.context_window == 256000  # added for the operator to enable
    implementation = ranking_read(role="implementation")
    assert implementation[0].model == new_id
    assert "Aider polyglot 97% vs" in implementation[0].reason
    assert any(c["model_id"] == new_id and c["action"] == "added" for c in second.changes["implementation"])


def test_trigger_with_nothing_new_changes_nothing_and_force_refresh_re_evaluates(world):
    services.run_now(triggered_by="test")
    rankings = {role: ranking_read(role=role) for role in ("implementation", "code_review")}

    again = services.run_now(triggered_by="test")
    assert again.status == "succeeded" and "Nothing new" in again.summary and again.changes == {}

    world.requests.clear()
    forced = services.run_now(mode=ResearchRun.Mode.FORCE_REFRESH, triggered_by="test")
    assert forced.status == "succeeded" and "Nothing new" not in forced.summary
    assert {role: ranking_read(role=role) for role in rankings} == rankings  # same data: stable, no flapping
    fetched = {path: headers for path, headers in world.requests}
    assert fetched["/aider/polyglot_leaderboard.yml"]["cache-control"] == "no-cache"


HTML_ERROR = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"


@pytest.mark.parametrize(
    ("source", "path", "published", "error"),
    [
        ("aider", "/aider/polyglot_leaderboard.yml", {"body": HTML_ERROR, "content_type": "text/html"}, "aider"),
        ("aider", "/aider/polyglot_leaderboard.yml", {"body": "", "status": 404}, "HTTP 404"),
        ("aider", "/aider/polyglot_leaderboard.yml", {"body": "[]"}, "aider"),
        ("aider", "/aider/polyglot_leaderboard.yml", {"body": "- model: x\n  score: 3\n"}, "aider"),
        ("aider", "/aider/polyglot_leaderboard.yml", {"body": "x", "delay_seconds": 3}, "timed out"),
        ("aider", "/aider/polyglot_leaderboard.yml",
         {"body": "", "status": 302, "headers": {"location": "http://example.com/aider.yml"}}, "another host"),
        ("livebench", "/livebench/table.csv", {"body": "model,python\nx,1\n"}, "livebench"),
        ("swebench", "/swebench/leaderboards.json", {"body": '{"leaderboards": []}'}, "swebench"),
    ],
    ids=["html-error-page", "404", "empty-list", "changed-schema", "timeout", "redirect-elsewhere",
         "missing-columns", "empty-leaderboards"],
)
def test_a_broken_source_is_reported_and_skipped_and_the_run_succeeds(world, source, path, published, error):
    world.publish(path, **published)

    run = services.run_now(triggered_by="test")

    assert run.status == ResearchRun.Status.SUCCEEDED, run.error
    outcomes = {s["name"]: s for s in run.sources}
    assert outcomes[source]["status"] == "failed" and outcomes[source]["records"] == 0
    assert error in outcomes[source]["error"], outcomes[source]["error"]
    assert all(o["status"] == "ok" for name, o in outcomes.items() if name != source)
    assert f"skipped sources: {source}" in run.summary
    row = ResearchSource.objects.get(name=source)
    assert row.last_status == "failed" and error in row.last_error
    # Nothing from the broken source is in the scores or the reasons written.
    label = {"aider": "Aider", "livebench": "LiveBench", "swebench": "SWE-bench"}[source]
    reasons = " ".join(e.reason for role in ("implementation", "code_review") for e in ranking_read(role=role))
    assert label not in reasons
    assert all(label not in s["explanation"] for s in run.scores["implementation"])
    assert order("implementation")[0] != "gpt-4o"  # the other sources still decided


def test_without_a_catalogue_no_ranking_is_touched(world):
    world.publish("/openrouter/api/v1/models", HTML_ERROR, content_type="text/html")
    world.publish("/openrouter-archive/models.json", "", status=500)
    before = dumps_routing(routing_config_export())

    run = services.run_now(triggered_by="test")

    assert run.status == "succeeded" and "No model catalogue could be read" in run.summary
    assert run.changes == {} and dumps_routing(routing_config_export()) == before


def test_revert_restores_the_previous_rankings_byte_for_byte(world):
    before = json.dumps(routing_config_export()["roles"], indent=2)
    run = services.run_now(triggered_by="test")
    assert json.dumps(routing_config_export()["roles"], indent=2) != before

    restored = services.run_revert(run=run, by="test")

    assert restored == sorted(run.changes)
    assert json.dumps(routing_config_export()["roles"], indent=2) == before
    run.refresh_from_db()
    assert run.reverted_at is not None and run.reverted_by == "test"
    assert ranking_read(role="implementation")[0].reason == HUMAN_REASON


def test_a_source_url_can_be_overridden_from_the_environment(world, monkeypatch):
    mirror = world.publish("/mirror/aider.yml", (LEADERBOARDS / "aider_polyglot_leaderboard.yml").read_bytes())
    ResearchSource.objects.filter(name="aider").update(url="http://127.0.0.1:9/unreachable.yml")
    monkeypatch.setenv("RESEARCH_AIDER_URL", mirror)

    run = services.run_now(triggered_by="test")

    aider = next(s for s in run.sources if s["name"] == "aider")
    assert aider["status"] == "ok" and aider["url"] == mirror and aider["overridden"] == ["RESEARCH_AIDER_URL"]


def test_a_body_over_the_size_cap_is_refused(world, settings):
    settings.RESEARCH_MAX_RESPONSE_BYTES = 4096
    run = services.run_now(triggered_by="test")
    aider = next(s for s in run.sources if s["name"] == "aider")
    assert aider["status"] == "failed" and "4096-byte limit" in aider["error"]


def test_one_run_at_a_time(world):
    holder = services.run_create(triggered_by="first")
    with pytest.raises(services.RunInProgress) as refused:
        services.run_create(triggered_by="second")
    assert refused.value.run_id == holder.pk


NEW_AIDER_ENTRY = """
- dirname: 2026-11-20-10-00-00--kestrel-coder-2
  test_cases: 225
  model: Kestrel Coder 2
  edit_format: diff
  commit_hash: 0000000
  pass_rate_1: 60.0
  pass_rate_2: 97.3
  pass_num_1: 135
  pass_num_2: 219
  percent_cases_well_formed: 100.0
  error_outputs: 0
  num_malformed_responses: 0
  num_with_malformed_responses: 0
  user_asks: 2
  lazy_comments: 0
  syntax_errors: 0
  indentation_errors: 0
  exhausted_context_windows: 0
  test_timeouts: 1
  total_tests: 225
  command: aider --model kestrel/kestrel-coder-2
  date: 2026-11-20
  versions: 0.90.0
  seconds_per_case: 20.0
  total_cost: 3.1
"""
NEW_CATALOGUE_ENTRY = {
    "id": "kestrel/kestrel-coder-2",
    "canonical_slug": "kestrel/kestrel-coder-2-20261115",
    "name": "Kestrel: Kestrel Coder 2",
    "created": 1794700800,
    "context_length": 256000,
    "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]},
    "pricing": {"prompt": "0.000001", "completion": "0.000004"},
    "top_provider": {"context_length": 256000, "max_completion_tokens": 32000, "is_moderated": False},
    "supported_parameters": ["tools", "response_format"],
}


def test_a_run_where_no_source_could_be_read_fails_and_changes_nothing(world):
    for path in list(world.files):
        world.publish(path, HTML_ERROR, status=503, content_type="text/html")
    before = dumps_routing(routing_config_export())

    run = services.run_now(triggered_by="test")

    assert run.status == "failed" and "No source could be read" in run.error and run.active is None
    assert dumps_routing(routing_config_export()) == before
    assert services.run_create(triggered_by="next").pk  # the lock was released


def test_runs_are_reverted_newest_first(world):
    before = json.dumps(routing_config_export()["roles"], indent=2)
    first = services.run_now(triggered_by="test")
    world.publish("/aider/polyglot_leaderboard.yml",
                  (LEADERBOARDS / "aider_polyglot_leaderboard.yml").read_text() + NEW_AIDER_ENTRY)
    catalogue = json.loads((CATALOGUES / "openrouter_models.recorded.json").read_bytes())
    catalogue["data"].append(NEW_CATALOGUE_ENTRY)
    world.publish("/openrouter/api/v1/models", json.dumps(catalogue))
    listed = json.loads(provider_catalogue_json())
    listed["data"].append(NEW_CATALOGUE_ENTRY)
    world.publish("/provider/v1/models", json.dumps(listed))
    second = services.run_now(triggered_by="test")
    assert "implementation" in second.changes

    with pytest.raises(services.RevertRefused, match=f"run {second.pk} changed .*implementation"):
        services.run_revert(run=first, by="test")
    services.run_revert(run=second, by="test")
    services.run_revert(run=first, by="test")
    assert json.dumps(routing_config_export()["roles"], indent=2) == before


def test_disabled_newcomers_never_push_working_models_out_of_a_short_ranking(world, settings):
    settings.RESEARCH_MAX_ENTRIES = 3

    run = services.run_now(triggered_by="test")

    assert run.status == "succeeded"
    for role in ("implementation", "code_review", "documentation"):
        ranking = ranking_read(role=role)
        enabled = set(Model.objects.filter(enabled=True, public_id__in=[e.model for e in ranking])
                      .values_list("public_id", flat=True))
        assert len(ranking) == 3, (role, ranking)
        # Only the primary may be a row waiting to be enabled; the rest of the list can serve today.
        assert {e.model for e in ranking[1:]} <= enabled, (role, ranking)
    assert order("implementation")[1:] == ["o3", "claude-3.7"]


def test_a_redirect_on_the_same_host_is_followed(world):
    world.files["/aider/moved.yml"] = world.files["/aider/polyglot_leaderboard.yml"]
    world.publish("/aider/polyglot_leaderboard.yml", "", status=301, headers={"location": "/aider/moved.yml"})

    run = services.run_now(triggered_by="test")

    aider = next(s for s in run.sources if s["name"] == "aider")
    assert aider["status"] == "ok" and aider["records"] == 132


def test_revert_gives_back_the_whole_export_byte_for_byte_when_the_run_added_no_rows(world, settings):
    settings.RESEARCH_PROVIDER_CATALOGUES = False  # only the existing rows compete: nothing added or repriced
    before = dumps_routing(routing_config_export())
    run = services.run_now(triggered_by="test")
    assert run.changes and run.catalogue["rows_added"] == []
    assert dumps_routing(routing_config_export()) != before

    services.run_revert(run=run, by="test")

    assert dumps_routing(routing_config_export()) == before
