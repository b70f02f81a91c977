"""Command-line flags shared by `python -m mock_upstream` and `manage.py mock_upstream`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from .knobs import MODES, validate_knobs
from .runner import run_forever
from .server import MockUpstream


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9100, help="port (default 9100; 0 = any free port)")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay before response headers")
    parser.add_argument("--chunks", type=int, default=5, help="content deltas per streamed reply")
    parser.add_argument("--chunk-delay-ms", type=float, default=0, help="pause before each streamed delta")
    parser.add_argument("--status", type=int, default=200, help="non-200: answer with an OpenAI error")
    parser.add_argument("--mode", default="normal", choices=sorted(MODES), help="failure drill mode")
    parser.add_argument("--fail-times", type=int, default=None, help="fail only the first N requests")


def knobs_from_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "latency_ms": options["latency_ms"],
        "chunks": options["chunks"],
        "chunk_delay_ms": options["chunk_delay_ms"],
        "status": options["status"],
        "mode": options["mode"],
        "fail_times": options["fail_times"],
    }


def ready_message(server: MockUpstream) -> str:
    return (
        f"Mock OpenAI upstream listening on {server.host}:{server.port} (Ctrl-C to stop)\nBase URL: {server.base_url}"
    )


def serve(options: dict[str, Any], write: Callable[[str], None]) -> None:
    """Run until SIGINT/SIGTERM, announcing the base URL through `write` once listening."""
    run_forever(
        options["host"],
        options["port"],
        on_ready=lambda server: write(ready_message(server)),
        **knobs_from_options(options),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mock_upstream", description=__doc__)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        validate_knobs(knobs_from_options(options))
    except ValueError as exc:
        parser.error(str(exc))
    serve(options, lambda text: print(text, flush=True))
