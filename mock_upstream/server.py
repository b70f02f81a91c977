"""The asyncio server: a raw `asyncio.Protocol` per connection (no framework, so the mock is never
the bottleneck of a benchmark), a small router, and the "plan" each request turns into.

A plan is a list of `(delay_seconds, item)` steps, item being bytes to write, `CLOSE`, `RESET` or `HANG`.
Zero-delay steps run inline in `data_received`; the rest of a plan runs in a task, and later
pipelined requests wait in the buffer until it finishes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections import deque
from typing import Any
from urllib.parse import unquote

import orjson

from . import wire
from .http1 import (
    CONTINUE,
    LAST_CHUNK,
    BadRequest,
    Request,
    chunk,
    json_head,
    json_response,
    parse_request,
    stream_head,
    wants_continue,
)
from .knobs import MockConfig

CLOSE = object()  # close the connection once what was written is flushed (a FIN, not a reset)
RESET = object()  # abort the connection with a TCP RST: what a crashed proxy or a firewall sends
HANG = object()  # answer nothing until the client goes away
Plan = list[tuple[float, Any]]

logger = logging.getLogger(__name__)

LOG_SIZE = 200
RESET_DELAY = 0.05  # mid-body resets wait this long, so the bytes before them reach the client first
# Not SSE at all, then a `data:` line that is not JSON, in one block: what a broken proxy might inject.
GARBAGE_EVENT = b"\x00\xff<html><body>502 Bad Gateway</body></html>\ndata: {\"choices\": [tru\n\n"
GARBAGE_BODY = b"<html><body>502 Bad Gateway</body></html>\x00\xff"
MAX_CHOICES = 128
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order and runs their plans one at a time."""

    def __init__(self, server: MockUpstream):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False  # a plan is running in a task; new requests wait in `buf`
        self.closing = False
        self.continue_sent = False
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server._connections.add(self)
        self.server.connections_total += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server._connections.discard(self)
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._drain()

    def _close(self) -> None:
        self.closing = True
        self.transport.close()

    def _reset(self) -> None:
        self.closing = True
        sock = self.transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends a RST and drops whatever is unsent
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _drain(self) -> None:
        while not self.busy and not self.closing:
            try:
                parsed = parse_request(self.buf)
            except BadRequest as exc:
                body = orjson.dumps(wire.error(exc.message, "invalid_request_error"))
                self.transport.write(json_response(exc.status, body, keep_alive=False))
                self._close()
                return
            if parsed is None:
                if not self.continue_sent and wants_continue(self.buf):
                    self.continue_sent = True
                    self.transport.write(CONTINUE)
                return
            request, used = parsed
            del self.buf[:used]
            self.continue_sent = False
            try:
                plan = self.server.handle(request)
            except Exception as exc:  # a bug here must show up as an answer, not a silent disconnect
                logger.exception("mock upstream failed on %s %s", request.method, request.target)
                failure = wire.error(f"mock upstream failed: {exc!r}", "server_error")
                plan = _json(500, failure, request)
            self._run(plan, request.keep_alive)

    def _run(self, plan: Plan, keep_alive: bool) -> None:
        for index, (delay, item) in enumerate(plan):
            if delay or item is HANG:
                self.busy = True
                self.task = asyncio.get_running_loop().create_task(self._run_later(plan[index:], keep_alive))
                return
            if item is CLOSE:
                self._close()
                return
            if item is RESET:
                self._reset()
                return
            self.transport.write(item)
        if not keep_alive:
            self._close()

    async def _run_later(self, plan: Plan, keep_alive: bool) -> None:
        try:
            for delay, item in plan:
                if delay:
                    await asyncio.sleep(delay)
                if self.closing:
                    return
                if item is HANG:
                    await asyncio.get_running_loop().create_future()  # cancelled by connection_lost
                if item is CLOSE:
                    self._close()
                    return
                if item is RESET:
                    self._reset()
                    return
                self.transport.write(item)
        except asyncio.CancelledError:
            return  # the client went away (or the server stopped) mid-plan
        self.task = None
        self.busy = False
        if not keep_alive:
            self._close()
        elif self.buf:
            self._drain()


