"""Dashboard endpoints at scale: seed N usage rows (default 1,000,000) and their roll-up, then time each panel.

    .venv/bin/python bench/dashboard.py [--rows N] [--days 30] [--database sqlite|postgres|both]
                                        [--postgres-url postgres://postgres@127.0.0.1:5432/gw_dash] [--repeat 5]

Rows are generated inside the database (a recursive CTE on SQLite, generate_series on PostgreSQL), spread
evenly over the last --days days up to now, in sessions as agents send them: conversations of 25
consecutive requests, each session on one key (of 50), one model (of the key's 3, of 12 on 4 providers)
and one role (of the key's 4, of 7); two profiles; per request 2% 5xx, 2% 429, 5% fallbacks, half
streamed (with TTFT). `--scatter` gives every request its own key/model/role instead: the worst case for
the hourly roll-up (about one roll-up row per request), kept to show what the daily one is for.
The roll-ups are then built by `usage_rollup_rebuild` (the backfill).
A database already holding exactly N bench rows is reused (pass --reseed to rebuild it).

Each panel is timed as its view runs it (the same function, in this thread), after one warm-up call:
median and max of --repeat runs, in ms, for the default range (the last 30 days) and with a model filter.
SQLite: a file under var/bench/; PostgreSQL: the database named in --postgres-url (created if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
KEYS, MODELS, PROVIDERS, ROLES = 50, 12, 4, 7
ROLE_NAMES = ("architect", "implementation", "debugging", "review", "documentation", "testing", "general")


def seed_sql(vendor: str, rows: int, start: datetime, span_seconds: int, scatter: bool = False) -> str:
    """One INSERT … SELECT generating `rows` usage rows from a counter x (1..rows) and a hash h of it."""
    if vendor == "postgresql":
        series = (f"SELECT x::bigint AS x, (x::bigint * 2654435761) % 4294967296 AS h, "
                  f"((x::bigint / 25) * 2654435761) % 4294967296 AS s FROM generate_series(1, {rows}) x")
        created = f"TIMESTAMPTZ '{start.isoformat()}' + (x * {span_seconds}.0 / {rows}) * INTERVAL '1 second'"
        text = "::text"
        boolean = "(h % 2 = 0)"
    else:
        series = (f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) "
                  "SELECT x, (x * 2654435761) % 4294967296 AS h, ((x / 25) * 2654435761) % 4294967296 AS s FROM c")
        created = (f"strftime('%Y-%m-%d %H:%M:%f', '{start.strftime('%Y-%m-%d %H:%M:%S')}', "
                   f"'+' || (x * {span_seconds}.0 / {rows}) || ' seconds')")
        text = ""
        boolean = "(h % 2 = 0)"
    key = "(s % 50)"  # a session (conversation of 25 requests) keeps its key, model and role
    model = f"(({key} + (s / 50) % 3) % {MODELS})"
    role = f"(({key} + (s / 150) % 4) % {ROLES})"
    status = "CASE WHEN (h / 600) % 50 = 0 THEN 502 WHEN (h / 600) % 50 = 1 THEN 429 ELSE 200 END"
    prompt = "(500 + (h / 7) % 5000)"
    completion = "(50 + (h / 11) % 800)"
    roles = "CASE " + " ".join(f"WHEN {role} = {i} THEN '{name}'" for i, name in enumerate(ROLE_NAMES)) + " END"
    columns = ("created_at, request_id, profile, api_key_prefix, role, conversation_id, requested_model, model, "
               "provider, upstream_model, stream, attempts, attempt_log, prompt_tokens, completion_tokens, "
               "total_tokens, cost, latency_ms, ttft_ms, overhead_ms, status_code, status, error_type, error_message")
    values = f"""
        {created},
        'session-' || x{text},
        CASE WHEN {key} % 2 = 0 THEN 'personal' ELSE 'work' END,
        'gwk_bench' || lpad({key}{text}, 3, '0'),
        {roles},
        'conv-' || (x / 25){text},
        'auto',
        'model-' || {model}{text},
        'provider-' || ({model} % {PROVIDERS}){text},
        'upstream-' || {model}{text},
        {boolean},
        CASE WHEN (h / 13) % 20 = 0 THEN 2 ELSE 1 END,
        '[]',
        {prompt}, {completion}, {prompt} + {completion},
        ({prompt} * (1 + {model}) * 0.25 + {completion} * (1 + {model})) / 1000000.0,
        200 + (h / 17) % 5000,
        CASE WHEN {boolean} THEN 80 + (h / 19) % 900 ELSE NULL END,
        0.2 + ((h / 23) % 100) / 100.0,
        {status},
        CASE WHEN {status} = 200 THEN 'ok' ELSE 'error' END,
        '', ''
    """
    if scatter:  # key, model and role from the request's own hash, not its session's
        values = values.replace("(s ", "(h ").replace("'session-'", "'scatter-'")
    if vendor == "sqlite":
        values = values.replace("lpad(", "substr('000' || ").replace(", 3, '0')", ", -3)")
    return f"INSERT INTO usage_usagerecord ({columns}) SELECT {values} FROM ({series}) AS g"


def setup(database: str, postgres_url: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    os.environ["USAGE_JOURNAL_DIR"] = "off"
    if database == "postgres":
        os.environ["DATABASE_URL"] = postgres_url
        name = postgres_url.rsplit("/", 1)[1]
        subprocess.run(["psql", postgres_url.rsplit("/", 1)[0] + "/postgres", "-qc", f"CREATE DATABASE {name}"],
                       capture_output=True)
    else:
        (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
        os.environ["DB_PATH"] = str(ROOT / "var" / "bench" / "dashboard.db")
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", "-v0")


def seed(rows: int, days: int, reseed: bool, scatter: bool) -> dict:
    from django.db import connection, transaction

    from usage.models import UsageRecord, UsageRollup
    from usage.services import usage_rollup_rebuild

    present = UsageRecord.objects.filter(request_id__startswith="scatter-" if scatter else "session-").count()
    if present == rows and not reseed and UsageRollup.objects.exists():
        return {"reused": True}
    now = datetime.now(UTC)
    start = now - timedelta(days=days)
    t0 = time.perf_counter()
    with transaction.atomic():
        UsageRecord.objects.all().delete()
        UsageRollup.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(seed_sql(connection.vendor, rows, start, int((now - start).total_seconds()) - 1, scatter))
    seeded = time.perf_counter() - t0
    t0 = time.perf_counter()
    rollup_rows = usage_rollup_rebuild()
    built = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"reused": False, "seed_s": round(seeded, 1), "rollup_build_s": round(built, 1),
            "rollup_rows": rollup_rows}


def cases() -> list[tuple[str, str, dict]]:
    cases = [("overview", "overview", {}), ("quota", "quota", {}), ("options", "options", {})]
    for by in ("model", "provider", "role", "key", "profile", "role_source", "status_class"):
        cases.append((f"breakdown by {by}", "breakdown", {"by": by}))
    cases += [("latency", "latency", {}), ("latency by model", "latency", {"by": "model"}),
              ("conversations", "conversations", {})]
    filtered = [(f"{name} [model filter]", panel, {**params, "model": "model-3"}) for name, panel, params in
                cases if panel in ("overview", "latency", "conversations") or params.get("by") == "key"]
    return cases + filtered


def measure(repeat: int) -> list[dict]:
    from django.db import connection

    from usage.dashboard.filters import parse_filters
    from usage.dashboard.views import PANELS

    results = []
    for name, panel, params in cases():
        filters = parse_filters(params)
        PANELS[panel](filters, params)  # warm-up
        times, cpu = [], []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            PANELS[panel](filters, params)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        # On SQLite the query runs in this process: its CPU time is what the panel costs on an idle core
        # (wall time includes waiting for a core on a shared machine). On PostgreSQL it is only our side.
        results.append({"panel": name, "median_ms": round(statistics.median(times), 1),
                        "max_ms": round(max(times), 1), "cpu_median_ms": round(statistics.median(cpu), 1)})
        print(f"  {connection.vendor:10} {name:40} {results[-1]['median_ms']:8.1f} ms  (max {results[-1]['max_ms']}, "
              f"cpu {results[-1]['cpu_median_ms']})", flush=True)
    return results


def run_one(database: str, args) -> dict:
    setup(database, args.postgres_url)
    from django.db import connection

    from usage.models import UsageRecord, UsageRollup

    print(f"{database}: seeding {args.rows:,} rows over {args.days} days …", flush=True)
    seeding = seed(args.rows, args.days, args.reseed, args.scatter)
    print(f"  {seeding}", flush=True)
    from usage.models import UsageDailyRollup

    return {"database": connection.vendor, "rows": UsageRecord.objects.count(), "scatter": args.scatter,
            "hourly_rollup_rows": UsageRollup.objects.count(), "daily_rollup_rows": UsageDailyRollup.objects.count(),
            "seeding": seeding, "panels": measure(args.repeat)}


def render(report: dict) -> str:
    """A markdown table: one row per panel, median (max) ms per database."""
    results = report["results"]
    lines = [f"{report['rows']:,} usage rows over {report['days']} days; " + "; ".join(
        f"{r['database']}: {r['hourly_rollup_rows']:,} hourly / {r['daily_rollup_rows']:,} daily roll-up rows"
        for r in results), "",
        "| panel | " + " | ".join(f"{r['database']} median (max) ms" for r in results) + " | SQLite CPU ms |",
        "|---|" + "---:|" * (len(results) + 1)]
    sqlite = next((r for r in results if r["database"] == "sqlite"), None)
    for index, panel in enumerate(results[0]["panels"]):
        cells = [f"{r['panels'][index]['median_ms']} ({r['panels'][index]['max_ms']})" for r in results]
        cells.append(str(sqlite["panels"][index].get("cpu_median_ms", "")) if sqlite else "")
        lines.append(f"| {panel['panel']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/gw_dash")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--scatter", action="store_true", help="every request its own key/model/role (worst case)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one database per process: Django is set up once per process
        print(json.dumps(run_one(args.child, args)), file=sys.stderr)
        return 0
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "rows": args.rows, "days": args.days,
              "results": []}
    for database in databases:
        command = [sys.executable, __file__, "--child", database, *(argv if argv is not None else sys.argv[1:])]
        done = subprocess.run(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        report["results"].append(json.loads(done.stderr.strip().splitlines()[-1]))
    report["markdown"] = render(report)
    out = args.out or BENCH / "results" / f"{datetime.now(UTC):%Y-%m-%dT%H%M%S}-dashboard.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(report["markdown"])
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
