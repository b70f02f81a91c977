"""A closed-loop HTTP/1.1 load generator for chat completions: raw asyncio, pre-built request bytes.

N workers each own one keep-alive connection and send the same request again as soon as the previous
response has fully arrived (closed loop). A run stops at its deadline or after `max_requests`, whichever
comes first; requests in flight at the deadline are allowed to finish (each bounded by `timeout`).

Per request it records: latency (request written -> last byte of the response), status, and for
streams TTFT (request written -> first `data:` event carrying a role or content) and the arrival times
of content-bearing events (their gaps show whether chunks are relayed as they arrive).

A request can also differ from one to the next at no cost in the loop (`Numbered`): templates sent in turn, each
with a fixed-width placeholder replaced by the request's number, so every request is new to the server (a new
conversation id, say) while the bytes stay pre-built and every length, Content-Length included, stays the same.

No Django, no third-party imports: `python bench/loadgen.py --url http://127.0.0.1:9100/v1/chat/completions
--model mock-gpt -c 10 -d 3 [--stream]` runs it standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

perf = time.perf_counter

_ROLE_OR_CONTENT = re.compile(rb'"(?:role|content)"\s*:\s*"')
_CONTENT = re.compile(rb'"content"\s*:\s*"(?!")')  # non-empty content


def build_request(
    host: str,
    port: int,
    path: str,
    model: str,
    *,
    stream: bool,
    messages: list[dict] | None = None,
    extra_body: dict | None = None,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """The full request (head and body) as bytes, built once and written as is for every request."""
    body = {
        "model": model,
        "messages": messages
        or [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello to the benchmark"},
        ],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    body.update(extra_body or {})
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "Host": f"{host}:{port}",
        "Content-Type": "application/json",
        "Authorization": "Bearer sk-bench",
        "Content-Length": str(len(payload)),
        **(extra_headers or {}),
    }
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + payload


class Numbered:
    """Pre-built requests that differ from one request to the next: the n-th request taken (`take`) is
    `templates[n % len(templates)]` with every copy of `placeholder` replaced by n (n // `group`) in decimal,
    zero-padded to the placeholder's width, so each request keeps its template's length (Content-Length stays
    right). n counts on across runs (one object, one sequence: numbers are never reused). Without a
    placeholder the templates are just sent in turn. Raises ValueError for a template without the
    placeholder, OverflowError once n no longer fits the width."""

    __slots__ = ("_parts", "_width", "_limit", "_counter", "_group", "taken")

    def __init__(self, templates: Sequence[bytes], placeholder: bytes | None = None, *, group: int = 1) -> None:
        if not templates:
            raise ValueError("no templates")
        if placeholder is not None:
            missing = [i for i, template in enumerate(templates) if placeholder not in template]
            if missing:
                raise ValueError(f"templates {missing[:5]} lack the placeholder {placeholder!r}")
        self._parts = [template.split(placeholder) if placeholder else [template] for template in templates]
        self._width = len(placeholder) if placeholder else 0
        self._limit = 10**self._width
        self._counter = itertools.count()
        self._group = group  # the placeholder gets n // group: `group` requests in a row share a number
        self.taken = 0  # requests taken so far

    def take(self) -> bytes:
        n = next(self._counter)
        self.taken += 1
        parts = self._parts[n % len(self._parts)]
        if not self._width:
            return parts[0]
        number = n // self._group
        if number >= self._limit:
            raise OverflowError(f"request number {number} does not fit {self._width} digits")
        return (b"%0*d" % (self._width, number)).join(parts)


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes  # non-streamed bodies only (streams: empty; their events are scanned on the fly)
    t_sent: float
    t_done: float
    t_first_event: float | None = None  # first data: event with a role or content
    content_times: list[float] = field(default_factory=list)  # arrival of each event with content
    saw_done: bool = False  # `data: [DONE]` seen (streams)
    stream_error: bool = False  # an event carrying "error" (streams)


class _Protocol(asyncio.Protocol):
    """One connection; parses one response at a time (Content-Length or chunked bodies)."""

    __slots__ = (
        "transport", "closed", "fut", "buf", "state", "remaining", "resp", "want_headers",
        "sse", "timer", "loop", "keep_alive", "chunked", "is_sse",
    )  # fmt: skip

    def __init__(self, loop: asyncio.AbstractEventLoop, want_headers: bool = False):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.fut: asyncio.Future | None = None
        self.buf = bytearray()
        self.state = 0  # 0 head, 1 content-length body, 2 chunk size line, 3 chunk data, 4 trailers
        self.remaining = 0
        self.resp: Response | None = None
        self.want_headers = want_headers
        self.sse = bytearray()
        self.timer: asyncio.TimerHandle | None = None
        self.keep_alive = True
        self.chunked = False
        self.is_sse = False

    # -- asyncio callbacks ------------------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.closed = True
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnectionError(f"connection closed mid-response ({exc!r})"))

    def data_received(self, data: bytes):
        now = perf()
        if self.fut is None:
            return  # unsolicited bytes; ignore
        self.buf += data
        try:
            self._parse(now)
        except Exception as exc:  # malformed response: fail the request, drop the connection
            self._fail(exc)

    # -- request --------------------------------------------------------------------------------
    def send(self, request: bytes, timeout: float) -> asyncio.Future:
        self.fut = self.loop.create_future()
        self.buf.clear()
        self.sse.clear()
        self.state = 0
        self.resp = Response(0, {}, b"", perf(), 0.0)
        self.transport.write(request)
        self.timer = self.loop.call_later(timeout, self._timeout)
        return self.fut

    def _timeout(self):
        self._fail(TimeoutError("response timed out"))

    def _fail(self, exc: BaseException):
        if self.timer is not None:
            self.timer.cancel()
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _finish(self, now: float):
        resp = self.resp
        resp.t_done = now
        if self.timer is not None:
            self.timer.cancel()
        fut, self.fut = self.fut, None
        if not self.keep_alive:
            self.closed = True
            self.transport.close()
        if not fut.done():
            fut.set_result(resp)

    # -- parsing --------------------------------------------------------------------------------
    def _parse(self, now: float):
        buf = self.buf
        resp = self.resp
        while True:
            if self.state == 0:
                end = buf.find(b"\r\n\r\n")
                if end == -1:
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                status_line, _, rest = head.partition(b"\r\n")
                resp.status = int(status_line.split(b" ", 2)[1])
                lower = rest.lower()
                if resp.status == 100:
                    continue
                self.chunked = b"transfer-encoding: chunked" in lower
                self.keep_alive = b"connection: close" not in lower
                self.is_sse = b"text/event-stream" in lower
                if self.want_headers:
                    for line in rest.decode("latin-1").split("\r\n"):
                        name, _, value = line.partition(":")
                        resp.headers[name.strip().lower()] = value.strip()
                if self.chunked:
                    self.state = 2
                else:
                    i = lower.find(b"content-length:")
                    if i == -1:
                        raise ValueError("response without content-length or chunked encoding")
                    j = lower.find(b"\r\n", i)
                    self.remaining = int(lower[i + 15 : j if j != -1 else None])
                    self.state = 1
            elif self.state == 1:
                if len(buf) < self.remaining:
                    return
                resp.body = bytes(buf[: self.remaining])
                del buf[: self.remaining]
                if self.is_sse:  # an event stream with a Content-Length: scan it whole
                    self._events(resp.body + b"\n\n", now)
                self._finish(now)
                return
            elif self.state == 2:
                eol = buf.find(b"\r\n")
                if eol == -1:
                    return
                size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
                del buf[: eol + 2]
                if size == 0:
                    self.state = 4
                else:
                    self.remaining = size
                    self.state = 3
            elif self.state == 3:
                if len(buf) < self.remaining + 2:
                    return
                if self.is_sse:
                    self._events(bytes(buf[: self.remaining]), now)
                else:
                    resp.body += bytes(buf[: self.remaining])
                del buf[: self.remaining + 2]
                self.state = 2
            else:  # trailers up to the blank line
                eol = buf.find(b"\r\n")
                if eol == -1:
                    return
                del buf[: eol + 2]
                if eol == 0:
                    if self.is_sse and self.sse.strip():
                        self._events(b"\n\n", now)
                    self._finish(now)
                    return

    def _events(self, data: bytes, now: float):
        """Scan decoded `text/event-stream` body bytes event by event."""
        sse = self.sse
        sse += data
        if b"\n\n" not in sse and b"\r\n\r\n" not in sse:
            return
        text = bytes(sse).replace(b"\r\n", b"\n")
        *events, rest = text.split(b"\n\n")
        sse.clear()
        sse += rest
        resp = self.resp
        for event in events:
            if not event.startswith(b"data:"):
                if b"\ndata:" not in event:
                    continue
            payload = event[event.find(b"data:") + 5 :].strip()
            if payload == b"[DONE]":
                resp.saw_done = True
                continue
            if not payload.startswith(b"{"):
                continue
            if payload.startswith(b'{"error"') or b'"error":{' in payload[:20]:
                resp.stream_error = True
            if resp.t_first_event is None and _ROLE_OR_CONTENT.search(payload):
                resp.t_first_event = now
            if _CONTENT.search(payload):
                resp.content_times.append(now)


async def _connect(host: str, port: int, want_headers: bool) -> _Protocol:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: _Protocol(loop, want_headers), host, port)
    return proto


async def one_request(
    host: str, port: int, request: bytes, timeout: float = 10.0, want_headers: bool = True
) -> Response:
    """A single request on a fresh connection (cold-start probes, status checks)."""
    proto = await asyncio.wait_for(_connect(host, port, want_headers), timeout)
    try:
        return await proto.send(request, timeout)
    finally:
        if proto.transport is not None:
            proto.transport.close()


def get_request(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()


# -- results -----------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass
class RunResult:
    """Raw samples of one or more runs (pooled with `merge`); `summary()` turns them into numbers."""

    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    ttfts: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)  # between content events of one stream
    overheads: list[float] = field(default_factory=list)  # X-Gateway-Overhead-Ms values, when asked
    header_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> value -> responses (tally)
    ok: int = 0
    errors: int = 0
    sent: int = 0  # requests written to a socket (each reached the server unless the connect failed)
    elapsed: float = 0.0  # seconds of wall time the runs took
    statuses: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def merge(self, other: RunResult) -> RunResult:
        self.latencies += other.latencies
        self.ttfts += other.ttfts
        self.gaps += other.gaps
        self.overheads += other.overheads
        for name, counts in other.header_counts.items():
            mine = self.header_counts.setdefault(name, {})
            for value, count in counts.items():
                mine[value] = mine.get(value, 0) + count
        self.ok += other.ok
        self.errors += other.errors
        self.sent += other.sent
        self.elapsed += other.elapsed
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.error_samples = (self.error_samples + other.error_samples)[:5]
        return self

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        ttft = sorted(self.ttfts)
        gaps = sorted(self.gaps)
        ms = 1000.0

        def pct(values, p):
            v = percentile(values, p)
            return None if v is None else round(v * ms, 3)

        out = {
            "requests": self.ok + self.errors,
            "ok": self.ok,
            "errors": self.errors,
            "sent": self.sent,
            "elapsed_s": round(self.elapsed, 3),
            "rps": round(self.ok / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": pct(lat, 50),
            "p90_ms": pct(lat, 90),
            "p99_ms": pct(lat, 99),
            "mean_ms": round(sum(lat) / len(lat) * ms, 3) if lat else None,
            "max_ms": round(lat[-1] * ms, 3) if lat else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }
        if ttft:
            out.update(ttft_p50_ms=pct(ttft, 50), ttft_p99_ms=pct(ttft, 99))
        if gaps:
            out["gaps_ms"] = {
                "count": len(gaps),
                "min": pct(gaps, 0),
                "p10": pct(gaps, 10),
                "p50": pct(gaps, 50),
                "p90": pct(gaps, 90),
                "max": pct(gaps, 100),
                "under_5ms_share": round(sum(1 for g in gaps if g < 0.005) / len(gaps), 3),
            }
        if self.overheads:
            oh = sorted(self.overheads)
            out["gateway_overhead_header_ms"] = {
                "p50": round(percentile(oh, 50), 3),
                "p99": round(percentile(oh, 99), 3),
            }
        if self.header_counts:
            out["header_counts"] = {name: dict(sorted(counts.items())) for name, counts in self.header_counts.items()}
        if self.error_samples:
            out["error_samples"] = self.error_samples
        return out


# -- the load loop ---------------------------------------------------------------------------------


async def run_load(
    host: str,
    port: int,
    request: bytes | Numbered,
    *,
    concurrency: int,
    duration: float,
    max_requests: int = 1_000_000,
    stream: bool = False,
    timeout: float = 30.0,
    overhead_header: str | None = None,
    tally_headers: Sequence[str] = (),
) -> RunResult:
    """Closed loop: `concurrency` workers, each on its own keep-alive connection, until the deadline
    or `max_requests` requests have been started. Returns pooled raw samples. `request`: the same bytes every
    time, or a `Numbered` that gives each request its own. `tally_headers` (lower-case names): how many
    successful responses carried each value of these headers ("" when absent)."""
    result = RunResult()
    start = perf()
    deadline = start + duration
    want_headers = overhead_header is not None or bool(tally_headers)
    budget = [max_requests]
    numbered = request if isinstance(request, Numbered) else None
    tallies = [(name, result.header_counts.setdefault(name, {})) for name in tally_headers]

    async def worker() -> None:
        proto: _Protocol | None = None
        try:
            while budget[0] > 0 and perf() < deadline:
                budget[0] -= 1
                if proto is None or proto.closed:
                    try:
                        proto = await asyncio.wait_for(_connect(host, port, want_headers), timeout)
                    except (TimeoutError, OSError) as exc:
                        result.errors += 1
                        if len(result.error_samples) < 5:
                            result.error_samples.append(f"connect: {exc!r}")
                        proto = None
                        await asyncio.sleep(0.01)
                        continue
                result.sent += 1
                try:
                    resp = await proto.send(request if numbered is None else numbered.take(), timeout)
                except (OSError, ConnectionError, TimeoutError, ValueError) as exc:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(repr(exc))
                    continue
                result.statuses[resp.status] = result.statuses.get(resp.status, 0) + 1
                failed = resp.status != 200 or (stream and (not resp.saw_done or resp.stream_error))
                if failed:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        body = resp.body[:200].decode(errors="replace")
                        what = "stream without [DONE] or with an error event" if resp.status == 200 else body
                        result.error_samples.append(f"{resp.status}: {what}")
                    continue
                result.ok += 1
                result.latencies.append(resp.t_done - resp.t_sent)
                if stream:
                    if resp.t_first_event is not None:
                        result.ttfts.append(resp.t_first_event - resp.t_sent)
                    times = resp.content_times
                    result.gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
                if overhead_header is not None:
                    value = resp.headers.get(overhead_header)
                    if value:
                        try:
                            result.overheads.append(float(value))
                        except ValueError:
                            pass
                for name, counts in tallies:
                    value = resp.headers.get(name, "")
                    counts[value] = counts.get(value, 0) + 1
        finally:
            if proto is not None and proto.transport is not None:
                proto.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = perf() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="closed-loop chat-completions load (standalone)")
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:9100/v1/chat/completions")
    parser.add_argument("--model", required=True)
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("-d", "--duration", type=float, default=3.0)
    parser.add_argument("-n", "--max-requests", type=int, default=1_000_000)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    url = urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    request = build_request(host, port, url.path, args.model, stream=args.stream)
    result = asyncio.run(
        run_load(host, port, request, concurrency=args.concurrency, duration=args.duration,
                 max_requests=args.max_requests, stream=args.stream)
    )  # fmt: skip
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
