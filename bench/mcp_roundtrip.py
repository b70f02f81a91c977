"""MCP round trips over stdio, reported apart from the gateway's own overhead (an MCP call is opt-in and
bounded by its server's timeout; this says what one costs when the server is quick).

    .venv/bin/python bench/mcp_roundtrip.py [--calls 200] [--out bench/results/<date>-mcp.json]

- `sdk`: the official client SDK alone (`ClientSession.call_tool`) against tests/mcp_bridge/context_server.py,
  a FastMCP-style stdio server whose tool returns a formatted string: the transport's floor;
- `gateway_pool`: the same calls through the gateway's session pool (`mcp_bridge.state.sessions.ask`, the
  result cache off): what the enrich step pays per server, on top of the floor;
- `gateway_pool_cached`: a repeated question answered from the pool's short-lived result cache;
- `own_server_search`: `manage.py mcp_server` over stdio, `search_interactions` over 1,000 stored
  interactions (SQLite), the gateway's own MCP server as a client sees it;
- `enrich_step_no_server` / `enrich_step_cached`: the pipeline's MCP `enrich` step itself (µs), with no server
  registered (what every request pays) and with one server whose answer comes from the result cache, the
  block built and its body transform applied once.

Each reports the session start (spawn + initialize, once per process in the gateway) and the latency of
sequential calls: p50, p90, p99, max in milliseconds. One Python process; the machine's load shows in p99.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVER_SCRIPT = ROOT / "tests" / "mcp_bridge" / "context_server.py"
TOPICS = ["kubernetes", "postgres", "redis", "celery", "django", "asyncio", "nginx", "terraform", "kafka", "rust"]


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000, 3)

    return {"calls": len(samples), "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99),
            "max_ms": round(ordered[-1] * 1000, 3), "mean_ms": round(statistics.mean(samples) * 1000, 3)}


def setup_django(tmp: Path) -> None:
    os.environ["DB_PATH"] = str(tmp / "mcp-bench.sqlite3")
    os.environ["GATEWAY_DATA_DIR"] = str(tmp / "data")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_interactions(count: int) -> None:
    from django.utils import timezone

    from context.pending import ConversationKey, Exchange
    from context.services import answer_message, context_batch_write

    batch = []
    for i in range(count):
        topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i * 7 + 3) % len(TOPICS)]
        batch.append(Exchange(
            ConversationKey("", "personal", f"bench-{i // 10}"), f"bench-{i}", timezone.now(),
            [{"role": "user", "content": f"How do I tune {topic} together with {other}? case {i}"}],
            answer_message(f"For {topic} with {other}, start from the defaults and measure (note {i}).", []),
        ))
        if len(batch) == 200:
            context_batch_write(batch)
            batch = []
    if batch:
        context_batch_write(batch)


async def sdk_session(command: str, args: list[str], env: dict | None, tool: str, arguments, calls: int) -> dict:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(ROOT))
    started = time.perf_counter()
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        start_ms = round((time.perf_counter() - started) * 1000, 1)
        await session.call_tool(tool, arguments(0))  # warm
        samples = []
        for i in range(calls):
            t0 = time.perf_counter()
            result = await session.call_tool(tool, arguments(i + 1))
            samples.append(time.perf_counter() - t0)
            assert not result.is_error, result.content
    return {"session_start_ms": start_ms, **summary(samples)}


async def gateway_pool(calls: int) -> dict:
    from django.conf import settings

    from mcp_bridge.specs import ServerSpec
    from mcp_bridge.state import sessions

    spec = ServerSpec(id=1, name="bench", transport="stdio", tool_name="lookup", template={"query": "{task}"},
                      timeout_ms=30000, command=sys.executable, args=(str(SERVER_SCRIPT),))
    settings.MCP_RESULT_CACHE_SECONDS = 0
    started = time.perf_counter()
    assert await sessions.ask(spec, {"query": "warm"})
    start_ms = round((time.perf_counter() - started) * 1000, 1)
    samples = []
    for i in range(calls):
        t0 = time.perf_counter()
        assert await sessions.ask(spec, {"query": f"question {i}"})
        samples.append(time.perf_counter() - t0)
    settings.MCP_RESULT_CACHE_SECONDS = 30
    await sessions.ask(spec, {"query": "cached"})
    cached = []
    for _ in range(calls):
        t0 = time.perf_counter()
        assert await sessions.ask(spec, {"query": "cached"})
        cached.append(time.perf_counter() - t0)
    await sessions.aclose()
    return {"pool": {"session_start_ms": start_ms, **summary(samples)}, "cached": summary(cached)}


async def enrich_step(calls: int) -> dict:
    """µs per request of the `enrich` step: no server registered, then one answered from the cache."""
    from types import SimpleNamespace

    from django.conf import settings

    from mcp_bridge import steps
    from mcp_bridge.models import McpServer
    from mcp_bridge.state import servers_snapshot, sessions

    body = {"model": "auto", "messages": [{"role": "system", "content": "You are a coding agent."},
                                          {"role": "user", "content": "Why does the worker restart loop?"}]}

    def context():
        chat = SimpleNamespace(body=body, conversation_id="", model="auto")
        return SimpleNamespace(chat=chat, profile_name="personal", role="debugging", response_headers={}, extras={},
                               body_transforms=[])

    async def per_call() -> float:
        ctx = context()
        await steps.enrich(ctx)  # warm
        started = time.perf_counter()
        for _ in range(calls):
            ctx = context()
            await steps.enrich(ctx)
            for transform in ctx.body_transforms:
                transform(ctx, None, body)
        return round((time.perf_counter() - started) / calls * 1e6, 2)

    settings.MCP_RESULT_CACHE_SECONDS = 3600
    servers_snapshot.invalidate()
    empty = await per_call()
    await asyncio.to_thread(McpServer.objects.create, name="bench", command=sys.executable,
                            args=[str(SERVER_SCRIPT)], tool_name="lookup", timeout_ms=30000)
    servers_snapshot.invalidate()
    cached = await per_call()
    await sessions.aclose()
    return {"enrich_step_no_server": {"us_per_request": empty}, "enrich_step_cached": {"us_per_request": cached}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--interactions", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp:
        setup_django(Path(tmp))
        seed_interactions(options.interactions)
        results: dict = {}
        results["sdk"] = asyncio.run(sdk_session(
            sys.executable, [str(SERVER_SCRIPT)], None, "lookup", lambda i: {"query": f"question {i}"},
            options.calls))
        pool = asyncio.run(gateway_pool(options.calls))
        results["gateway_pool"], results["gateway_pool_cached"] = pool["pool"], pool["cached"]
        env = {"DB_PATH": os.environ["DB_PATH"], "GATEWAY_DATA_DIR": os.environ["GATEWAY_DATA_DIR"]}
        results["own_server_search"] = asyncio.run(sdk_session(
            sys.executable, ["manage.py", "mcp_server"], env, "search_interactions",
            lambda i: {"query": f"tune {TOPICS[i % len(TOPICS)]} with {TOPICS[(i + 3) % len(TOPICS)]}", "top_k": 3},
            options.calls))
        results.update(asyncio.run(enrich_step(max(options.calls * 10, 1000))))
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": [round(value, 2) for value in os.getloadavg()],  # shared machine: read p99 with it
        "interactions": options.interactions,
        "results": results,
    }
    print(f"{'':22} {'start ms':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in results.items():
        if "us_per_request" in row:
            print(f"{name:22} {row['us_per_request']:>9} µs per request")
            continue
        print(f"{name:22} {row.get('session_start_ms', ''):>9} {row['p50_ms']:>8} {row['p90_ms']:>8} "
              f"{row['p99_ms']:>8} {row['max_ms']:>8}")
    if options.out:
        options.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
