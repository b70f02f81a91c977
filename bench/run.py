"""The gateway's own overhead, measured against a direct call and against LiteLLM's proxy, interleaved.

    .venv/bin/python bench/run.py [--quick] [--skip-litellm] [--duration S] [--rounds N] [--out FILE]
        [--gateway-ref REF] [--baseline-ref REF]   (REF: a commit; --baseline-ref adds the gateway at REF beside)
        [--only-features | --skip-features]

One command: starts the loopback mock upstream, the gateway (Daphne, fresh temp SQLite DB) and LiteLLM's
proxy (installed on first use into bench/.litellm-venv), then for each case (non-streaming and streaming
at concurrency 1, 10, 50, plus a paced stream) runs the three targets in interleaved rounds with the
closed-loop load generator of bench/loadgen.py, then the feature case (bench/feature_case.py: `auto` with role
detection, strategy block and conversation context against the same messages without them, through the same
gateway process, at c=1), then sweeps the gateway's concurrency, checks that every
request sent through the gateway left exactly one usage row, prints markdown tables and writes every
number as JSON under bench/results/.

Pinning (with >= 2 cores): the gateway and LiteLLM on core 0, the upstream and this process (the load
generator) on core 1. Only 127.0.0.1 is ever contacted; every load loop is bounded in time and count.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import feature_case  # noqa: E402
import loadgen  # noqa: E402

LITELLM_VERSION = "1.106.10"  # exactly this one: the release the issue-11 targets were measured against
LITELLM_VENV = BENCH / ".litellm-venv"
HOST = "127.0.0.1"
CHAT_PATH = "/v1/chat/completions"
UPSTREAM_MODEL = "mock-gpt"
UPSTREAM_PACED_MODEL = "mock-gpt-paced"
GATEWAY_MODEL = "bench-model"
GATEWAY_PACED_MODEL = "bench-paced"
STREAM_CHUNKS = 5  # content deltas per streamed reply
PACED = {"chunks": 5, "chunk_delay_ms": 20}
SWEEP_LEVELS = (1, 10, 25, 50, 100, 200, 400)
MAX_REQUESTS_PER_RUN = 200_000
TARGET_ORDER = ("direct", "gateway", "baseline", "litellm")
GATEWAYS = ("gateway", "baseline")  # the gateway under test and, with --baseline-ref, the previous release

perf = time.perf_counter


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------------------------------


class Processes:
    """Every child runs in its own session (process group); `stop_all` ends each group, TERM then KILL."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: list = []

    def start(self, name: str, argv: list[str], *, env: dict, cpu: int | None, log_path: Path, cwd: Path = ROOT):
        if cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu), *argv]
        log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop_all
        self.logs.append(log_file)
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, timeout: float = 10.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (workers, helpers)
        return proc.returncode

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name, timeout=5.0)
        for log_file in self.logs:
            log_file.close()
        self.logs.clear()


