"""Micro-benchmarks of role detection, the strategy rewrite and context enrichment (run by bench/micro.py).

- detection: p50/p99 per call of the fast path (`fast_path.score` on the task text), the classifier
  (`classifier.predict_proba`) and the whole `detect_role` (scaffolding stripped, agent mode, tiers) over the
  960 labelled prompts, each in the request shape its agent sends; and agent-mode detection alone on the
  feature case's request (Claude Code's recorded system prompt and reminder, bench/feature_case.py);
- template rewrite: the `rewrite` step plus its body transform on a 20-message request;
- enrichment (wall and CPU time): the `enrich` step (the one read in the reader pool: stored conversation,
  history, similar interactions) plus the per-candidate fit, p50/p99 per request, for a request that sends
  only its latest turn of a 1,000-message conversation, with a store of `interactions` past interactions
  (100,000 by default; `--interactions` lowers it for CI), on SQLite, or on a scratch PostgreSQL database
  with `--database-url`.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "prompts" / "data" / "role_prompts.jsonl"
perf = time.perf_counter


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"min_ms": round(ordered[0] * 1000, 4), "p50_ms": round(statistics.median(ordered) * 1000, 4),
            "p99_ms": round(p99 * 1000, 4),
            "max_ms": round(ordered[-1] * 1000, 4), "calls": len(ordered)}


def sample(calls: list[Callable[[], object]], repeats: int) -> dict:
    """Each call timed on its own, `repeats` times, with the garbage collector paused (as timeit does)."""
    times = []
    gc.disable()
    try:
        for _ in range(repeats):
            for call in calls:
                t0 = perf()
                call()
                times.append(perf() - t0)
    finally:
        gc.enable()
    return percentiles(times)


def bench_detection(repeats: int) -> dict:
    import sys

    sys.path.insert(0, str(ROOT))
    import feature_case

    from prompts.detection import classifier, detect_role, fast_path, task_text
    from prompts.detection.agent_mode import detect_agent_mode
    from prompts.detection.train import load_rows
    from tests.prompts.agent_wrappers import wrap

    requests = [wrap(row["text"], row["wrap"]) for row in load_rows(DATA)]
    tasks = [task_text(request.messages, request.system) for request in requests]
    fast_path.score(tasks[0]), classifier.predict_proba(tasks[0])  # load the table and the model
    system, reminder = feature_case.agent_prompt()
    claude_code = [feature_case.messages(i, system, reminder) for i in range(64)]
    return {
        "fast path (weighted patterns)": sample([lambda t=t: fast_path.score(t) for t in tasks], repeats),
        "classifier (n-gram linear model)": sample([lambda t=t: classifier.predict_proba(t) for t in tasks], repeats),
        "detect_role, whole (agent request shapes)": sample(
            [lambda r=r: detect_role(r.messages, r.system) for r in requests], repeats),
        "agent mode, Claude Code's request (the feature case's)": sample(
            [lambda m=m: detect_agent_mode(m) for m in claude_code], repeats),
    }


class _Caller:
    prefix = ""


def _context(body: dict, *, window: int = 128000):
    """A request context as the pipeline has it after `authorize` (parsed body, profile, one candidate)."""
    import orjson

    from providers.specs import ModelSpec, ProviderSpec
    from proxy.chat_request import parse_chat_request
    from proxy.context import RequestContext
    from routing.selection import Candidate
    from routing.snapshot import ProfileSpec

    raw = orjson.dumps(body)
    ctx = RequestContext(raw=raw, headers={})
    ctx.chat = parse_chat_request(raw, {}, max_messages=100000, known_roles=frozenset({"debugging"}))
    ctx.profile = ProfileSpec("personal", ("free", "paid"))
    provider = ProviderSpec("bench", "openai_compatible", "http://127.0.0.1:9/v1", "paid", 30.0, True, "")
    ctx.candidates = [Candidate(ModelSpec("bench-model", "bench", "up", context_window=window), provider, "primary")]
    return ctx


def bench_rewrite(repeats: int) -> dict:
    from prompts.snapshot import PromptSnapshot
    from prompts.steps import EXTRA, rewrite
    from prompts.strategies import render_block, strategy

    block = render_block("debugging", "You are a debugging expert. " * 20, ["Reproduce first"] * 5,
                         ["Explain the root cause"] * 4, [{"input": "a", "output": "b"}])
    snapshot = PromptSnapshot(strategies={"debugging": strategy("debugging", "append", block)})
    messages = [{"role": "system", "content": "You are an agent."}]
    messages += [{"role": "user" if i % 2 else "assistant", "content": f"turn {i} " * 30} for i in range(19)]
    base = _context({"model": "auto:debugging", "messages": messages})
    candidate = base.candidates[0]

    def one() -> None:
        base.body_transforms.clear()
        base.extras[EXTRA] = snapshot
        base.role = "debugging"
        rewrite(base)
        base.body_for(candidate)

    return {"rewrite step + strategy transform (20 messages)": sample([one] * 200, repeats)}


WORDS = ("api cache celery django queue retry timeout invoice email schedule worker redis postgres index query "
         "migration deploy docker kubernetes pod memory leak thread lock async await stream parser token budget "
         "window history search ranking model provider gateway fallback circuit breaker limiter metric trace log "
         "error exception traceback test fixture mock coverage review refactor docstring readme changelog design "
         "architecture service boundary event bus schema json yaml config secret key rotate auth oauth session "
         "cookie csrf cors header proxy nginx tls certificate dns latency throughput benchmark profile cpu").split()


def _seed_store(interactions: int, conversation_messages: int) -> str:
    """`interactions` past interactions over 1,000 conversations, and one conversation of
    `conversation_messages` messages (exact token counts stored, as a running gateway writes them)."""
    import orjson
    from django.db import transaction
    from django.utils import timezone

    from context import search
    from context.models import Conversation, Interaction, Message, SearchTerm
    from context.text import message_digest
    from core import tokens
    from prompts.detection.train import load_rows

    rng = random.Random(13)
    rows = [row["text"] for row in load_rows(DATA)]
    now = timezone.now()
    with transaction.atomic():
        conversations = Conversation.objects.bulk_create(
            Conversation(profile="personal", conversation_id=f"past-{i}", created_at=now, updated_at=now)
            for i in range(1000))
        terms: Counter[str] = Counter()
        batch = []
        for i in range(interactions):
            prompt = f"{rng.choice(rows)} {' '.join(rng.choices(WORDS, k=8))} case{i % 5000}"
            answer = " ".join(rng.choices(WORDS, k=40))
            batch.append(Interaction(conversation=conversations[i % 1000], profile="personal", prompt=prompt,
                                     answer=answer, created_at=now))
            terms.update(search.terms_of([prompt, answer]))
            if len(batch) == 5000:
                Interaction.objects.bulk_create(batch)
                batch = []
        Interaction.objects.bulk_create(batch)
        terms[SearchTerm.TOTAL_TERM] = interactions
        search.term_counts_add(terms)
        conversation_id = f"bench-{uuid.uuid4().hex[:8]}"
        messages = []
        for i in range(conversation_messages):
            role = "user" if i % 2 == 0 else "assistant"
            words = " ".join(rng.choices(WORDS, k=20))
            messages.append({"role": role, "content": f"Turn {i}: {rng.choice(rows)} {words}"})
        conversation = Conversation.objects.create(
            profile="personal", conversation_id=conversation_id, created_at=now, updated_at=now,
            message_count=len(messages), first_digest=message_digest(messages[0]),
            tail=[[message_digest(m), "gw-bench"] for m in messages[-8:]])
        message_rows = []
        for position, message in enumerate(messages):
            payload = orjson.dumps(message).decode()
            message_rows.append(Message(
                conversation=conversation, position=position, role=message["role"], payload=payload,
                size=len(payload), tokens=tokens.count_message_tokens([message]) - tokens.REPLY_PRIMING,
                digest=message_digest(message), request_id="gw-bench", created_at=now))
        Message.objects.bulk_create(message_rows, batch_size=500)
    return conversation_id


def _settle_store() -> None:
    """Statistics for the freshly bulk-loaded store, as autovacuum (PostgreSQL) or a periodic ANALYZE keeps them
    on a live database: on PostgreSQL, VACUUM also empties the GIN index's pending list, which a bulk load
    leaves full and every search would otherwise scan row by row."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("context_interaction", "context_interaction_search", "context_message",
                          "context_conversation", "context_searchterm"):
                cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            cursor.execute("ANALYZE")


