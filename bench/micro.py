"""Micro-benchmarks of the gateway's hot-path pieces, in-process (Django on a temp SQLite DB).

    .venv/bin/python bench/micro.py [--quick] [--out bench/results/<date>-micro.json]

- `routing.selection.select_candidates` on the shipped routing configuration (data/model_routing.json,
  built by hand if it cannot be imported): `auto` with a role, and a named model with fallbacks;
- `proxy.chat_request.parse_chat_request` on a small body (2 messages) and a large one (100);
- `providers.sse.SSEDecoder.feed` on a recorded OpenAI stream, fed event by event (as a
  provider sends them) and in 1 KiB pieces that split events;
- `apikeys.access.authenticate` (a valid key among 1,000, and an unknown one) and the in-process
  limiter's `acquire` + `settle` for a key with RPM, TPM and a budget;
- `usage.services.usage_records_write`: batches of 200 `UsageEvent`s into SQLite, rows per second;
- `/v1/responses` translation: Codex's recorded request (tests/fixtures/agents) and a one-line one into
  a chat request, a completion into a `response`, and chat chunks into typed events (µs per chunk).
- `proxy.route_reason.describe_route` + `header_value` for a request that skipped a candidate for its
  quota, and a free-tier quota's reserve + settle (`proxy.quota`, in-process counters).
- a request-path read's hand-off to a reader thread and back (`core.background.run_read`), beside the
  ThreadPoolExecutor hand-off it replaced.
- role detection (fast path, classifier, the whole detector), the strategy rewrite and context enrichment
  (a 1,000-message conversation, `--interactions` past interactions): bench/micro_prompts.py.

Each timing is the best and the median of several repeats of a loop sized to run >= 0.2 s (0.05 s with
--quick), like `timeit`'s autorange.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SSE_FIXTURE = ROOT / "tests" / "fixtures" / "wire" / "openai" / "chat_completion_stream_include_usage.sse"

perf = time.perf_counter


def timeit(fn, *, min_time: float, repeat: int) -> dict:
    """µs per call: best and median of `repeat` loops, each loop long enough to last `min_time`."""
    fn()  # warm
    number = 1
    while True:
        t0 = perf()
        for _ in range(number):
            fn()
        elapsed = perf() - t0
        if elapsed >= min_time:
            break
        number *= 2 if elapsed == 0 else max(2, min(10, int(min_time / elapsed) + 1))
    runs = [elapsed / number]
    for _ in range(repeat - 1):
        t0 = perf()
        for _ in range(number):
            fn()
        runs.append((perf() - t0) / number)
    return {
        "best_us": round(min(runs) * 1e6, 3),
        "median_us": round(statistics.median(runs) * 1e6, 3),
        "loops": number,
        "repeat": repeat,
    }


def code_tree(ref: str | None, tmp: Path) -> tuple[Path, str]:
    """The working tree, or `git archive REF` unpacked under `tmp` (stable while others edit)."""
    if ref is None:
        return ROOT, "working tree"
    commit = subprocess.run(
        ["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = tmp / "gateway-tree"
    dest.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest, f"git archive {ref} ({commit})"


def setup_django(tmp: Path, root: Path, database_url: str | None = None) -> None:
    os.environ["DB_PATH"] = str(tmp / "micro.sqlite3")
    os.environ["GATEWAY_DATA_DIR"] = str(tmp / "data")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    if database_url:  # a scratch PostgreSQL database of the benchmark's own: it is filled, never emptied
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    sys.path.insert(0, str(root))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load_routing(routing_file: Path) -> str:
    """The shipped routing file into the DB, with a dummy key for every provider. Returns how."""
    doc = json.loads(routing_file.read_text()) if routing_file.exists() else None
    if doc is not None:
        for provider in doc.get("providers", []):
            if provider.get("api_key_env"):
                os.environ[provider["api_key_env"]] = "micro-bench-key"
        try:
            from django.core.management import call_command

            call_command("import_routing", str(routing_file), verbosity=0, stdout=io.StringIO())
            return "imported data/model_routing.json"
        except Exception as exc:  # the import machinery may be mid-change: fall back to rows by hand
            print(f"import_routing failed ({exc!r}); building the routing rows by hand", file=sys.stderr)
    return build_by_hand()


def build_by_hand() -> str:
    """A realistic configuration of our own: 3 providers, 12 models, 8 roles ranked, 2 profiles."""
    from routing.models import Model, ModelFallback, Profile, Provider, RankingEntry, Role, RoleName

    providers = {
        name: Provider.objects.create(
            name=name, base_url=f"https://{name}.example/v1", api_key_env=f"{name.upper()}_API_KEY", tier=tier
        )
        for name, tier in (("nanogpt", "free"), ("openai", "paid"), ("openrouter", "paid"))
    }
    for provider in providers.values():
        os.environ[provider.api_key_env] = "micro-bench-key"
    models = {}
    for i in range(12):
        provider = list(providers.values())[i % 3]
        models[i] = Model.objects.create(public_id=f"model-{i}", provider=provider, upstream_name=f"up-{i}")
    for i in range(12):
        ModelFallback.objects.create(model=models[i], fallback=models[(i + 1) % 12], position=0)
        ModelFallback.objects.create(model=models[i], fallback=models[(i + 2) % 12], position=1)
    for r, role_name in enumerate(RoleName.values):
        role = Role.objects.create(name=role_name)
        for position in range(5):
            kind = "primary" if position == 0 else ("free_tier" if position >= 3 else "fallback")
            RankingEntry.objects.create(role=role, model=models[(r + position) % 12], kind=kind, position=position)
    Profile.objects.create(name="personal", tiers="free,paid,enterprise")
    Profile.objects.create(name="work", tiers="enterprise,paid")
    return "built by hand (3 providers, 12 models, 8 roles x 5 ranked)"


def bench_selection(min_time: float, repeat: int) -> dict:
    from core.errors import GatewayError
    from routing.selection import resolve_profile, select_candidates
    from routing.selectors import build_routing_snapshot

    snapshot = build_routing_snapshot()
    profile = resolve_profile(snapshot, None)
    role = "architect" if "architect" in snapshot.rankings else next(iter(snapshot.rankings))
    auto = select_candidates(snapshot, model="auto", role=role, profile=profile)

    named_id, named = None, None
    for model_id, _spec in sorted(snapshot.models.items(), key=lambda kv: -len(kv[1].fallbacks)):
        try:
            named = select_candidates(snapshot, model=model_id, role=None, profile=profile)
        except GatewayError:
            continue
        named_id = model_id
        break
    out = {
        "snapshot": {
            "providers": len(snapshot.providers),
            "models": len(snapshot.models),
            "roles_ranked": len(snapshot.rankings),
            "profile": profile.name,
        },
        f"auto, role {role} ({len(auto)} candidates)": timeit(
            lambda: select_candidates(snapshot, model="auto", role=role, profile=profile),
            min_time=min_time,
            repeat=repeat,
        ),  # fmt: skip
    }
    if named_id is not None:
        out[f"named {named_id} ({len(named)} candidates)"] = timeit(
            lambda: select_candidates(snapshot, model=named_id, role=None, profile=profile),
            min_time=min_time, repeat=repeat,
        )  # fmt: skip
    return out


def chat_body(messages: int) -> bytes:
    convo = [{"role": "system", "content": "You are a careful senior engineer. Answer precisely and briefly."}]
    for i in range(messages - 1):
        if i % 2 == 0:
            text = f"Step {i}: please review this function and explain what it does. " + "def f(x): return x * 2\n" * 4
            convo.append({"role": "user", "content": text})
        else:
            convo.append({"role": "assistant", "content": f"Step {i}: it doubles its argument. " + "Details. " * 20})
    return json.dumps({"model": "auto", "messages": convo, "temperature": 0.2, "max_tokens": 512}).encode()


def bench_parse(min_time: float, repeat: int) -> dict:
    from django.conf import settings

    from proxy.chat_request import parse_chat_request
    from routing.selectors import build_routing_snapshot

    roles = build_routing_snapshot().roles
    headers = {"content-type": "application/json", "x-gateway-role": "architect"}
    out = {}
    for label, n in (("small (2 messages)", 2), ("large (100 messages)", 100)):
        raw = chat_body(n)
        parse_chat_request(raw, headers, max_messages=settings.GATEWAY_MAX_MESSAGES, known_roles=roles)
        result = timeit(
            lambda raw=raw: parse_chat_request(
                raw, headers, max_messages=settings.GATEWAY_MAX_MESSAGES, known_roles=roles
            ),
            min_time=min_time, repeat=repeat,
        )  # fmt: skip
        result["body_bytes"] = len(raw)
        out[f"{label}, {len(raw)} B"] = result
    return out


def bench_sse(min_time: float, repeat: int) -> dict:
    from providers.sse import SSEDecoder

    if not SSE_FIXTURE.exists():
        return {"skipped": f"{SSE_FIXTURE} not found"}
    stream = SSE_FIXTURE.read_bytes()
    by_event = [part + b"\n\n" for part in stream.split(b"\n\n") if part.strip()]
    by_kib = [stream[i : i + 1024] for i in range(0, len(stream), 1024)]
    events = len(SSEDecoder().feed(stream))

    def run(pieces: list[bytes]):
        def feed_all() -> None:
            decoder = SSEDecoder()
            for piece in pieces:
                decoder.feed(piece)

        return feed_all

    out = {"stream": {"file": SSE_FIXTURE.name, "bytes": len(stream), "events": events}}
    for label, pieces in (("one event per read", by_event), ("1 KiB reads", by_kib)):
        result = timeit(run(pieces), min_time=min_time, repeat=repeat)
        result["feeds_per_stream"] = len(pieces)
        result["us_per_event_best"] = round(result["best_us"] / events, 3)
        out[f"whole stream, {label} ({len(pieces)} feeds)"] = result
    return out


def bench_responses(min_time: float, repeat: int) -> dict:
    from proxy.fronts.responses.stream import ResponseStreamBuilder
    from proxy.fronts.responses.translate_request import to_chat_request
    from proxy.fronts.responses.translate_response import ResponseEnvelope, to_response

    recorded = ROOT / "tests" / "fixtures" / "agents" / "codex_0.171.0_2.request.json"
    codex = json.loads(recorded.read_text())["body"]
    codex["tools"] = [tool for tool in codex["tools"] if tool.get("type") != "web_search"]
    small = {"model": "auto", "instructions": "Be brief.", "input": "Say hello"}
    completion = {"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "Hello there, how can I help?"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}}
    chunks = [{"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": f"word{i} "}}]}
              for i in range(20)]
    chunks.append({"id": "c", "model": "m", "choices": [], "usage": completion["usage"]})

    def stream_all() -> None:
        builder = ResponseStreamBuilder(ResponseEnvelope.for_request(small))
        builder.start()
        for chunk in chunks:
            builder.feed(chunk)
        events, response = builder.done()
        builder.completed_event(response)

    out = {}
    for label, body in ((f"Codex turn 2 ({len(codex['input'])} items, {len(codex['tools'])} tools)", codex),
                        ("one-line input", small)):
        out[f"to_chat_request, {label}"] = timeit(lambda body=body: to_chat_request(body), min_time=min_time,
                                                  repeat=repeat)
    envelope = ResponseEnvelope.for_request(small)
    out["to_response, one text answer"] = timeit(lambda: to_response(completion, envelope), min_time=min_time,
                                                 repeat=repeat)
    result = timeit(stream_all, min_time=min_time, repeat=repeat)
    result["us_per_event_best"] = round(result["best_us"] / len(chunks), 3)
    out[f"stream of {len(chunks)} chunks into events"] = result
    return out


def bench_usage_write(batches: int) -> dict:
    from usage.events import UsageEvent
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    def event() -> UsageEvent:
        return UsageEvent(
            created_at=dt.datetime.now(dt.UTC),
            request_id=f"gw-{uuid.uuid4().hex}",
            profile="personal",
            role="implementation",
            conversation_id="conv-123",
            requested_model="auto",
            model="claude-3.5-sonnet",
            provider="anthropic",
            upstream_model="claude-3-5-sonnet-20241022",
            stream=True,
            attempts=1,
            attempt_log=[{"provider": "anthropic", "model": "claude-3.5-sonnet", "status": 200, "ms": 812.4}],
            prompt_tokens=1200,
            completion_tokens=350,
            total_tokens=1550,
            cost=0.00885,
            latency_ms=812.4,
            ttft_ms=231.0,
            overhead_ms=0.41,
        )

    usage_records_write([event() for _ in range(200)])  # warm: connection, statement compile
    times = []
    for _ in range(batches):
        batch = [event() for _ in range(200)]
        t0 = perf()
        written = usage_records_write(batch)
        times.append(perf() - t0)
        assert written == 200
    rows = UsageRecord.objects.count()
    best = min(times)
    median = statistics.median(times)
    return {
        "batch_size": 200,
        "batches": batches,
        "rows_in_table_after": rows,
        "ms_per_batch_best": round(best * 1e3, 3),
        "ms_per_batch_median": round(median * 1e3, 3),
        "rows_per_s_best": round(200 / best),
        "rows_per_s_median": round(200 / median),
    }


def bench_keys(min_time: float, repeat: int) -> dict:
    from apikeys.access import AuthenticationFailed, KeySnapshot, KeySpec, authenticate
    from apikeys.keyformat import generate_key
    from apikeys.limits import LocalLimiter

    specs, plaintexts = {}, []
    for _ in range(1000):
        plaintext, prefix, hashed = generate_key()
        specs[prefix] = KeySpec(prefix=prefix, name="bench", digest=hashed)
        plaintexts.append(plaintext)
    snapshot = KeySnapshot(keys=specs)
    valid, unknown = plaintexts[500], generate_key()[0]

    def refuse() -> None:
        try:
            authenticate(snapshot, unknown, anonymous_allowed=False, now=0.0)
        except AuthenticationFailed:
            pass

    limited = KeySpec(prefix="gwk_benchkey", name="bench", digest="0" * 64, rpm_limit=10**9, tpm_limit=10**12,
                      monthly_budget=1e9)
    limiter = LocalLimiter()

    def admit_and_settle() -> None:
        admission = limiter.acquire(limited, 500)  # never suspends: drive the coroutine without a loop
        try:
            admission.send(None)
        except StopIteration as done:
            limiter.settle(done.value, 400, 0.001)

    return {
        "authenticate, valid key (1,000 keys)": timeit(
            lambda: authenticate(snapshot, valid, anonymous_allowed=False, now=0.0), min_time=min_time, repeat=repeat
        ),
        "authenticate, unknown key → 401": timeit(refuse, min_time=min_time, repeat=repeat),
        "LocalLimiter acquire + settle": timeit(admit_and_settle, min_time=min_time, repeat=repeat),
    }


def bench_dispatch_extras(min_time: float, repeat: int) -> dict:
    import asyncio

    from core.counters import LocalCounters
    from providers.specs import ModelSpec, ProviderSpec
    from proxy.dispatch import CallLog
    from proxy.quota import ProviderQuotas, current_month
    from proxy.route_reason import describe_route, header_value
    from routing.selection import Candidate

    free = ProviderSpec("nanogpt", "openai_compatible", "http://x", "free", 60, True, "", monthly_token_quota=10**12)
    paid = ProviderSpec("openai", "openai_compatible", "http://y", "paid", 60, True, "")
    candidates = [
        Candidate(ModelSpec("free-model", "nanogpt", "f"), free, "free_tier",
                  "role 'implementation' ranking #3 (free-tier alternative: no cost, free tier first in profile "
                  "'personal')"),
        Candidate(ModelSpec("gpt-4.1", "openai", "gpt-4.1"), paid, "primary",
                  "role 'implementation' ranking #1 (primary: strongest on SWE-bench among the paid models)"),
    ]
    log = CallLog()
    log.skipped(candidates[0], "quota_exhausted")
    log.succeeded(candidates[1], time.perf_counter())

    quotas = ProviderQuotas(LocalCounters())
    loop = asyncio.new_event_loop()
    seeded = loop.create_future()
    seeded.set_result(None)
    quotas._seeded[current_month(time.time())] = seeded  # the month's seed from the usage rows: done

    def reserve_and_settle() -> None:
        admission = quotas.reserve(free, 1500)  # never suspends: drive the coroutine without a loop
        try:
            admission.send(None)
        except StopIteration as done:
            quotas.settle(done.value[0], 900)

    first_try = CallLog()
    first_try.succeeded(candidates[1], time.perf_counter())
    try:
        return {
            "describe_route + header_value (first try answered)": timeit(
                lambda: header_value(describe_route(candidates[1:], first_try)), min_time=min_time, repeat=repeat),
            "describe_route + header_value (1 skipped, 1 answered)": timeit(
                lambda: header_value(describe_route(candidates, log)), min_time=min_time, repeat=repeat),
            "quota reserve + settle (in-process)": timeit(reserve_and_settle, min_time=min_time, repeat=repeat),
        }
    finally:
        loop.close()


def bench_read_handoff(min_time: float, repeat: int) -> dict:
    """A request-path read's trip to a reader thread and back (`core.background.run_read`, an empty read), and
    the same trip through a ThreadPoolExecutor with `loop.run_in_executor`, the hand-off it replaced. Wall
    time with this process pinned to one core: both threads' CPU, as on a gateway's core."""
    import asyncio
    from collections.abc import Awaitable, Callable
    from concurrent.futures import ThreadPoolExecutor

    from core.background import run_read

    def nothing() -> None:
        return None

    executor = ThreadPoolExecutor(max_workers=2)
    loop = asyncio.new_event_loop()

    def trips(make: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        async def hundred() -> None:
            for _ in range(100):
                await make()

        return lambda: loop.run_until_complete(hundred())

    try:
        lane = timeit(trips(lambda: run_read(nothing)), min_time=min_time, repeat=repeat)
        pool = timeit(trips(lambda: loop.run_in_executor(executor, nothing)), min_time=min_time, repeat=repeat)
    finally:
        loop.close()
        executor.shutdown()
    per_trip = {key: round(value / 100, 2) for key, value in lane.items() if key in ("best_us", "median_us")}
    per_pool = {key: round(value / 100, 2) for key, value in pool.items() if key in ("best_us", "median_us")}
    return {"run_read (thread lane), per trip": per_trip, "run_in_executor (ThreadPoolExecutor), per trip": per_pool}


def render(report: dict) -> str:
    lines = [f"# Hot-path micro-benchmarks — {report['date']}", ""]
    c = report["conditions"]
    lines.append(
        f"Python {c['python']}, {c['cores']} cores, pinned to {c['pinned_to']}; code: {c['gateway_code']}; "
        f"routing: {report['routing']}."
    )
    lines.append("")
    lines.append("| piece | case | best µs/call | median µs/call |")
    lines.append("|---|---|---:|---:|")
    for section in ("select_candidates", "parse_chat_request", "SSEDecoder.feed", "keys", "responses",
                    "dispatch extras", "read hand-off"):
        for case, r in report.get(section, {}).items():
            if isinstance(r, dict) and "best_us" in r:
                extra = f" ({r['us_per_event_best']} µs per event)" if "us_per_event_best" in r else ""
                lines.append(f"| {section} | {case} | {r['best_us']}{extra} | {r['median_us']} |")
    u = report["usage_records_write"]
    lines.append("")
    lines.append(
        f"`usage_records_write`, batches of {u['batch_size']} into SQLite: {u['ms_per_batch_median']} ms per batch "
        f"(median; best {u['ms_per_batch_best']}) → **{u['rows_per_s_median']} rows/s** (best {u['rows_per_s_best']})."
    )
    lines.append("")
    lines.extend(render_prompts(report))
    return "\n".join(lines)


def render_prompts(report: dict) -> list[str]:
    lines = ["| piece | case | p50 ms | p99 ms |", "|---|---|---:|---:|"]
    for section in ("role_detection", "rewrite"):
        for case, r in report.get(section, {}).items():
            lines.append(f"| {section} | {case} | {r['p50_ms']} | {r['p99_ms']} |")
    e = report.get("enrichment")
    for case, r in (e or {}).get("per request", {}).items():
        if "p50_ms" not in r:
            continue
        lines.append(f"| enrichment | {case}: latest turn of a {e['conversation_messages']}-message conversation, "
                     f"{e['interactions']:,} interactions ({e['database']}) | {r['p50_ms']} (CPU {r['cpu_p50_ms']}) "
                     f"| {r['p99_ms']} (CPU {r['cpu_p99_ms']}) |")
    cold = (e or {}).get("per request", {}).get("cold (not in the percentiles)")
    if cold:
        lines.append("")
        lines.append(f"Cold, once per process and conversation (not in the percentiles): the first read of the "
                     f"conversation {cold['first read of the conversation_ms']} ms, of each other question "
                     f"{cold['first read of each other question_ms']} ms.")
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/<date>-micro.json)")
    parser.add_argument("--cpu", type=int, default=1 if (os.cpu_count() or 1) > 1 else None, help="pin to core")
    parser.add_argument("--gateway-ref", help="measure `git archive REF` (e.g. HEAD) instead of the working tree")
    parser.add_argument("--interactions", type=int, help="past interactions in the enrichment store "
                        "(default 100,000; 5,000 with --quick)")
    parser.add_argument("--database-url", help="run on this (scratch) PostgreSQL database instead of SQLite")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    min_time, repeat = (0.05, 3) if args.quick else (0.2, 7)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-micro-"))
    started = dt.datetime.now()
    try:
        root, source = code_tree(args.gateway_ref, tmp)
        setup_django(tmp, root, args.database_url)
        import django

        how = load_routing(root / "data" / "model_routing.json")
        report = {
            "date": started.isoformat(timespec="seconds"),
            "conditions": {
                "python": platform.python_version(),
                "django": django.get_version(),
                "cores": os.cpu_count(),
                "pinned_to": f"core {args.cpu}" if args.cpu is not None else "no core",
                "gateway_code": source,
                "min_time_s": min_time,
                "repeat": repeat,
            },
            "routing": how,
            "select_candidates": bench_selection(min_time, repeat),
            "parse_chat_request": bench_parse(min_time, repeat),
            "SSEDecoder.feed": bench_sse(min_time, repeat),
            "keys": bench_keys(min_time, repeat),
            "responses": bench_responses(min_time, repeat),
            "dispatch extras": bench_dispatch_extras(min_time, repeat),
            "read hand-off": bench_read_handoff(min_time, repeat),
            "usage_records_write": bench_usage_write(5 if args.quick else 25),
        }
        sys.path.insert(0, str(BENCH))
        import micro_prompts

        report["role_detection"] = micro_prompts.bench_detection(3 if args.quick else 10)
        report["rewrite"] = micro_prompts.bench_rewrite(3 if args.quick else 10)
        interactions = args.interactions or (5000 if args.quick else 100_000)
        report["enrichment"] = micro_prompts.bench_enrichment(10 if args.quick else 50, interactions)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(tmp, ignore_errors=True)
    report["markdown"] = render(report)
    out = args.out or BENCH / "results" / f"{started.strftime('%Y-%m-%dT%H%M%S')}-micro.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(report["markdown"])
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
