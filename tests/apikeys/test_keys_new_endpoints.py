"""Gateway keys on `/v1/responses` and `/v1/embeddings`, through a gateway process that requires keys:
no key → 401 and no row; a stored response is continued only by the key that made it; rows per key."""

from __future__ import annotations

from decimal import Decimal

import httpx
import openai
import pytest

from tests.apikeys.test_keys_gateway import client, keyed, keyed_process, new_key  # noqa: F401 (fixtures)
from tests.conftest import usage_rows


def test_responses_need_a_key_and_stored_responses_belong_to_theirs(keyed):  # noqa: F811
    from usage.models import UsageRecord

    before = UsageRecord.objects.count()
    response = httpx.post(f"{keyed.base_url}/responses", json={"model": "fast-model", "input": "hi"}, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    _, alice = new_key(keyed, name="alice")
    _, bob = new_key(keyed, name="bob")
    with client(keyed, alice) as as_alice, client(keyed, bob) as as_bob:
        first = as_alice.responses.create(model="fast-model", input="My secret is 42")
        follow_up = as_alice.responses.create(model="fast-model", previous_response_id=first.id, input="And?")
        assert follow_up.status == "completed"
        with pytest.raises(openai.BadRequestError) as caught:  # bob cannot read alice's conversation
            as_bob.responses.create(model="fast-model", previous_response_id=first.id, input="What is it?")
        assert caught.value.body["code"] == "previous_response_not_found"
    rows = usage_rows(before + 3)
    assert [(row.api_key_prefix, row.status_code) for row in rows[-3:]] == [
        (alice[:12], 200), (alice[:12], 200), (bob[:12], 400)]


def test_embeddings_need_a_key_and_respect_its_models(keyed, routing):  # noqa: F811
    from routing.models import Model

    Model.objects.create(public_id="embed-small", provider=routing.paid, upstream_name="embed-upstream",
                         kind="embedding", input_price_per_mtok=Decimal("0.02"))
    keyed.sync_config()
    response = httpx.post(f"{keyed.base_url}/embeddings", json={"model": "embed-small", "input": "x"}, timeout=10)
    assert response.status_code == 401
    _, limited = new_key(keyed, name="chat-only", allowed_models="fast-model", allowed_roles="debugging")
    _, indexer = new_key(keyed, name="indexer", allowed_models="embed-*", allowed_roles="debugging")
    with client(keyed, limited) as as_limited, client(keyed, indexer) as as_indexer:
        with pytest.raises(openai.PermissionDeniedError):
            as_limited.embeddings.create(model="embed-small", input="x")
        # Allowed roles restrict chat tasks; embeddings have no role, so they do not apply.
        result = as_indexer.embeddings.create(model="embed-small", input=["a b", "c"], encoding_format="float")
    assert len(result.data) == 2 and result.usage.prompt_tokens == 3
    [row] = usage_rows(1, api_key_prefix=indexer[:12])
    assert (row.model, row.prompt_tokens, row.role) == ("embed-small", 3, "")