def bench_enrichment(repeats: int, interactions: int, conversation_messages: int = 1000) -> dict:
    from django.db import connection

    from context import steps

    t0 = perf()
    conversation_id = _seed_store(interactions, conversation_messages)
    seeded_s = perf() - t0
    _settle_store()
    questions = [
        "Why does the celery worker retry the invoice email after a timeout?",
        "Review the redis cache invalidation in the gateway fallback path",
        "Write a docstring for the token budget window function",
        "The kubernetes pod memory leak shows up after the deploy migration",
    ]

    async def one(question: str) -> tuple:
        """One request's enrichment and fit: (context, the body sent, wall seconds, CPU seconds)."""
        ctx = _context({"model": "auto", "conversation_id": conversation_id,
                        "messages": [{"role": "user", "content": question}]})
        t, c = perf(), time.process_time()
        await steps.enrich(ctx)
        await steps.measure(ctx)
        body = ctx.body_for(ctx.candidates[0])
        return ctx, body, perf() - t, time.process_time() - c

    async def run(pinned: bool) -> dict:
        from context.models import Conversation

        samples, cpu, sent, last_pin = [], [], {}, ()
        for _ in range(repeats):
            for question in questions:
                ctx, body, wall, used = await one(question)
                samples.append(wall)
                cpu.append(used)
                sent[len(body["messages"])] = ctx.response_headers.get(steps.HEADER, "")
                pin = ctx.extras[steps.EXTRA].pin
                if not pinned and pin:
                    last_pin = pin
        if not pinned:  # what the writer does after a conversation's first exchange: its block is kept
            await asyncio.to_thread(lambda: Conversation.objects.filter(conversation_id=conversation_id)
                                    .update(similar_ids=list(last_pin)))
        cpu_ms = percentiles(cpu)
        # CPU time of the process (event loop and reader thread) per request: what the request costs the
        # machine, unlike the wall time, which on a shared machine mostly measures waiting for a core.
        return {**percentiles(samples), "cpu_p50_ms": cpu_ms["p50_ms"], "cpu_p99_ms": cpu_ms["p99_ms"],
                "sent": sent}

    async def cold() -> dict:
        """The process's first read of the conversation and of each question: its history cache is empty and
        the database's pages for these words are not in memory yet. Once per process and conversation."""
        samples = [round((await one(question))[2] * 1000, 3) for question in questions]
        return {"first read of the conversation_ms": samples[0], "first read of each other question_ms": samples[1:]}

    async def both() -> dict:
        return {"cold (not in the percentiles)": await cold(),
                "first request of a conversation (history + search)": await run(False),
                "later requests (history + the kept block)": await run(True)}

    result = asyncio.run(both())
    return {"database": connection.vendor, "interactions": interactions,
            "conversation_messages": conversation_messages, "seed_s": round(seeded_s, 1), "per request": result}
