"""ranking_replace: the one write research, the admin and reverts use to set a role's ranking."""

from __future__ import annotations

import json

import pytest

from routing.config_io import default_routing_path, load_routing_file, routing_config_export, routing_config_import
from routing.selectors import read_config_token
from routing.services import RankingInvalid, RankingSpec, ranking_read, ranking_replace
from routing.state import routing_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shipped():
    routing_config_import(load_routing_file(default_routing_path()))


def test_replace_sets_the_order_bumps_once_and_returns_what_it_replaced(shipped):
    before, token = ranking_read(role="code_review"), read_config_token()
    wanted = [RankingSpec(model=before[1].model, kind="primary", reason="research: better scores", pinned=True),
              RankingSpec(model=before[0].model, kind="fallback", reason=before[0].reason)]
    replaced = ranking_replace(role="code_review", entries=wanted)
    assert replaced == before
    assert ranking_read(role="code_review") == wanted
    assert read_config_token() != token
    snapshot = routing_snapshot.get_sync()
    assert [entry.model for entry in snapshot.rankings["code_review"]] == [wanted[0].model, wanted[1].model]


def test_a_revert_restores_the_export_byte_for_byte(shipped):
    exported = json.dumps(routing_config_export(), sort_keys=True)
    previous = ranking_replace(role="architect", entries=[RankingSpec(model=ranking_read(role="debugging")[0].model,
                                                                      kind="primary")])
    assert json.dumps(routing_config_export(), sort_keys=True) != exported
    ranking_replace(role="architect", entries=previous)
    assert json.dumps(routing_config_export(), sort_keys=True) == exported


def test_pins_survive_export_and_import(shipped):
    entries = ranking_read(role="testing")
    ranking_replace(role="testing", entries=[RankingSpec(e.model, e.kind, e.reason, pinned=(i == 0))
                                             for i, e in enumerate(entries)])
    doc = routing_config_export()
    assert doc["roles"]["testing"]["primary"]["pinned"] is True
    assert "pinned" not in doc["roles"]["testing"]["fallbacks"][0]
    ranking_replace(role="testing", entries=[RankingSpec(e.model, e.kind, e.reason) for e in entries])
    routing_config_import(doc)
    assert ranking_read(role="testing")[0].pinned is True


@pytest.mark.parametrize("entries, message", [
    ([RankingSpec(model="no-such-model", kind="primary")], "no model with id 'no-such-model'"),
    ([RankingSpec(model="x", kind="best")], "kind 'best' is not one of"),
])
def test_an_invalid_ranking_changes_nothing(shipped, entries, message):
    before, token = ranking_read(role="general"), read_config_token()
    with pytest.raises(RankingInvalid, match=message):
        ranking_replace(role="general", entries=entries)
    assert ranking_read(role="general") == before and read_config_token() == token
