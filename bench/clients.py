"""Which upstream HTTP client should the gateway use? CPU per request and throughput, one core.

Runs the loopback upstream on core 1 and each client on core 0, non-streaming and streaming, at
concurrency 1, 10 and 50, interleaved over several rounds. Loopback only; bounded in requests.

    .venv/bin/python bench/clients.py [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import httpx_aiohttp

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "hello there"}]}).encode()
STREAM_BODY = json.dumps(
    {"model": "bench", "stream": True, "messages": [{"role": "user", "content": "hello there"}]}
).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer x"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_httpx(client: httpx.AsyncClient, url: str, stream: bool) -> None:
    if stream:
        async with client.stream("POST", url, content=STREAM_BODY, headers=HEADERS) as response:
            async for _ in response.aiter_bytes():
                pass
    else:
        response = await client.post(url, content=BODY, headers=HEADERS)
        response.read()


async def run_aiohttp(session: aiohttp.ClientSession, url: str, stream: bool) -> None:
    async with session.post(url, data=STREAM_BODY if stream else BODY, headers=HEADERS) as response:
        if stream:
            async for _ in response.content.iter_any():
                pass
        else:
            await response.read()


def make_client(kind: str):
    if kind == "httpx":
        return httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=100))
    if kind == "httpx+aiohttp-transport":
        return httpx.AsyncClient(
            transport=httpx_aiohttp.AiohttpTransport(
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=100)
            )
        )
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30))


async def measure(kind: str, url: str, concurrency: int, requests: int, stream: bool) -> dict:
    client = make_client(kind)
    call = run_aiohttp if kind == "aiohttp" else run_httpx
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call(client, url, stream)

    await asyncio.gather(*(call(client, url, stream) for _ in range(concurrency)))  # warm the pool
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await (client.aclose() if kind != "aiohttp" else client.close())
    return {"rps": requests / wall, "cpu_us_per_request": cpu / requests * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    upstream = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m", "mock_upstream", "--port", str(port), "--chunks", "5"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.sched_setaffinity(0, {0})
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    kinds = ["httpx", "httpx+aiohttp-transport", "aiohttp"]
    results: dict[str, list[dict]] = {}
    try:
        time.sleep(1.0)
        for _ in range(args.rounds):
            for stream in (False, True):
                for concurrency in (1, 10, 50):
                    for kind in kinds:
                        key = f"{'stream' if stream else 'json'} c={concurrency} {kind}"
                        results.setdefault(key, []).append(
                            asyncio.run(measure(kind, url, concurrency, args.requests, stream))
                        )
    finally:
        upstream.terminate()
    print("| case | client | req/s | CPU µs/request |")
    print("|---|---|---:|---:|")
    summary = {}
    for key, runs in results.items():
        case, kind = key.rsplit(" ", 1)
        rps = statistics.median(r["rps"] for r in runs)
        cpu = statistics.median(r["cpu_us_per_request"] for r in runs)
        summary[key] = {"rps": round(rps), "cpu_us_per_request": round(cpu)}
        print(f"| {case} | {kind} | {rps:,.0f} | {cpu:,.0f} |")
    out = ROOT / "bench" / "results" / f"clients-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "requests_per_case": args.requests,
                "rounds": args.rounds,
                "versions": {"httpx": httpx.__version__, "aiohttp": aiohttp.__version__},
                "results": summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
