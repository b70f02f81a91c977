"""Similar past interactions: full-text retrieval (SQLite FTS5 / PostgreSQL tsvector, whichever the test database
is; CI runs this file on both), scoped to the key and profile, and the block the upstream receives."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone

from context.pending import ConversationKey, Exchange
from context.search import Scope
from context.selectors import SimilarAsk, similar_interactions
from context.services import context_batch_write

RELEVANT = ("Celery beat does not run the nightly invoice email task; the schedule is in django-celery-beat.",
            "Check that the beat process runs with the DatabaseScheduler and that the crontab's timezone is UTC.")
DISTRACTORS = [
    ("How do I centre a div with flexbox?", "Use display:flex with justify-content and align-items set to center."),
    ("Write a haiku about autumn leaves.", "Red leaves drift and fall / the quiet path remembers"),
    ("What is the capital of Australia?", "Canberra."),
    ("Explain Python's GIL in two sentences.", "The GIL lets one thread run Python bytecode at a time."),
    ("Sort a list of dicts by a key in Python.", "Use sorted(items, key=lambda d: d['name'])."),
    ("Why is my React state stale in a setTimeout callback?", "The closure captured the old state; use a ref."),
    ("Convert a PNG to WebP on the command line.", "cwebp input.png -o output.webp"),
    ("Suggest a name for a bakery.", "Crumb & Co."),
    ("How do I send an email with Django?", "Use django.core.mail.send_mail with your SMTP settings."),
    ("What does the Celery task decorator shared_task do?", "It makes a task usable without a concrete app instance."),
    ("How to schedule a cron job every night at 2am?", "0 2 * * * /path/to/script"),
    ("Write an invoice template in HTML.", "<table> with the line items, totals and the customer's address."),
]


def seed(prompt: str, answer: str, *, key: str = "", profile: str = "personal", conversation: str | None = None):
    exchange = Exchange(ConversationKey(key, profile, conversation or f"seed-{uuid.uuid4().hex[:10]}"),
                        f"gw-{uuid.uuid4().hex}", timezone.now(), [{"role": "user", "content": prompt}],
                        {"role": "assistant", "content": answer})
    context_batch_write([exchange])


def ask(query: str, *, key: str = "", profile: str = "personal", top_k: int = 3, min_score: float = 0.3):
    return similar_interactions(SimilarAsk(query, Scope(key, profile), top_k, min_score, 300),
                                exclude_conversation=None)


@pytest.fixture
def store(transactional_db):
    for prompt, answer in DISTRACTORS:
        seed(prompt, answer)
    seed(*RELEVANT)


def test_the_relevant_interaction_comes_first_among_distractors(store):
    hits = ask("The nightly invoice emails stopped: is celery beat's crontab schedule wrong?")
    assert hits[0].prompt == RELEVANT[0] and hits[0].answer == RELEVANT[1]
    assert hits[0].score > 0.5
    assert all(hit.score >= 0.3 for hit in hits)


def test_nothing_comes_back_for_an_unrelated_request_or_another_key(store):
    assert ask("Recommend a good sci-fi novel about first contact.") == []
    seed("Kubernetes pod evicted for memory pressure", "Raise the memory limit.", key="gw-other")
    assert ask("why was my kubernetes pod evicted for memory pressure") == []  # another key's history
    assert ask("why was my kubernetes pod evicted for memory pressure", key="gw-other")[0].prompt.startswith("Kube")


def test_top_k_and_minimum_score_apply(store):
    assert len(ask("celery invoice email schedule nightly", top_k=1)) == 1
    assert ask("celery beat invoice", min_score=1.01) == []


def test_better_matches_out_of_scope_do_not_crowd_out_the_top_k_in_scope(store):
    for _ in range(4):  # closer to the question, but another key's
        seed("Celery beat skips the nightly invoice email task with the DatabaseScheduler crontab in UTC",
             "Restart beat.", key="gw-other")
    hits = ask("celery beat nightly invoice email task DatabaseScheduler crontab UTC", top_k=1)
    assert [hit.prompt for hit in hits] == [RELEVANT[0]]


def test_the_upstream_receives_the_similar_interactions_block(gateway, upstream, store):
    question = "My nightly invoice emails stopped; celery beat crontab problem?"
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "fast-model", "conversation_id": f"new-{uuid.uuid4().hex[:8]}",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]})
    assert response.status_code == 200, response.text
    messages = upstream.stats()["log"][-1]["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    block = messages[1]["content"]
    assert messages[1]["role"] == "system" and block.startswith('<gateway-context kind="similar-interactions">')
    assert RELEVANT[0] in block and RELEVANT[1] in block
    assert "flexbox" not in block and "haiku" not in block
    assert messages[2] == {"role": "user", "content": question}
    assert response.headers["x-gateway-context"].endswith("similar=" + str(block.count("<interaction ")))


def test_a_profile_with_similar_interactions_off_gets_no_block(gateway, upstream, store):
    from context.models import ContextPolicy

    ContextPolicy.objects.create(profile="personal", similar=False)
    time.sleep(0.3)  # the policy snapshot's poll
    httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "fast-model", "conversation_id": "c-off",
        "messages": [{"role": "user", "content": "nightly invoice emails celery beat crontab"}]}).raise_for_status()
    assert upstream.stats()["log"][-1]["body"]["messages"] == [
        {"role": "user", "content": "nightly invoice emails celery beat crontab"}]


def test_purge_conversations_deletes_old_ones_and_their_search_entries(store):
    from context.models import Conversation, Interaction

    old = Conversation.objects.get(interactions__prompt=RELEVANT[0])
    Conversation.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=40))
    out = StringIO()
    call_command("purge_conversations", "--older-than", "30d", "--dry-run", stdout=out)
    assert "would delete 1 conversations" in out.getvalue()
    assert Conversation.objects.filter(pk=old.pk).exists()
    call_command("purge_conversations", "--older-than", "30d", stdout=out)
    assert not Conversation.objects.filter(pk=old.pk).exists()
    assert not Interaction.objects.filter(prompt=RELEVANT[0]).exists()
    assert all(hit.prompt != RELEVANT[0] for hit in ask("nightly invoice email celery beat crontab"))
    assert Conversation.objects.filter(conversation_id__startswith="seed-").count() == len(DISTRACTORS)


def test_words_too_common_to_search_for_are_not_counted_again_until_the_store_shrinks(monkeypatch):
    from context import search

    clock = [100.0]
    monkeypatch.setattr(search.time, "monotonic", lambda: clock[0])
    common = search.CommonTerms(ttl=60.0)
    common.learn({"the": 900, "celery": 12, "invoice": 301}, 1000, above=300)
    assert common.known(["the", "celery", "invoice", "beat"]) == {"the": 900, "invoice": 301}  # rare ones: read
    common.learn({"beat": 40}, 1010, above=300)
    assert common.known(["the"]) == {"the": 900}
    clock[0] += 61
    assert common.known(["the", "invoice"]) == {}  # a minute on: counted again
    common.learn({"the": 950}, 1020, above=300)
    common.learn({"celery": 2}, 20, above=300)  # the store shrank (a purge): nothing remembered holds
    assert common.known(["the"]) == {}


def test_a_common_word_remembered_does_not_change_what_the_search_finds(store, monkeypatch):
    from context import search, selectors

    monkeypatch.setattr(selectors, "common_terms", search.CommonTerms())
    question = "The nightly invoice emails stopped: is celery beat's crontab schedule wrong?"

    def hits():
        found = similar_interactions(SimilarAsk(question, Scope("", "personal"), 3, 0.3, 1), exclude_conversation=None)
        return [(hit.interaction_id, round(hit.score, 6)) for hit in found]

    first = hits()  # "celery" and "invoice" are in two interactions each: above this search's one match
    assert selectors.common_terms.known(["celery", "invoice", "crontab"]) == {"celery": 2, "invoice": 2}
    assert hits() == first and first
