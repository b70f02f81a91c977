"""A loopback HTTP server that answers from a script and records every request it gets.

Used by the Gemini, Vertex, Ollama and discovery tests to speak those protocols from recorded bodies.
`on(path_prefix, *replies)`: requests whose path starts with the prefix get the replies in order, the
last one repeating. A reply's `parts` are written one by one with a flush in between (a stream), then
the connection closes: parts that stop mid-event make a stream cut short, as a failing upstream's would.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    parts: list[bytes] | None = None  # sent one by one (streaming); `body` is ignored then
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: object, status: int = 200, **kwargs) -> Reply:
        return cls(status=status, body=json.dumps(data).encode(), **kwargs)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class ScriptedUpstream:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._routes: list[tuple[str, list[Reply]]] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                upstream._record(Received(self.command, url.path, parse_qs(url.query),
                                          {k.lower(): v for k, v in self.headers.items()}, body))
                reply = upstream._reply_for(url.path)
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("connection", "close")
                if reply.parts is None:
                    self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                for part in reply.parts if reply.parts is not None else [reply.body]:
                    self.wfile.write(part)
                    self.wfile.flush()

            do_GET = do_POST = _handle  # noqa: N815 (http.server's naming)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def on(self, prefix: str, *replies: Reply) -> ScriptedUpstream:
        with self._lock:
            self._routes = [route for route in self._routes if route[0] != prefix] + [(prefix, list(replies))]
        return self

    def requests_to(self, prefix: str) -> list[Received]:
        return [request for request in self.received if request.path.startswith(prefix)]

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def _reply_for(self, path: str) -> Reply:
        with self._lock:
            for prefix, replies in sorted(self._routes, key=lambda route: -len(route[0])):
                if path.startswith(prefix):
                    return replies.pop(0) if len(replies) > 1 else replies[0]
        return Reply.json({"error": {"code": 404, "message": f"no script for {path}", "status": "NOT_FOUND"}},
                          status=404)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
