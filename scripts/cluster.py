"""Run the gateway scaled out on one machine (scripts/up is the entry point; tests run this file directly).

Prepares the shared database once (migrate, default config when empty, an admin login, collectstatic
when the app does not serve static files), then starts and supervises:
- N gateway processes (Daphne; uvicorn with GATEWAY_SERVER=uvicorn) on ports BASE, BASE+1, ...,
- one Celery worker and one Celery beat (django-celery-beat's DatabaseScheduler),
all sharing DATABASE_URL and REDIS_URL. Their output is relayed line by line, prefixed with the name.

SIGTERM or Ctrl-C is forwarded (as SIGTERM) to every process; each drains (core.draining) and the
runner exits once all have, with status 0 when all exited cleanly. A process that dies on its own takes
the others down too (exit status 1), so a supervisor (systemd, a container runtime) restarts the set.
Processes still running GATEWAY_SHUTDOWN_GRACE_SECONDS + KILL_AFTER_SECONDS after the signal are killed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
KILL_AFTER_SECONDS = 15.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=int(os.environ.get("GATEWAY_PROCESSES") or 2),
                        help="gateway processes (env GATEWAY_PROCESSES, default 2)")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("GATEWAY_BASE_PORT") or 8091),
                        help="port of the first process; the others follow (env GATEWAY_BASE_PORT, default 8091)")
    parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1",
                        help="bind address (env HOST, default 127.0.0.1: the proxy runs on this machine)")
    parser.add_argument("--celery-concurrency", type=int, default=int(os.environ.get("CELERY_CONCURRENCY") or 2),
                        help="Celery worker processes (env CELERY_CONCURRENCY, default 2)")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    return args


def load_settings():
    """The gateway's settings, so a bad environment fails here, before anything starts."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    from django.conf import settings

    settings.DATABASES  # noqa: B018  (evaluates the settings module)
    return settings


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def gateway_command(settings, host: str, port: int) -> list[str]:
    if os.environ.get("GATEWAY_SERVER", "daphne") == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", "--host", host, "--port", str(port), "--loop", "uvloop",
                   "--http", "httptools", *(() if settings.GATEWAY_ACCESS_LOG else ("--no-access-log",)),
                   "--timeout-graceful-shutdown", str(settings.GATEWAY_SHUTDOWN_GRACE_SECONDS)]
    else:
        access_log = ("--access-log", "-") if settings.GATEWAY_ACCESS_LOG else ("-v", "0")
        command = [sys.executable, "-m", "daphne", *access_log, "-b", host, "-p", str(port)]
        if settings.BEHIND_TLS_PROXY:
            # The client's address (for key checks and logs) and scheme come from the proxy's headers.
            command.append("--proxy-headers")
    return [*command, "gateway_project.asgi:application"]


class Supervisor:
    def __init__(self, grace_seconds: float) -> None:
        self._grace = grace_seconds
        self._children: dict[str, subprocess.Popen] = {}
        self._relays: list[threading.Thread] = []
        self._output = threading.Lock()
        self._stop_requested = False
        self._stopping_since: float | None = None

    def on_signal(self, signum: int, frame: object) -> None:
        self._stop_requested = True

    def start(self, name: str, command: list[str]) -> None:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches the runner only, which forwards SIGTERM
        )
        self._children[name] = process
        relay = threading.Thread(target=self._relay, args=(name, process.stdout), daemon=True)
        relay.start()
        self._relays.append(relay)

    def say(self, name: str, line: str) -> None:
        with self._output:
            sys.stdout.write(f"{name:>10} | {line.rstrip()}\n")
            sys.stdout.flush()

    def _relay(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode(errors="replace"))

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def run(self) -> int:
        """Until every child has exited; returns the runner's exit status."""
        status = 0
        running = dict(self._children)
        while running:
            if self._stop_requested and self._stopping_since is None:
                self._stop("signal received: stopping every process")
            for name, process in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                del running[name]
                # uvicorn re-raises the SIGTERM it was sent once it has shut down: that is a clean exit too.
                clean = code == 0 or (code == -signal.SIGTERM and self._stopping_since is not None)
                self.say("up", f"{name} exited {'cleanly' if clean else 'with status ' + str(code)}")
                if not clean:
                    status = 1
                if self._stopping_since is None:
                    status = 1
                    self._stop(f"{name} stopped on its own: stopping the others")
            if self._stopping_since is not None and time.monotonic() - self._stopping_since > (
                self._grace + KILL_AFTER_SECONDS
            ):
                for name, process in running.items():
                    self.say("up", f"{name} did not stop in time: killing it")
                    process.kill()
                status = 1
                self._stopping_since = float("inf")  # killed: only wait for them now
            time.sleep(0.1)
        for relay in self._relays:
            relay.join(timeout=5)
        return status

    def _stop(self, reason: str) -> None:
        self.say("up", reason)
        self._stopping_since = time.monotonic()
        for process in self._children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)


def prepare_metrics_directory() -> None:
    """/metrics on any process reports all of them: prometheus_client's multiprocess mode, in a directory
    emptied at every start (PROMETHEUS_MULTIPROC_DIR, default var/prometheus)."""
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ROOT / "var" / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not getattr(settings, name)]
    if missing:
        print(f"scripts/up needs {' and '.join(missing)}: every process shares one PostgreSQL database "
              "and one Redis (cache, rate limits, Celery broker).", file=sys.stderr)
        return 2

    supervisor = Supervisor(settings.GATEWAY_SHUTDOWN_GRACE_SECONDS)
    # From here on a signal means "stop": set before any child exists, so none is ever left behind.
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    signal.signal(signal.SIGINT, supervisor.on_signal)

    manage("migrate", "--noinput", "-v0")
    manage("load_default_config", "--if-empty")
    manage("ensure_admin")
    manage("research", "setup")
    if not settings.SERVE_STATIC:
        manage("collectstatic", "--noinput", "-v0")
    if supervisor.stop_requested:
        return 0

    prepare_metrics_directory()
    ports = [args.base_port + index for index in range(args.processes)]
    for port in ports:
        supervisor.start(f"web-{port}", gateway_command(settings, args.host, port))
    celery = [sys.executable, "-m", "celery", "-A", "gateway_project"]
    supervisor.start("worker", [*celery, "worker", "--loglevel", "INFO", "--concurrency",
                                str(args.celery_concurrency), "--hostname", "gateway-worker@%h"])
    supervisor.start("beat", [*celery, "beat", "--loglevel", "INFO"])

    keys = ("optional for loopback clients (GATEWAY_ALLOW_ANONYMOUS=true), required from others"
            if settings.GATEWAY_ALLOW_ANONYMOUS else "required (manage.py create_key --name NAME)")
    supervisor.say("up", f"gateway processes: {', '.join(f'http://{args.host}:{port}' for port in ports)}")
    supervisor.say("up", f"environment: {settings.GATEWAY_ENV}; API keys: {keys}")
    supervisor.say("up", "put deploy/nginx.conf in front; SIGTERM or Ctrl-C stops everything gracefully")
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