def gateway_tree(ref: str | None, tmp: Path, dest_name: str = "gateway-tree") -> tuple[Path, dict]:
    """Where a gateway runs from: the working tree, or `git archive REF` unpacked under `tmp / dest_name` (a
    stable snapshot while others edit the working tree; the repository itself is left untouched)."""

    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", ref or "HEAD")
    except (OSError, subprocess.CalledProcessError):
        commit = None
    if ref is None:
        try:
            dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        except (OSError, subprocess.CalledProcessError):
            dirty = None
        return ROOT, {"source": "working tree", "head": commit, "uncommitted_changes": dirty}
    if commit is None:
        raise SystemExit(f"bench: {ref!r} is not a commit of this repository")
    dest = tmp / dest_name
    dest.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest, {"source": f"git archive {ref}", "commit": commit, "short": commit[:7]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- /proc: memory and CPU of a process tree -----------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            pass
    return round(total_kb / 1024, 1)


def _stat_cpu_seconds(path: str) -> float:
    """utime + stime of a /proc `stat` file (a process's or one thread's); 0 once it is gone."""
    try:
        with open(path, "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_seconds(pids: list[int]) -> float:
    return sum(_stat_cpu_seconds(f"/proc/{pid}/stat") for pid in pids)


def thread_cpu_seconds(pid: int, tid: int) -> float:
    """CPU seconds of one thread (the server's main thread: its event loop, for `tid == pid`); 0 once gone."""
    return _stat_cpu_seconds(f"/proc/{pid}/task/{tid}/stat")


def core_busy_seconds() -> dict[int, float]:
    """Process time (user, nice, system) of each core since boot, from /proc/stat. Interrupt and softirq
    time (loopback networking, mostly ours) and steal are left out: they are not any process's time."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, user, nice, system = line.split()[:4]
                out[int(name[3:])] = (int(user) + int(nice) + int(system)) / CLK_TCK
    return out


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# -- targets -------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    model: str
    paced_model: str
    proc_name: str  # whose process tree is "the target" (RSS, CPU)
    label: str = ""  # as shown in the report (the baseline: gateway@<short commit>)
    is_gateway: bool = False  # its requests leave usage rows; it sends X-Gateway-Overhead-Ms
    sent: int = 0  # gateways: every request written to its chat endpoint (probes, warm-ups, sweep included)
    db: Path | None = None  # gateways: their SQLite DB
    status_headers: dict[str, str] = field(default_factory=dict)  # gateways: to read /status (an admin key)
    pid: int = 0
    cold_start_s: float | None = None
    rss_idle_mb: float | None = None
    rss_load_max_mb: float = 0.0
    rss_end_mb: float | None = None
    notes: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, stream: bool, paced: bool = False) -> bytes:
        model = self.paced_model if paced else self.model
        return loadgen.build_request(HOST, self.port, CHAT_PATH, model, stream=stream, extra_headers=self.headers)


@dataclass(frozen=True)
class Case:
    name: str
    stream: bool
    concurrency: int
    paced: bool = False


@dataclass
class Slot:
    """What one column of an interleaved case sends: to `target`, `request` (None: the target's own)."""

    target: Target
    request: bytes | loadgen.Numbered | None = None


CASES = (
    Case("non-stream c=1", False, 1),
    Case("non-stream c=10", False, 10),
    Case("non-stream c=50", False, 50),
    Case("stream c=1", True, 1),
    Case("stream c=10", True, 10),
    Case("stream c=50", True, 50),
    Case(f"paced stream c=1 ({PACED['chunks']}x{PACED['chunk_delay_ms']}ms)", True, 1, paced=True),
)
FEATURE_CASE = Case("features c=1", False, 1)  # bench/feature_case.py


async def wait_first_200(target: Target, t0: float, proc: subprocess.Popen, timeout: float, counter: dict) -> float:
    """Seconds from `t0` (process launch) to the first 200 on a chat completion; polls every 20 ms."""
    request = target.request(stream=False)
    deadline = t0 + timeout
    while perf() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited with {proc.returncode} before answering")
        try:
            resp = await loadgen.one_request(HOST, target.port, request, timeout=5.0)
        except (OSError, ConnectionError, TimeoutError):
            await asyncio.sleep(0.02)
            continue
        counter["probes_answered"] = counter.get("probes_answered", 0) + 1
        if resp.status == 200:
            return perf() - t0
        await asyncio.sleep(0.02)
    raise RuntimeError(f"{target.name} gave no 200 within {timeout}s")


# -- setup of each process -----------------------------------------------------------------------------


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DB_PATH")}
    env.pop("BENCH_BASE_URL", None)
    env.pop("PROMPT_REWRITE_MODEL", None)  # no LLM rewriting: `auto` requests get the template strategy only
    env["PYTHONUNBUFFERED"] = "1"
    return env


def routing_document(upstream_port: int) -> dict:
    base = f"http://{HOST}:{upstream_port}/v1"

    def model(public_id: str, upstream: str) -> dict:
        return {
            "id": public_id,
            "provider": "bench",
            "upstream": upstream,
            "context_window": 128000,
            "input_price_per_mtok": "1",
            "output_price_per_mtok": "2",
            "capabilities": ["json", "tools"],
            "enabled": True,
            "fallbacks": [],
        }

    return {
        "version": 1,
        "providers": [
            {
                "name": "bench",
                "kind": "openai_compatible",
                "base_url": base,
                "api_key_env": "BENCH_API_KEY",
                "tier": "paid",
                "timeout_seconds": 60.0,
                "enabled": True,
                "notes": "benchmark loopback upstream",
            }
        ],
        "models": [model(GATEWAY_MODEL, UPSTREAM_MODEL), model(GATEWAY_PACED_MODEL, UPSTREAM_PACED_MODEL)],
        "roles": {
            "general": {
                "description": "benchmark",
                "primary": {"model": GATEWAY_MODEL, "reason": "benchmark"},
                "fallbacks": [],
                "free_tier": [],
            }
        },
        "profiles": [
            {"name": "personal", "description": "benchmark", "tiers": ["free", "paid", "enterprise"], "providers": []}
        ],
    }


ROUTING_BY_ORM = """
import json, sys
import django
django.setup()
from routing.models import Model, Profile, Provider, RankingEntry, Role
doc = json.load(open(sys.argv[1]))
p = doc["providers"][0]
provider = Provider.objects.create(name=p["name"], kind=p["kind"], base_url=p["base_url"],
    api_key_env=p["api_key_env"], tier=p["tier"], timeout_seconds=p["timeout_seconds"])
models = {m["id"]: Model.objects.create(public_id=m["id"], provider=provider, upstream_name=m["upstream"],
    context_window=m["context_window"]) for m in doc["models"]}
role = Role.objects.create(name="general")
RankingEntry.objects.create(role=role, model=models["bench-model"], kind="primary", position=0)
Profile.objects.create(name="personal", tiers="free,paid,enterprise")
print("routing rows created through the ORM")
"""


def prepare_gateway_db(tmp: Path, upstream_port: int, env: dict, root: Path) -> dict:
    """Fresh SQLite DB: migrate, then the routing rows (import_routing, else straight through the ORM)."""
    python = str(ROOT / ".venv" / "bin" / "python")
    doc_path = tmp / "routing.json"
    doc_path.write_text(json.dumps(routing_document(upstream_port), indent=1))
    t0 = perf()
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True, timeout=300)
    migrate_s = perf() - t0
    imported = subprocess.run(
        [python, "manage.py", "import_routing", str(doc_path)], cwd=root, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    how = "manage.py import_routing"
    if imported.returncode != 0:
        log(f"import_routing failed ({imported.stderr.strip()[-300:]}); creating the rows through the ORM")
        script = tmp / "routing_by_orm.py"
        script.write_text(ROUTING_BY_ORM)
        orm_env = {**env, "DJANGO_SETTINGS_MODULE": "gateway_project.settings", "PYTHONPATH": str(root)}
        subprocess.run([python, str(script), str(doc_path)], cwd=root, env=orm_env, check=True, timeout=120)
        how = "ORM script"
    return {"migrate_s": round(migrate_s, 2), "routing_rows_via": how}


def create_gateway_key(env: dict, root: Path, *, admin: bool = False) -> str | None:
    """A gateway key with RPM/TPM limits far above the load, so authentication and the limiter are on the
    measured path as in production. None for code from before gateway keys (then: anonymous mode).
    `admin`: a second key, only for reading `/status` (None where create_key has no --admin)."""
    python = str(ROOT / ".venv" / "bin" / "python")
    argv = [python, "manage.py", "create_key", "--name", "bench-admin" if admin else "bench"]
    argv += ["--admin"] if admin else ["--rpm", "1000000000", "--tpm", "1000000000000"]
    created = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    return created.stdout.strip() if created.returncode == 0 else None


def ensure_litellm() -> str:
    """bench/.litellm-venv with litellm[proxy]==LITELLM_VERSION; returns the installed version."""
    python = LITELLM_VENV / "bin" / "python"

    def installed() -> str | None:
        if not python.exists():
            return None
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip() if out.returncode == 0 else None

    version = installed()
    if version == LITELLM_VERSION and (LITELLM_VENV / "bin" / "litellm").exists():
        return version
    log(f"installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV} (once; takes a minute or two)")
    if not python.exists():
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    install_log = LITELLM_VENV / "install.log"
    with open(install_log, "ab") as out:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], stdout=out, stderr=out)
        subprocess.run(
            [str(python), "-m", "pip", "install", f"litellm[proxy]=={LITELLM_VERSION}"],
            stdout=out, stderr=out, check=True, timeout=1800,
        )  # fmt: skip
    version = installed()
    if version != LITELLM_VERSION:
        raise RuntimeError(f"litellm {version} installed, expected exactly {LITELLM_VERSION} (see {install_log})")
    return version


def litellm_config(upstream_port: int) -> str:
    base = f"http://{HOST}:{upstream_port}/v1"
    entries = []
    for public, upstream in ((GATEWAY_MODEL, UPSTREAM_MODEL), (GATEWAY_PACED_MODEL, UPSTREAM_PACED_MODEL)):
        entries.append(
            f"  - model_name: {public}\n"
            f"    litellm_params:\n"
            f"      model: openai/{upstream}\n"
            f"      api_base: {base}\n"
            f"      api_key: bench-key\n"
        )
    return (
        "model_list:\n" + "".join(entries) + "litellm_settings:\n  set_verbose: false\n  json_logs: false\n"
        "general_settings:\n  disable_spend_logs: true\n"
    )


def machine_conditions(pinned: bool, litellm_version: str | None) -> dict:
    names = ["django", "daphne", "twisted", "httpx", "django-ninja", "orjson"]
    script = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n    try: return m.version(n)\n    except m.PackageNotFoundError: return None\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))"
    )
    try:  # the gateway's virtualenv, whatever interpreter runs this script
        out = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "-c", script, *names], capture_output=True, text=True, check=True
        )
        versions = json.loads(out.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        versions = dict.fromkeys(names)

    cpu_model = None
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_total = None
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_total_gb": mem_total,
        "loadavg_at_start": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {**versions, "litellm": litellm_version},
        "pinning": (
            "gateway(s) and litellm on core 0; upstream and load generator on core 1"
            if pinned
            else "none (fewer than 2 cores or no taskset)"
        ),
    }