class MockUpstream:
    """A deterministic OpenAI chat-completions upstream on loopback.

    Construct with default knobs (see `knobs.DEFAULT_KNOBS`) and optional per-model overrides;
    raises ValueError on unknown knobs.
    All methods must be called on the event loop it runs on (see `start_in_thread` otherwise).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, models: dict[str, Any] | None = None, **knobs: Any):
        self.host = host
        self.port = port
        self.config = MockConfig(knobs, models)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._clear_counters()

    def _clear_counters(self) -> None:
        self.requests = 0
        self.by_model: dict[str, int] = {}
        self.seen_models: dict[str, None] = {}  # insertion-ordered set
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.connections_total = 0
        self._call_seq = 0

    # -- lifecycle and the Python control API -------------------------------------------------

    @property
    def base_url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    async def start(self) -> None:
        """Start listening; with port 0 the chosen port is in `self.port` afterwards."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut open connections (so hanging clients see the close)."""
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._connections):
            conn.transport.abort()
        await asyncio.sleep(0)  # let connection_lost run and cancel plans
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> MockUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def configure(self, default: dict[str, Any] | None = None, models: dict[str, Any] | None = None) -> dict:
        """Merge knobs (same as `POST /_mock/config`); returns the resulting config."""
        self.config.update(default, models)
        return self.config.snapshot()

    def reset(self) -> None:
        """Back to the knobs given at construction; counters and log cleared."""
        self.config.reset()
        self._clear_counters()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_model": dict(self.by_model),
            "open_connections": len(self._connections),
            "connections_total": self.connections_total,
            "log": list(self.log),
        }

    # -- routing ------------------------------------------------------------------------------

    def handle(self, req: Request) -> Plan:
        path = req.path[3:] if req.path.startswith("/v1/") else req.path
        if path == "/chat/completions":
            if req.method == "POST":
                return self._chat(req)
        elif path == "/embeddings":
            if req.method == "POST":
                return self._embeddings(req)
        elif path == "/models":
            if req.method == "GET":
                return _json(200, wire.model_list(self._model_ids()), req)
        elif path.startswith("/models/"):
            if req.method == "GET":
                model_id = unquote(path[len("/models/") :])
                if model_id in self._model_ids():
                    return _json(200, wire.model_object(model_id), req)
                return _json(404, wire.status_error(404, model_id), req)
        elif path.startswith("/_mock/"):
            return self._control(req, path)
        else:
            return _json(404, wire.error(f"Invalid URL ({req.method} {req.path})", "invalid_request_error"), req)
        return _json(405, wire.error(f"Method {req.method} not allowed on {req.path}", "invalid_request_error"), req)

    def _model_ids(self) -> list[str]:
        ids = dict.fromkeys(wire.MOCK_MODELS)
        ids.update(dict.fromkeys(self.config.models))
        ids.update(self.seen_models)
        return list(ids)

    def _control(self, req: Request, path: str) -> Plan:
        if path == "/_mock/stats" and req.method == "GET":
            return _json(200, self.stats(), req)
        if path == "/_mock/reset" and req.method == "POST":
            self.reset()
            return _json(200, {"ok": True}, req)
        if path == "/_mock/config" and req.method == "GET":
            return _json(200, self.config.snapshot(), req)
        if path == "/_mock/config" and req.method == "POST":
            try:
                body = orjson.loads(req.body or b"{}")
                if not isinstance(body, dict) or set(body) - {"default", "models"}:
                    raise ValueError('expected {"default": {...knobs}, "models": {"<model>": {...knobs}}}')
                return _json(200, self.configure(body.get("default"), body.get("models")), req)
            except (ValueError, orjson.JSONDecodeError) as exc:
                return _json(400, wire.error(str(exc), "invalid_request_error"), req)
        return _json(404, wire.error(f"Invalid URL ({req.method} {req.path})", "invalid_request_error"), req)

    # -- chat completions ---------------------------------------------------------------------

    def _chat(self, req: Request) -> Plan:
        self.requests += 1
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            body = None
        self.log.append({"method": req.method, "path": req.target, "headers": req.headers, "body": body})
        if not isinstance(body, dict):
            return _json(400, wire.error(_BAD_JSON, "invalid_request_error"), req)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _json(400, wire.error("you must provide a model parameter", "invalid_request_error"), req)
        self.by_model[model] = self.by_model.get(model, 0) + 1
        self.seen_models[model] = None
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            missing = wire.error(
                "Missing required parameter: 'messages'.",
                "invalid_request_error",
                "messages",
                "missing_required_parameter",
            )
            return _json(400, missing, req)
        return self._answer(body, model, self.config.resolve(model), req.keep_alive)

    def _answer(self, body: dict[str, Any], model: str, knobs: dict[str, Any], keep_alive: bool) -> Plan:
        latency = knobs["latency_ms"] / 1000
        mode = knobs["mode"]
        stream = body.get("stream") is True
        rid = b"x-request-id: req_mock_%d\r\n" % self.requests + _header_lines(knobs["headers"])

        if mode == "hang":
            return [(latency, HANG)]
        if mode == "drop":
            return [(latency, CLOSE)]
        if mode == "reset":
            return [(latency, RESET)]
        if mode == "empty_200":
            if stream:
                return [(latency, stream_head(keep_alive, rid) + LAST_CHUNK)]
            return [(latency, json_response(200, b"", keep_alive, rid))]
        if mode == "error_in_200":
            payload = _error_bytes(knobs, 500, model)
            if stream:
                return [
                    (latency, stream_head(keep_alive, rid)),
                    (0.0, chunk(b"data: " + payload + b"\n\n") + LAST_CHUNK),
                ]
            return [(latency, json_response(200, payload, keep_alive, rid))]
        if mode == "garbage_mid_stream" and not stream:
            return [(latency, json_response(200, GARBAGE_BODY, keep_alive, rid))]
        status = knobs["status"]
        if mode == "normal" and status != 200:
            extra = rid + b"retry-after: 1\r\n" if status == 429 else rid
            return [(latency, json_response(status, _error_bytes(knobs, status, model), keep_alive, extra))]

        # a real reply; the *_mid_stream modes, truncate_stream and cut_after_events cut it short
        messages = body["messages"]
        oversize = mode == "oversize"
        reply = wire.Reply(text="x" * knobs["oversize_bytes"]) if oversize else wire.decide_reply(body)
        n = body.get("n")
        n = min(n, MAX_CHOICES) if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
        call_ids = [self._next_call_id() if reply.tool_name else "" for _ in range(n)]
        cid = f"chatcmpl-mock-{self.requests}"
        created = int(time.time())
        prompt = wire.prompt_tokens(messages)

        if not stream:
            payload = orjson.dumps(wire.completion(cid, created, model, reply, call_ids, prompt))
            if mode in ("drop_mid_stream", "reset_mid_stream"):  # promise the whole body, send half, cut
                cut = (0.0, CLOSE) if mode == "drop_mid_stream" else (RESET_DELAY, RESET)
                return [(latency, json_head(200, len(payload), keep_alive, rid) + payload[: len(payload) // 2]), cut]
            if mode == "truncate_stream":  # a well-framed response whose JSON is cut off
                payload = payload[: len(payload) // 2]
            return [(latency, json_response(200, payload, keep_alive, rid))]

        chunks = 1 if oversize else knobs["chunks"]
        events = wire.stream_events(cid, created, model, reply, call_ids, prompt, body, chunks)
        delay = knobs["chunk_delay_ms"] / 1000
        steps: Plan = [(0.0, e) for e in events.first]
        for group in events.pieces if mode in ("normal", "oversize") else events.pieces[:2]:
            steps += [(delay if i == 0 else 0.0, e) for i, e in enumerate(group)]
        plan: Plan = [(latency, stream_head(keep_alive, rid))]
        ending = {"drop_mid_stream": (0.0, CLOSE), "reset_mid_stream": (RESET_DELAY, RESET),
                  "truncate_stream": (0.0, LAST_CHUNK)}.get(mode)
        if ending is not None:
            return plan + [(d, chunk(e)) for d, e in steps] + [ending]
        if mode == "garbage_mid_stream":  # then the rest, so a relay that skipped the garbage would finish
            steps.append((0.0, GARBAGE_EVENT))
        steps += [(delay if i == 0 else 0.0, e) for i, e in enumerate(events.finish)]
        steps += [(0.0, e) for e in events.tail]
        if knobs["cut_after_events"] is not None:
            steps = steps[: knobs["cut_after_events"]]
        plan += [(d, chunk(e)) for d, e in steps]
        last_delay, last = plan[-1]
        plan[-1] = (last_delay, last + LAST_CHUNK)
        return plan

    def _embeddings(self, req: Request) -> Plan:
        self.requests += 1
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            body = None
        self.log.append({"method": req.method, "path": req.target, "headers": req.headers, "body": body})
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _json(400, wire.error(_BAD_JSON, "invalid_request_error"), req)
        model = body["model"]
        self.by_model[model] = self.by_model.get(model, 0) + 1
        knobs = self.config.resolve(model)
        latency = knobs["latency_ms"] / 1000
        if knobs["mode"] in ("hang", "drop", "reset"):
            return [(latency, {"hang": HANG, "drop": CLOSE, "reset": RESET}[knobs["mode"]])]
        if knobs["status"] != 200:
            return [(latency, json_response(knobs["status"], _error_bytes(knobs, knobs["status"], model),
                                            req.keep_alive))]
        try:
            payload = wire.embeddings(body)
        except ValueError as exc:
            return _json(400, wire.error(str(exc), "invalid_request_error", "input"), req)
        return [(latency, json_response(200, orjson.dumps(payload), req.keep_alive))]

    def _next_call_id(self) -> str:
        self._call_seq += 1
        return f"call_mock_{self._call_seq}"


def _json(status: int, payload: Any, req: Request) -> Plan:
    return [(0.0, json_response(status, orjson.dumps(payload), req.keep_alive))]


def _header_lines(headers: dict[str, str] | None) -> bytes:
    """The `headers` knob as header lines (validated: ASCII, no line breaks)."""
    return b"".join(f"{name}: {value}\r\n".encode() for name, value in (headers or {}).items())


def _error_bytes(knobs: dict[str, Any], status: int, model: str) -> bytes:
    """The `error_body` knob as sent (a string goes out raw, e.g. an HTML proxy page), else OpenAI's."""
    custom = knobs["error_body"]
    if custom is None:
        return orjson.dumps(wire.status_error(status, model))
    if isinstance(custom, str):
        return custom.encode()
    return orjson.dumps(custom)
