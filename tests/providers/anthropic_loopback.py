"""A loopback server speaking Anthropic's Messages protocol from recordings (tests only).

Answers `POST /v1/messages` with the queued replies (the last one repeats), SSE bodies event by
event, and keeps every request it received (path, headers, parsed body) for the tests to check.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fixture_files import WIRE

ANTHROPIC = WIRE / "anthropic"


@dataclass
class Reply:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # send only this many bytes of the body, then close the connection


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


def fixture(name: str) -> bytes:
    return (ANTHROPIC / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture(name))


class AnthropicLoopback:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.received: list[Received] = []
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                loopback.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                  json.loads(raw)))
                reply = loopback.replies.pop(0) if len(loopback.replies) > 1 else loopback.replies[0]
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("connection", "close")
                body = reply.body if reply.cut_after is None else reply.body[: reply.cut_after]
                if reply.content_type != "text/event-stream":
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                if reply.content_type == "text/event-stream":
                    events = body.split(b"\n\n")
                    for index, event in enumerate(events):
                        self.wfile.write(event + (b"\n\n" if index < len(events) - 1 else b""))
                        self.wfile.flush()
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def serve_fixture(self, name: str, status: int = 200, **kwargs) -> bytes:
        body = fixture(name)
        content_type = "text/event-stream" if name.endswith(".sse") else "application/json"
        self.serve(Reply(body, status, content_type, **kwargs))
        return body

    @property
    def last(self) -> Received:
        return self.received[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