# -- measuring -----------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes, tmp: Path):
        self.args = args
        self.procs = procs
        self.tmp = tmp
        self.targets: dict[str, Target] = {}
        self.probe_counts: dict[str, dict] = {}
        self.pinned = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
        self.server_cpu = 0 if self.pinned else None
        self.client_cpu = 1 if self.pinned else None
        self.upstream_pid = 0
        # name -> (code root, where it came from): the gateway under test, and the baseline (--baseline-ref)
        self.gateway_trees: dict[str, tuple[Path, dict]] = {"gateway": gateway_tree(args.gateway_ref, tmp)}
        if args.baseline_ref:
            self.gateway_trees["baseline"] = gateway_tree(args.baseline_ref, tmp, "baseline-tree")
        self.gateway_source = self.gateway_trees["gateway"][1]
        self.server = args.server
        self.foreign: list[tuple[float, float]] = []  # per slice: other processes' share of core 0, core 1
        self.discarded_slices = 0
        self.feature_ready: set[str] = set()  # gateways whose strategies were imported: they run the feature case
        self.settle_window = 0.1 if args.quick else 0.2
        self.foreign_wait = 1.0 if args.quick else 5.0

    # ---- starting
    async def start_upstream(self) -> None:
        port = free_port()
        env = base_env()
        argv = [
            str(ROOT / ".venv" / "bin" / "python"), "-m", "mock_upstream", "--host", HOST,
            "--port", str(port), "--chunks", str(STREAM_CHUNKS),
        ]  # fmt: skip
        target = Target("direct", port, UPSTREAM_MODEL, UPSTREAM_PACED_MODEL, "upstream", label="direct")
        t0 = perf()
        proc = self.procs.start(
            "upstream", argv, env=env, cpu=self.client_cpu, log_path=self.tmp / "upstream.log", cwd=ROOT
        )  # always the working tree's mock (older refs had it elsewhere), whatever code the gateways run
        counter: dict = {}
        target.cold_start_s = await wait_first_200(target, t0, proc, 30.0, counter)
        target.pid = self.upstream_pid = proc.pid
        # the paced model: a few chunks, each after a pause, to see them relayed as they arrive
        body = json.dumps({"models": {UPSTREAM_PACED_MODEL: PACED}}).encode()
        req = (
            f"POST /_mock/config HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        resp = await loadgen.one_request(HOST, port, req)
        if resp.status != 200:
            raise RuntimeError(f"configuring the paced model failed: {resp.status} {resp.body[:200]!r}")
        self.targets["direct"] = target
        log(f"upstream on :{port} (first 200 after {target.cold_start_s:.2f}s)")

    async def start_gateway(self, name: str = "gateway") -> dict:
        """The gateway `name` ("gateway": the code under test; "baseline": --baseline-ref) from its own code
        root, with its own SQLite DB, data dir (secret key file) and gateway key."""
        root, source = self.gateway_trees[name]
        work = self.tmp / name
        work.mkdir()
        port = free_port()
        env = {
            **base_env(),
            "DB_PATH": str(work / "gateway.sqlite3"),
            "GATEWAY_DATA_DIR": str(work / "gateway-data"),  # its secret key file: not in the checkout
            "BENCH_API_KEY": "bench-key",
        }
        setup = prepare_gateway_db(work, self.targets["direct"].port, env, root)
        if not self.args.skip_features:  # the feature case's strategy blocks (a baseline without them: no case)
            python = str(ROOT / ".venv" / "bin" / "python")
            imported = subprocess.run([python, "manage.py", "import_strategies", "-v", "0"], cwd=root, env=env,
                                      check=name == "gateway", timeout=120, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)  # fmt: skip
            if imported.returncode == 0:
                setup["strategies"] = "manage.py import_strategies (config/prompt_strategies.yaml)"
                self.feature_ready.add(name)
        key = create_gateway_key(env, root)
        if key is None:
            env["GATEWAY_ALLOW_ANONYMOUS"] = "true"
        setup["auth"] = "gateway key with RPM/TPM limits (in-process limiter)" if key else "none (older code)"
        python = str(ROOT / ".venv" / "bin" / "python")
        if self.server == "uvicorn":
            argv = [
                python, "-m", "uvicorn", "--host", HOST, "--port", str(port), "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--log-level", "warning",
                "gateway_project.asgi:application",
            ]  # fmt: skip
        else:
            # As the code's own scripts/run starts it: releases with GATEWAY_ACCESS_LOG run Daphne with -v 0
            # (no access-log line per request) unless that is switched on; older ones logged every request.
            run_script = root / "scripts" / "run"
            quiet = run_script.exists() and "GATEWAY_ACCESS_LOG" in run_script.read_text()
            argv = [python, "-m", "daphne", *(["-v", "0"] if quiet else []), "-b", HOST, "-p", str(port),
                    "gateway_project.asgi:application"]
        label = "gateway" if name == "gateway" else f"gateway@{source['short']}"
        target = Target(name, port, GATEWAY_MODEL, GATEWAY_PACED_MODEL, name, label=label, is_gateway=True)
        target.db = Path(env["DB_PATH"])
        if key:
            target.headers = {"Authorization": f"Bearer {key}"}
            admin_key = create_gateway_key(env, root, admin=True)
            if admin_key:
                target.status_headers = {"Authorization": f"Bearer {admin_key}"}
        t0 = perf()
        proc = self.procs.start(name, argv, env=env, cpu=self.server_cpu, log_path=self.tmp / f"{name}.log", cwd=root)
        counter: dict = {}
        target.cold_start_s = await wait_first_200(target, t0, proc, 60.0, counter)
        target.sent += counter.get("probes_answered", 0)
        target.pid = proc.pid
        self.targets[name] = target
        setup["code"] = source
        log(f"{label} on :{port} (first 200 after {target.cold_start_s:.2f}s; {setup})")
        return setup

    async def start_litellm(self) -> None:
        port = free_port()
        config = self.tmp / "litellm.yaml"
        config.write_text(litellm_config(self.targets["direct"].port))
        env = {
            **base_env(),
            "LITELLM_LOG": "ERROR",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the internet
            # no master key: like the gateway today, no client auth (LiteLLM refuses to boot otherwise)
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
            "LITELLM_TELEMETRY": "False",
        }
        for name in ("DATABASE_URL", "LITELLM_MASTER_KEY", "STORE_MODEL_IN_DB"):
            env.pop(name, None)
        argv = [
            str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--host", HOST, "--port", str(port),
            "--num_workers", "1",
        ]  # fmt: skip
        target = Target("litellm", port, GATEWAY_MODEL, GATEWAY_PACED_MODEL, "litellm", label="litellm")
        t0 = perf()
        proc = self.procs.start("litellm", argv, env=env, cpu=self.server_cpu, log_path=self.tmp / "litellm.log")
        target.cold_start_s = await wait_first_200(target, t0, proc, 120.0, {})
        target.pid = proc.pid
        self.targets["litellm"] = target
        log(f"litellm on :{port} (first 200 after {target.cold_start_s:.2f}s)")

    # ---- one slice of load
    def server_pids(self, exclude: str | None = None) -> list[int]:
        pids: list[int] = []
        for name, target in self.targets.items():
            if name != exclude:
                pids += tree_pids(target.pid)
        return pids

    async def settle(self, max_wait: float = 10.0, foreign_wait: float | None = None) -> float:
        """Wait until every server process is idle (at most one clock tick of CPU in a window), so work a
        target leaves behind after its slice (background tasks, logging, flushes) never runs during the
        next target's slice on the shared core; and, for at most `foreign_wait` seconds, until processes
        outside this benchmark leave our cores alone (at most two ticks a window). Returns seconds waited."""
        window = self.settle_window
        foreign_wait = self.foreign_wait if foreign_wait is None else foreign_wait
        start = perf()
        pids = self.server_pids()
        tick = 1.0 / CLK_TCK + 1e-9
        while perf() - start < max_wait:
            before, own0, cores0 = cpu_seconds(pids), own_cpu_seconds(), core_busy_seconds()
            await asyncio.sleep(window)
            servers = cpu_seconds(pids) - before
            cores1 = core_busy_seconds()
            busy = sum(cores1[c] - cores0[c] for c in (0, 1) if c in cores1)
            foreign = busy - servers - (own_cpu_seconds() - own0)
            if servers <= tick and (not self.pinned or foreign <= 2 * tick or perf() - start > foreign_wait):
                break
        return perf() - start

    async def clean_slice(self, target: Target, case: Case, duration: float, *, sample_rss: bool, **load) -> tuple:
        """A slice, run again (at most twice) when another workload took > 10% of one of our cores."""
        for attempt in range(3):
            result, used = await self.slice(target, case, duration, sample_rss=sample_rss, **load)
            disturbed = max(used.get("foreign_server_core", 0.0), used.get("foreign_client_core", 0.0))
            budget_left = self.discarded_slices < self.args.max_reruns
            if disturbed <= 0.10 * used["wall"] or attempt == 2 or not budget_left:
                if "foreign_server_core" in used:  # the kept slices' foreign load, for the report
                    wall = used["wall"]
                    self.foreign.append((used["foreign_server_core"] / wall, used["foreign_client_core"] / wall))
                return result, used
            self.discarded_slices += 1
            log(f"{case.name} / {target.name}: slice disturbed by another workload "
                f"({100 * disturbed / used['wall']:.0f}% of a core); running it again")  # fmt: skip
        raise AssertionError("unreachable")

    async def slice(
        self, target: Target, case: Case, duration: float, *, sample_rss: bool,
        request: bytes | loadgen.Numbered | None = None, tally: tuple[str, ...] = (), bill_tail: bool = False,
    ) -> tuple:
        """One run of load on `target`: `request` (default: the target's own for the case); `tally`: response
        headers of a gateway whose values are counted; `bill_tail`: the CPU the target spends after the last
        response, until it is idle again (work the requests left behind, e.g. batched writes), is billed to
        the slice."""
        waited = await self.settle()
        if request is None:
            request = target.request(case.stream, case.paced)
        pids = tree_pids(target.pid)
        up_pids = tree_pids(self.upstream_pid)
        other_pids = [p for p in self.server_pids(exclude=target.name) if p not in up_pids]
        cpu0, up0, own0, t0 = cpu_seconds(pids), cpu_seconds(up_pids), own_cpu_seconds(), perf()
        loop0 = thread_cpu_seconds(target.pid, target.pid) if target.name != "direct" else 0.0
        others0 = cpu_seconds(other_pids)
        cores0 = core_busy_seconds()
        stop = asyncio.Event()

        async def sampler() -> None:
            while not stop.is_set():
                target.rss_load_max_mb = max(target.rss_load_max_mb, rss_mb(tree_pids(target.pid)))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)

        task = asyncio.create_task(sampler()) if sample_rss else None
        try:
            result = await loadgen.run_load(
                HOST, target.port, request, concurrency=case.concurrency, duration=duration,
                max_requests=MAX_REQUESTS_PER_RUN, stream=case.stream, timeout=self.args.timeout,
                overhead_header="x-gateway-overhead-ms" if target.is_gateway else None,
                tally_headers=tally if target.is_gateway else (),
            )  # fmt: skip
        finally:
            stop.set()
            if task is not None:
                await task
        wall = perf() - t0
        cores1 = core_busy_seconds()
        cpu = {
            "target": cpu_seconds(pids) - cpu0 if target.name != "direct" else 0.0,
            "upstream": cpu_seconds(up_pids) - up0,
            "loadgen": own_cpu_seconds() - own0,
            "others": cpu_seconds(other_pids) - others0,  # the other servers: should be ~0
            "wall": wall,
            "settle": waited,
        }
        if self.pinned:  # CPU on our two cores that none of our processes used: someone else's load
            ours_server = (cpu["target"] if target.name != "direct" else 0.0) + cpu["others"]
            ours_client = cpu["upstream"] + cpu["loadgen"]
            foreign = (
                max(0.0, cores1[0] - cores0[0] - ours_server),
                max(0.0, cores1[1] - cores0[1] - ours_client),
            )
            cpu["foreign_server_core"] = foreign[0]
            cpu["foreign_client_core"] = foreign[1]
        if bill_tail and target.name != "direct":
            cpu["target_tail"] = await self.tail_cpu(pids)
            cpu["target"] += cpu["target_tail"]
        if target.name != "direct":  # of "target": the server's event-loop thread (the rest: its other threads)
            cpu["target_loop"] = thread_cpu_seconds(target.pid, target.pid) - loop0
        if target.is_gateway:
            target.sent += result.sent
        return result, cpu

    async def tail_cpu(self, pids: list[int], max_wait: float = 5.0) -> float:
        """CPU seconds `pids` use from now until a window in which they use at most one clock tick (idle)."""
        tick = 1.0 / CLK_TCK + 1e-9
        start, total = perf(), 0.0
        while perf() - start < max_wait:
            before = cpu_seconds(pids)
            await asyncio.sleep(self.settle_window)
            used = cpu_seconds(pids) - before
            if used <= tick:
                break
            total += used
        return total

    # ---- the cases, interleaved
    async def interleave(self, case: Case, slots: dict[str, Slot], **load) -> dict:
        """A warm-up slice per slot (not recorded), then --rounds rounds of one slice per slot, the first slot
        rotating from round to round. Returns a summary per slot (with what it adds to the slot "direct") and
        the foreign load of the kept slices. `load`: passed on to each slice (tally, bill_tail)."""
        args = self.args
        names = list(slots)
        for name in names:  # warm-up, not recorded
            await self.slice(slots[name].target, case, args.warmup, sample_rss=False, request=slots[name].request,
                             **load)
        pooled = {n: loadgen.RunResult() for n in names}
        keys = ("target", "upstream", "loadgen", "others", "wall", "settle", "foreign_server_core",
                "foreign_client_core", "target_tail", "target_loop")  # fmt: skip
        cpu = {n: dict.fromkeys(keys, 0.0) for n in names}
        for rnd in range(args.rounds):
            order = names[rnd % len(names) :] + names[: rnd % len(names)]  # rotate who goes first
            for name in order:
                result, used = await self.clean_slice(
                    slots[name].target, case, args.duration, sample_rss=case.concurrency >= 50,
                    request=slots[name].request, **load,
                )  # fmt: skip
                pooled[name].merge(result)
                for k, v in used.items():
                    cpu[name][k] += v
        entry: dict = {"targets": {}}
        for name in names:
            direct = slots[name].target.name == "direct"
            summary = pooled[name].summary()
            wall = cpu[name]["wall"] or 1.0
            in_slices = cpu[name]["target"] - cpu[name]["target_tail"]  # the work after the slices is not in `wall`
            summary["cpu_pct"] = {
                "target": round(100 * in_slices / wall, 1) if not direct else None,
                "upstream": round(100 * cpu[name]["upstream"] / wall, 1),
                "loadgen": round(100 * cpu[name]["loadgen"] / wall, 1),
                "other_servers": round(100 * cpu[name]["others"] / wall, 1),
                "foreign_on_server_core": round(100 * cpu[name]["foreign_server_core"] / wall, 1),
                "foreign_on_client_core": round(100 * cpu[name]["foreign_client_core"] / wall, 1),
            }
            ok = pooled[name].ok
            summary["cpu_ms_per_request"] = {  # CPU of the process tree per completed request, kept slices
                part: (round(1000 * cpu[name][part] / ok, 3) if ok else None)
                for part in ("target", "upstream", "loadgen", "target_loop")
            }
            if direct:
                summary["cpu_ms_per_request"]["target"] = summary["cpu_ms_per_request"]["target_loop"] = None
            elif load.get("bill_tail"):  # the part of "target" spent after the slices' last responses
                summary["cpu_ms_per_request"]["target_after_last_response"] = (
                    round(1000 * cpu[name]["target_tail"] / ok, 3) if ok else None
                )
            summary["settle_wait_s"] = round(cpu[name]["settle"], 2)
            entry["targets"][name] = summary
        walls = sum(cpu[n]["wall"] for n in names) or 1.0
        entry["foreign_pct"] = {  # over all the case's kept slices, every target
            "server_core": round(100 * sum(cpu[n]["foreign_server_core"] for n in names) / walls, 1),
            "client_core": round(100 * sum(cpu[n]["foreign_client_core"] for n in names) / walls, 1),
        }
        direct = entry["targets"].get("direct", {})
        for name in names:
            if name == "direct":
                continue
            s = entry["targets"][name]
            s["added"] = {
                key: _diff(s.get(key), direct.get(key))
                for key in ("p50_ms", "p99_ms", "mean_ms", "ttft_p50_ms", "ttft_p99_ms")
                if s.get(key) is not None
            }
        return entry

    def brief(self, case_name: str, entry: dict, labels: dict[str, str], started: float) -> None:
        brief = ", ".join(
            f"{labels.get(n, n)} {s['rps']}/s p50 {s['p50_ms']}ms "
            f"cpu/req {_f(s['cpu_ms_per_request']['target'], 3)}ms err {s['errors']}"
            for n, s in entry["targets"].items()
        )
        log(f"{case_name} ({perf() - started:.1f}s): {brief}")

    async def run_cases(self) -> dict:
        names = [n for n in TARGET_ORDER if n in self.targets]
        report: dict = {}
        for case in CASES:
            t_case = perf()
            measured = await self.interleave(case, {n: Slot(self.targets[n]) for n in names})
            entry = {"stream": case.stream, "concurrency": case.concurrency, "paced": case.paced, **measured}
            if "baseline" in entry["targets"]:
                entry["gateway_vs_baseline"] = compare(entry["targets"]["gateway"], entry["targets"]["baseline"])
            report[case.name] = entry
            self.brief(case.name, entry, {n: t.label for n, t in self.targets.items()}, t_case)
        return report

    async def run_features(self) -> dict:
        """The feature case (bench/feature_case.py): featured, plain and direct through the gateway under test,
        and with --baseline-ref the same variants through the baseline, interleaved in the same rounds."""
        t_case = perf()
        direct = self.targets["direct"]
        gateways = [name for name in GATEWAYS if name in self.targets]
        for name in gateways:
            if name not in self.feature_ready:
                log(f"{FEATURE_CASE.name}: the {name} has no role strategies to import (older code); measured "
                    f"without it")
        gateways = [name for name in gateways if name in self.feature_ready]
        slots = {"direct": Slot(direct, feature_case.requests(HOST, direct.port, CHAT_PATH, UPSTREAM_MODEL,
                                                             direct.headers, conversation=False))}
        entry: dict = {"name": FEATURE_CASE.name, "stream": False, "concurrency": 1, "start_up_check": {}}
        for name in gateways:
            prefix = "" if name == "gateway" else f"{name}_"
            try:
                variants, seen = await self._feature_variants(self.targets[name])
            except feature_case.FeatureCheckFailed as error:
                if name == "gateway":
                    raise
                log(f"{FEATURE_CASE.name}: the {name} cannot run the case ({error}); measured without it")
                continue
            entry["start_up_check"][name] = seen
            slots.update({prefix + variant: slot for variant, slot in variants.items()})
        entry.update(await self.interleave(FEATURE_CASE, slots, tally=feature_case.FEATURE_HEADERS, bill_tail=True))
        targets = entry["targets"]
        for name in gateways:
            prefix = "" if name == "gateway" else f"{name}_"
            if prefix + "featured" not in targets:
                continue
            checks = feature_case.timed_checks(targets[prefix + "featured"], targets[prefix + "plain"],
                                               targets[prefix + "agent_turn"], targets[prefix + "plain_turn"])
            entry[prefix + "timed_checks"] = checks
            entry[prefix + "store_interactions_at_end"] = count_rows(self.targets[name].db, "context_interaction")
            entry[prefix + "cost"] = feature_case.cost(entry, prefix + "featured", prefix + "plain")
            entry[prefix + "cost_agent_turn"] = feature_case.cost(entry, prefix + "agent_turn", prefix + "plain_turn")
        self.brief(FEATURE_CASE.name, entry, {}, t_case)
        log(entry["cost"]["verdict"])
        log(entry["cost_agent_turn"]["verdict"])
        for key in ("baseline_cost", "baseline_cost_agent_turn"):
            if key in entry:
                log(f"baseline ({self.gateway_trees['baseline'][1].get('short')}): {entry[key]['verdict']}")
        return entry

    async def _feature_variants(self, gateway: Target) -> tuple[dict[str, Slot], dict]:
        """The feature case's four gateway variants for `gateway`, after checking through the upstream's log that
        the featured ones take the feature's path and the plain ones do not."""
        direct = self.targets["direct"]
        featured = feature_case.requests(HOST, gateway.port, CHAT_PATH, "auto", gateway.headers, conversation=True)
        plain = feature_case.requests(HOST, gateway.port, CHAT_PATH, GATEWAY_MODEL, gateway.headers,
                                      conversation=False)
        agent_turn = feature_case.loop_requests(HOST, gateway.port, CHAT_PATH, "auto", gateway.headers)
        try:
            seen = await feature_case.verify(HOST, gateway.port, direct.port, featured, plain)
            seen.update(await feature_case.verify_loop(HOST, gateway.port, direct.port, agent_turn))
        finally:  # every request sent has its usage row, checked at the end: a failed check's requests too
            gateway.sent += featured.taken + plain.taken + agent_turn.taken
        log(f"{FEATURE_CASE.name}: {gateway.label} checked: featured {seen['featured'][-1]}; agent turn "
            f"{seen['agent_turn'][-1]}; plain adds nothing")
        plain_turn = feature_case.loop_requests(HOST, gateway.port, CHAT_PATH, GATEWAY_MODEL, gateway.headers,
                                                conversation=False)
        return {"plain": Slot(gateway, plain), "featured": Slot(gateway, featured),
                "plain_turn": Slot(gateway, plain_turn), "agent_turn": Slot(gateway, agent_turn)}, seen

    async def sweep(self) -> dict:
        """Each gateway alone (the baseline too, when there is one), non-streaming, at rising concurrency;
        at each level the gateways run one after the other, the first one alternating from level to level."""
        args = self.args
        names = [n for n in GATEWAYS if n in self.targets]
        out = {n: {"levels": [], "c1_p99_ms": None, "largest_concurrency_p99_under_2x_c1_and_no_errors": None}
               for n in names}  # fmt: skip
        for i, c in enumerate(SWEEP_LEVELS):
            case = Case(f"sweep c={c}", False, c)
            for name in names[i % len(names) :] + names[: i % len(names)]:
                target, res = self.targets[name], out[name]
                await self.slice(target, case, args.warmup, sample_rss=False)
                result, used = await self.clean_slice(target, case, args.sweep_duration, sample_rss=False)
                s = result.summary()
                s["concurrency"] = c
                s["cpu_pct_target"] = round(100 * used["target"] / used["wall"], 1)
                s["cpu_pct_loadgen"] = round(100 * used["loadgen"] / used["wall"], 1)
                s["cpu_ms_per_request"] = round(1000 * used["target"] / result.ok, 3) if result.ok else None
                s["foreign_pct"] = {
                    "server_core": round(100 * used.get("foreign_server_core", 0.0) / used["wall"], 1),
                    "client_core": round(100 * used.get("foreign_client_core", 0.0) / used["wall"], 1),
                }
                if c == 1:
                    res["c1_p99_ms"] = s["p99_ms"]
                base_p99 = res["c1_p99_ms"]
                s["p99_within_2x_c1"] = bool(base_p99 and s["p99_ms"] is not None and s["p99_ms"] < 2 * base_p99)
                if s["p99_within_2x_c1"] and s["errors"] == 0:
                    res["largest_concurrency_p99_under_2x_c1_and_no_errors"] = c
                res["levels"].append(s)
                log(f"sweep {target.label} c={c}: {s['rps']}/s p50 {s['p50_ms']}ms p99 {s['p99_ms']}ms "
                    f"errors {s['errors']}")  # fmt: skip
        return out

    async def usage_check(self, name: str = "gateway") -> dict:
        """Once the gateway reports nothing pending: one usage row per request it was sent?"""
        target = self.targets[name]
        await asyncio.sleep(1.0)
        head = f"GET /status HTTP/1.1\r\nHost: {HOST}:{target.port}\r\nConnection: close\r\n"
        status_request = (head + "".join(f"{k}: {v}\r\n" for k, v in target.status_headers.items()) + "\r\n").encode()
        pending = None
        deadline = perf() + 30
        while perf() < deadline:
            resp = await loadgen.one_request(HOST, target.port, status_request)
            with contextlib.suppress(ValueError, AttributeError):
                pending = json.loads(resp.body).get("usage_rows_pending")
            if pending == 0:
                break
            if pending is None and count_usage_rows(target.db)[0] >= target.sent:
                break  # /status without the pending count (or refused): all the rows are there already
            await asyncio.sleep(0.25)
        rows, by_status = count_usage_rows(target.db)
        return {
            "target": target.label,
            "requests_sent_through_gateway": target.sent,
            "usage_rows": rows,
            "usage_rows_by_status": by_status,
            "pending_after_drain": pending,
            "match": rows == target.sent,
        }


