"""A loopback HTTP server publishing files, as the leaderboards' and catalogues' hosts do.

Each path answers with a body, a status and headers that a test sets (and changes between runs: a new
snapshot, an HTML error page, a 404, a slow answer, a redirect elsewhere). It records the requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Published:
    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    delay_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FileHost:
    def __init__(self) -> None:
        self.files: dict[str, Published] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def publish(self, path: str, body: bytes | str, **options) -> str:
        self.files[path] = Published(body.encode() if isinstance(body, str) else body, **options)
        return self.url(path)

    def start(self) -> None:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                host.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                published = host.files.get(path) or Published(b"<html><body>Not Found</body></html>", 404,
                                                              "text/html")
                if published.delay_seconds:
                    time.sleep(published.delay_seconds)
                self.send_response(published.status)
                self.send_header("content-type", published.content_type)
                self.send_header("content-length", str(len(published.body)))
                for name, value in published.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(published.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="file-host").start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def file_host() -> Iterator[FileHost]:
    host = FileHost()
    host.start()
    try:
        yield host
    finally:
        host.stop()