def count_rows(db: Path, table: str) -> int:
    con = sqlite3.connect(str(db), timeout=20)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def count_usage_rows(db: Path) -> tuple[int, dict]:
    con = sqlite3.connect(str(db), timeout=20)
    try:
        rows = con.execute("SELECT COUNT(*) FROM usage_usagerecord").fetchone()[0]
        by_status = dict(con.execute("SELECT status, COUNT(*) FROM usage_usagerecord GROUP BY status").fetchall())
    finally:
        con.close()
    return rows, by_status


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b; None unless both are there and positive (an added latency below 0 is noise, not a ratio)."""
    return None if a is None or b is None or a < 0 or b <= 0 else round(a / b, 3)


def compare(g: dict, b: dict) -> dict:
    """Gateway / baseline ratios of one case's summaries: < 1 is less (better) for latencies and CPU, > 1 is
    more (better) for req/s."""
    added_g, added_b = g.get("added", {}), b.get("added", {})
    out = {key: _ratio(g.get(key), b.get(key)) for key in ("rps", "p50_ms", "p99_ms", "ttft_p50_ms", "ttft_p99_ms")}
    out.update({f"added_{key}": _ratio(added_g.get(key), added_b.get(key)) for key in
                ("p50_ms", "p99_ms", "ttft_p50_ms", "ttft_p99_ms")})  # fmt: skip
    out["cpu_ms_per_request"] = _ratio(g["cpu_ms_per_request"]["target"], b["cpu_ms_per_request"]["target"])
    out["cpu_pct_target"] = _ratio(g["cpu_pct"]["target"], b["cpu_pct"]["target"])
    return {k: v for k, v in out.items() if v is not None or k in ("rps", "p50_ms", "cpu_ms_per_request")}


# -- reporting -----------------------------------------------------------------------------------------


def _f(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _x(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.2f}×"


def render_markdown(report: dict) -> str:
    lines: list[str] = []
    settings = report["settings"]
    cond = report["conditions"]
    tree = cond.get("gateway_tree") or {}
    base_tree = cond.get("baseline_tree")
    labels = {name: t.get("label") or name for name, t in report.get("targets", {}).items()}
    base_label = labels.get("baseline", f"gateway@{(base_tree or {}).get('short')}")
    vs = f"gateway / {base_label}"
    lines.append(f"# Gateway overhead benchmark — {report['date']}")
    lines.append("")
    lines.append(
        f"{cond['cores']} cores ({cond['cpu_model']}), Python {cond['python']}, "
        f"Django {cond['packages']['django']}, Daphne {cond['packages']['daphne']}, "
        f"httpx {cond['packages']['httpx']}, LiteLLM {cond['packages']['litellm'] or 'not run'}; "
        f"pinning: {cond['pinning']}. {settings['rounds']} interleaved rounds × {settings['slice_s']} s per target "
        f"and case after a {settings['warmup_s']} s warm-up; latencies in ms. Gateway code: "
        f"{tree.get('source')} at {tree.get('commit') or tree.get('head')}"
        + (" (with uncommitted changes)" if tree.get("uncommitted_changes") else "")
        + "."
        + (
            f" Baseline `{base_label}`: {base_tree.get('source')} at {base_tree.get('commit')}, measured beside it "
            f"(own DB and key); ratios are {vs}: under 1 means less (latency, CPU), over 1 for req/s more."
            if base_tree
            else ""
        )
        + " Mock upstream: the working tree's."
    )
    foreign = report.get("foreign_cpu")
    if foreign:
        quiet = (
            foreign["server_core_mean_pct"] < 2
            and foreign["client_core_mean_pct"] < 2
            and foreign["server_core_max_pct"] <= 10
            and foreign["client_core_max_pct"] <= 10
        )
        lines.append("")
        lines.append(
            f"Foreign load during the slices (CPU of processes not in this benchmark): server core mean "
            f"{foreign['server_core_mean_pct']}% / max {foreign['server_core_max_pct']}%, client core mean "
            f"{foreign['client_core_mean_pct']}% / max {foreign['client_core_max_pct']}%; slices run again "
            f"because disturbed: {foreign['slices_run_again_because_disturbed']}"
            + (
                " — quiet enough (means < 2%, no kept slice over 10%)."
                if quiet
                else " — **NOT quiet: numbers are disturbed by another workload.**"
            )
        )
    if report["cases"]:
        lines.append("")
        lines.append("## Latency and throughput per case")
        lines.append("")
        lines.append(
            "| case | target | req/s | p50 | p99 | +p50 | +p99 | TTFT p50 | TTFT p99 | +TTFT p50 | +TTFT p99 "
            "| errors | CPU ms/req | CPU % target/upstream/loadgen/others | foreign % server/client core |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for case_name, case in report["cases"].items():
        for name, s in case["targets"].items():
            added = s.get("added", {})
            cpu = s["cpu_pct"]
            lines.append(
                f"| {case_name} | {labels.get(name, name)} | {_f(s['rps'], 1)} | {_f(s['p50_ms'])} "
                f"| {_f(s['p99_ms'])} | {_f(added.get('p50_ms'))} | {_f(added.get('p99_ms'))} "
                f"| {_f(s.get('ttft_p50_ms'))} | {_f(s.get('ttft_p99_ms'))} | {_f(added.get('ttft_p50_ms'))} "
                f"| {_f(added.get('ttft_p99_ms'))} | {s['errors']} | {_f(s['cpu_ms_per_request']['target'], 3)} "
                f"| {_f(cpu['target'], 0)}/{_f(cpu['upstream'], 0)}/{_f(cpu['loadgen'], 0)}"
                f"/{_f(cpu['other_servers'], 0)} | {_f(cpu.get('foreign_on_server_core'), 0)}"
                f"/{_f(cpu.get('foreign_on_client_core'), 0)} |"
            )
        r = case.get("gateway_vs_baseline")
        if r is not None:
            g, b = case["targets"]["gateway"], case["targets"]["baseline"]
            lines.append(
                f"| {case_name} | **{vs}** | {_x(r.get('rps'))} | {_x(r.get('p50_ms'))} | {_x(r.get('p99_ms'))} "
                f"| {_x(r.get('added_p50_ms'))} | {_x(r.get('added_p99_ms'))} | {_x(r.get('ttft_p50_ms'))} "
                f"| {_x(r.get('ttft_p99_ms'))} | {_x(r.get('added_ttft_p50_ms'))} | {_x(r.get('added_ttft_p99_ms'))} "
                f"| {g['errors']}/{b['errors']} | {_x(r.get('cpu_ms_per_request'))} "
                f"| {_x(r.get('cpu_pct_target'))} (target) | – |"
            )

    # CPU per request: one column per proxy, the foreign load of the same slices beside each figure
    present = {n for c in report["cases"].values() for n in c["targets"]}
    proxies = [n for n in ("gateway", "baseline", "litellm") if n in present]
    if proxies:
        lines.append("")
        lines.append(
            "## CPU per request (ms of the target's process tree per completed request; in brackets the foreign "
            "load of the same slices, % of the server/client core)"
        )
        lines.append("")
        head = [labels.get(n, n) for n in proxies]
        if "baseline" in proxies:
            head.insert(proxies.index("baseline") + 1, vs)
        lines.append("| case | " + " | ".join(head) + " | foreign % server/client core, whole case |")
        lines.append("|---|" + "---:|" * len(head) + "---|")
        for case_name, case in report["cases"].items():
            cells = []
            for n in proxies:
                s = case["targets"].get(n)
                if s is None:
                    cells.append("–")
                else:
                    cpu = s["cpu_pct"]
                    cells.append(
                        f"{_f(s['cpu_ms_per_request']['target'], 3)} ({_f(cpu.get('foreign_on_server_core'), 0)}"
                        f"/{_f(cpu.get('foreign_on_client_core'), 0)})"
                    )
                if n == "baseline":
                    cells.append(_x((case.get("gateway_vs_baseline") or {}).get("cpu_ms_per_request")))
            fp = case.get("foreign_pct") or {}
            lines.append(
                f"| {case_name} | {' | '.join(cells)} | {_f(fp.get('server_core'), 1)}/{_f(fp.get('client_core'), 1)} |"
            )

    paced = [c for c in report["cases"].values() if c["paced"]]
    if paced:
        lines.append("")
        lines.append(
            f"## Paced stream: gaps between content chunks as the client saw them "
            f"(upstream sends {PACED['chunks']} chunks, {PACED['chunk_delay_ms']} ms apart)"
        )
        lines.append("")
        lines.append("| target | gaps | min | p10 | p50 | p90 | max | share < 5 ms |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, s in paced[0]["targets"].items():
            g = s.get("gaps_ms") or {}
            lines.append(
                f"| {labels.get(name, name)} | {g.get('count', 0)} | {_f(g.get('min'))} | {_f(g.get('p10'))} "
                f"| {_f(g.get('p50'))} | {_f(g.get('p90'))} | {_f(g.get('max'))} | {_f(g.get('under_5ms_share'), 3)} |"
            )
        if "baseline" in paced[0]["targets"]:
            g = paced[0]["targets"]["gateway"].get("gaps_ms") or {}
            b = paced[0]["targets"]["baseline"].get("gaps_ms") or {}
            lines.append(
                f"| **{vs}** | – | " + " | ".join(_x(_ratio(g.get(k), b.get(k))) for k in
                                                  ("min", "p10", "p50", "p90", "max")) + " | – |"
            )  # fmt: skip
    if report.get("features"):
        lines += feature_case.render(report["features"])
    lines.append("")
    lines.append("## Processes")
    lines.append("")
    lines.append(
        "| target | cold start s (launch → first 200) | RSS idle MB | RSS under load (max, c=50) MB | RSS at end MB |"
    )
    lines.append("|---|---:|---:|---:|---:|")
    for name, t in report["targets"].items():
        lines.append(
            f"| {labels.get(name, name)} | {_f(t['cold_start_s'])} | {_f(t['rss_idle_mb'], 1)} "
            f"| {_f(t['rss_load_max_mb'], 1)} | {_f(t['rss_end_mb'], 1)} |"
        )
    if "baseline" in report["targets"]:
        g, b = report["targets"]["gateway"], report["targets"]["baseline"]
        lines.append(
            f"| **{vs}** | " + " | ".join(_x(_ratio(g.get(k), b.get(k))) for k in
                                         ("cold_start_s", "rss_idle_mb", "rss_load_max_mb", "rss_end_mb")) + " |"
        )  # fmt: skip
    setups = [(labels.get(n, n), report.get(f"{n}_setup")) for n in GATEWAYS if report.get(f"{n}_setup")]
    if setups:
        lines.append("")
        lines.append("Gateway setup before launch (not in the cold start): " + "; ".join(
            f"{label}: migrate {setup.get('migrate_s')} s, routing via {setup.get('routing_rows_via')}, "
            f"auth {setup.get('auth')}" for label, setup in setups
        ) + ".")  # fmt: skip
    for gw in GATEWAYS:
        header = report.get(f"{gw}_overhead_header")
        if header:
            lines.append("")
            lines.append(
                f"`{labels.get(gw, gw)}`'s own `X-Gateway-Overhead-Ms` header (p50 / p99 ms), per case: "
                + "; ".join(f"{k}: {v['p50']}/{v['p99']}" for k, v in header.items())
            )
    sweeps = [(n, report[key]) for n, key in (("gateway", "sweep"), ("baseline", "baseline_sweep")) if report.get(key)]
    if sweeps:
        lines.append("")
        lines.append("## Gateway concurrency sweep (non-streaming)")
        lines.append("")
        lines.append(
            "| concurrency | target | req/s | p50 | p99 | errors | p99 < 2× c=1 p99 | CPU % | CPU ms/req "
            "| foreign % server/client core |"
        )
        lines.append("|---:|---|---:|---:|---:|---:|---|---:|---:|---|")
        by_level = {n: {s["concurrency"]: s for s in sweep["levels"]} for n, sweep in sweeps}
        for c in SWEEP_LEVELS:
            for n, _ in sweeps:
                s = by_level[n].get(c)
                if s is None:
                    continue
                fp = s.get("foreign_pct") or {}
                lines.append(
                    f"| {c} | {labels.get(n, n)} | {_f(s['rps'], 1)} | {_f(s['p50_ms'])} | {_f(s['p99_ms'])} "
                    f"| {s['errors']} | {'yes' if s['p99_within_2x_c1'] else 'no'} | {_f(s['cpu_pct_target'], 0)} "
                    f"| {_f(s.get('cpu_ms_per_request'), 3)} | {_f(fp.get('server_core'), 0)}"
                    f"/{_f(fp.get('client_core'), 0)} |"
                )
            if len(sweeps) == 2 and c in by_level["gateway"] and c in by_level["baseline"]:
                g, b = by_level["gateway"][c], by_level["baseline"][c]
                ratios = " | ".join(_x(_ratio(g.get(k), b.get(k))) for k in ("rps", "p50_ms", "p99_ms"))
                lines.append(
                    f"| {c} | **{vs}** | {ratios} | {g['errors']}/{b['errors']} | – "
                    f"| {_x(_ratio(g['cpu_pct_target'], b['cpu_pct_target']))} "
                    f"| {_x(_ratio(g.get('cpu_ms_per_request'), b.get('cpu_ms_per_request')))} | – |"
                )
        for n, sweep in sweeps:
            lines.append("")
            lines.append(
                f"{labels.get(n, n)}: largest concurrency with p99 under 2× the c=1 p99 ({_f(sweep['c1_p99_ms'])} ms) "
                f"and no errors: **{sweep['largest_concurrency_p99_under_2x_c1_and_no_errors']}**"
            )
    checks = [report[key] for key in ("usage_check", "baseline_usage_check") if report.get(key)]
    if checks:
        lines.append("")
        lines.append("## Usage rows")
        for usage in checks:
            lines.append("")
            lines.append(
                f"`{usage.get('target', 'gateway')}`: requests sent through it (warm-ups, probes and sweep "
                f"included): **{usage['requests_sent_through_gateway']}**; `usage_usagerecord` rows after the "
                f"drain: **{usage['usage_rows']}** {usage['usage_rows_by_status']} → "
                f"{'match' if usage['match'] else 'MISMATCH'} (pending after drain: {usage['pending_after_drain']}"
                f"; rows after its SIGTERM: {usage.get('usage_rows_after_shutdown', '–')})."
            )
    lines.append("")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------------


async def wait_quiet(max_wait: float, window: float = 2.0, threshold: float = 0.05, needed: int = 3) -> dict:
    """Before anything starts: wait (at most `max_wait` s) for `needed` consecutive `window`s in which other
    processes use under `threshold` of each core, so the run starts on a quiet machine."""
    start = perf()
    quiet_windows = 0
    last_log = 0.0
    while True:
        own0, cores0 = own_cpu_seconds(), core_busy_seconds()
        await asyncio.sleep(window)
        cores1 = core_busy_seconds()
        own = own_cpu_seconds() - own0
        shares = {c: round(max(0.0, cores1[c] - cores0[c] - (own if c == 1 else 0.0)) / window, 3) for c in cores1}
        quiet_windows = quiet_windows + 1 if all(v < threshold for v in shares.values()) else 0
        waited = perf() - start
        if quiet_windows >= needed or waited >= max_wait:
            return {"waited_s": round(waited, 1), "quiet": quiet_windows >= needed, "busy_share_by_core": shares}
        if waited - last_log >= 30:
            last_log = waited
            log(f"waiting for a quiet machine ({waited:.0f}s): other processes use {shares} of each core")


async def run(args: argparse.Namespace, procs: Processes, tmp: Path) -> dict:
    bench = Bench(args, procs, tmp)
    preflight = await wait_quiet(args.wait_quiet) if args.wait_quiet else None
    if bench.pinned:
        os.sched_setaffinity(0, {1})  # the load generator (this process) shares core 1 with the upstream
    litellm_version = None if args.skip_litellm else ensure_litellm()
    started = dt.datetime.now()
    report: dict = {
        "date": started.isoformat(timespec="seconds"),
        "conditions": machine_conditions(bench.pinned, litellm_version),
        "settings": {
            "quick": args.quick,
            "slice_s": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "sweep_s": args.sweep_duration,
            "request_timeout_s": args.timeout,
            "stream_chunks": STREAM_CHUNKS,
            "paced": PACED,
            "usage_flush_interval": "default",
            "max_reruns": args.max_reruns,
            "gateway_server": (
                "python -m daphne -b 127.0.0.1 -p P gateway_project.asgi:application (access log on, as shipped)"
                if args.server == "daphne"
                else "python -m uvicorn --loop uvloop --http httptools --no-access-log gateway_project.asgi:application"
            ),
            "litellm": "--num_workers 1, no DB, no master key, LITELLM_LOG=ERROR",
        },
    }
    report["conditions"]["gateway_tree"] = bench.gateway_source
    if "baseline" in bench.gateway_trees:
        report["conditions"]["baseline_tree"] = bench.gateway_trees["baseline"][1]
    report["conditions"]["upstream_tree"] = "working tree (python -m mock_upstream)"
    report["conditions"]["quiet_check_before_start"] = preflight
    await bench.start_upstream()
    report["gateway_setup"] = await bench.start_gateway("gateway")
    if "baseline" in bench.gateway_trees:
        report["baseline_setup"] = await bench.start_gateway("baseline")
    if not args.skip_litellm:
        await bench.start_litellm()
    await asyncio.sleep(1.0)
    for target in bench.targets.values():
        target.rss_idle_mb = rss_mb(tree_pids(target.pid))

    report["cases"] = {} if args.only_features else await bench.run_cases()
    if not args.skip_features:
        report["features"] = await bench.run_features()
    gateways = [n for n in GATEWAYS if n in bench.targets]
    for gw in gateways:  # "gateway_overhead_header", "baseline_overhead_header"
        report[f"{gw}_overhead_header"] = {
            name: case["targets"][gw]["gateway_overhead_header_ms"]
            for name, case in report["cases"].items()
            if "gateway_overhead_header_ms" in case["targets"].get(gw, {})
        }
    if not args.skip_sweep:
        sweeps = await bench.sweep()
        report["sweep"] = sweeps["gateway"]
        if "baseline" in sweeps:
            report["baseline_sweep"] = sweeps["baseline"]
    await asyncio.sleep(0.5)
    for target in bench.targets.values():
        target.rss_end_mb = rss_mb(tree_pids(target.pid))
    for gw in gateways:  # "usage_check", "baseline_usage_check"
        key = "usage_check" if gw == "gateway" else f"{gw}_usage_check"
        report[key] = await bench.usage_check(gw)
        # a clean stop (SIGTERM) flushes whatever is left; recount to see nothing was lost either way
        procs.stop(gw, timeout=15.0)
        report[key]["usage_rows_after_shutdown"] = count_usage_rows(bench.targets[gw].db)[0]
    report["targets"] = {
        name: {
            "label": t.label,
            "cold_start_s": None if t.cold_start_s is None else round(t.cold_start_s, 3),
            "rss_idle_mb": t.rss_idle_mb,
            "rss_load_max_mb": t.rss_load_max_mb or None,
            "rss_end_mb": t.rss_end_mb,
            "port": t.port,
        }
        for name, t in bench.targets.items()
    }
    if bench.foreign:
        server = sorted(f[0] for f in bench.foreign)
        client = sorted(f[1] for f in bench.foreign)
        report["foreign_cpu"] = {
            "what": "share of a core used during load slices by processes that are not part of this benchmark",
            "server_core_mean_pct": round(100 * sum(server) / len(server), 1),
            "server_core_max_pct": round(100 * server[-1], 1),
            "client_core_mean_pct": round(100 * sum(client) / len(client), 1),
            "client_core_max_pct": round(100 * client[-1], 1),
            "slices": len(server),
            "slices_run_again_because_disturbed": bench.discarded_slices,
        }
    report["total_s"] = round((dt.datetime.now() - started).total_seconds(), 1)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short slices: a smoke run of well under a minute")
    parser.add_argument("--skip-litellm", action="store_true", help="compare with the direct call only")
    parser.add_argument("--skip-sweep", action="store_true", help="no concurrency sweep")
    parser.add_argument(
        "--only-features",
        action="store_true",
        help="only the feature case (c=1: `auto` with role detection, strategy block and conversation context "
        "vs the same messages for a named model, same gateway process; bench/feature_case.py); implies "
        "--skip-litellm and --skip-sweep",
    )
    parser.add_argument("--skip-features", action="store_true", help="without the feature case")
    parser.add_argument(
        "--server",
        choices=("daphne", "uvicorn"),
        default="daphne",
        help="ASGI server for the gateway (Daphne is the default; uvicorn the measured alternative)",
    )
    parser.add_argument("--duration", type=float, help="seconds per target per round (default 3; quick 0.3)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per case (default 4; quick 2)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per target and case (default 1; quick 0.15)")
    parser.add_argument("--sweep-duration", type=float, help="seconds per sweep level (default 3; quick 0.3)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/<date>.json)")
    parser.add_argument(
        "--max-reruns",
        type=int,
        help="slices run again because another workload disturbed them, at most (default 40; quick 8)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait (at most S seconds) until other processes leave the cores alone",
    )
    parser.add_argument(
        "--gateway-ref",
        help="run the gateway from `git archive REF` instead of the working tree, e.g. HEAD: a stable snapshot "
        "while the working tree is being edited (the mock upstream always runs from the working tree)",
    )
    parser.add_argument(
        "--baseline-ref",
        metavar="REF",
        help="also measure a second gateway, `baseline` (shown as gateway@<commit>), from `git archive REF` "
        "(e.g. the previous release), interleaved with the others in every case, round and sweep level",
    )
    args = parser.parse_args(argv)
    if args.only_features and args.skip_features:
        parser.error("--only-features and --skip-features exclude each other")
    if args.only_features:
        args.skip_litellm = args.skip_sweep = True
    quick = args.quick
    args.duration = args.duration or (0.3 if quick else 3.0)
    args.rounds = args.rounds or (2 if quick else 4)
    args.warmup = args.warmup if args.warmup is not None else (0.15 if quick else 1.0)
    args.sweep_duration = args.sweep_duration or (0.3 if quick else 3.0)
    args.max_reruns = args.max_reruns if args.max_reruns is not None else (8 if quick else 40)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))

    def on_signal(signum, frame):  # turn SIGTERM into the same clean-up path as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        report = asyncio.run(run(args, procs, tmp))
    except BaseException:
        for name in ("gateway", "baseline", "litellm", "upstream"):
            path = tmp / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace")[-2000:]
                log(f"--- last lines of {name}.log ---\n{tail}")
        raise
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    stamp = dt.datetime.fromisoformat(report["date"]).strftime("%Y-%m-%dT%H%M%S")
    out = args.out or BENCH / "results" / f"{stamp}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report["markdown"] = render_markdown(report)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(report["markdown"])
    print(report["markdown"])
    print(f"JSON: {out}\nMarkdown: {out.with_suffix('.md')}")
    checks = [report.get("usage_check", {}), report.get("baseline_usage_check", {})]
    return 0 if all(check.get("match", True) for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
