"""Just enough HTTP/1.1 for a loopback upstream: request parsing (Content-Length or chunked
bodies, keep-alive, pipelining) and response framing. Kept separate so the server reads as routing.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

MAX_HEAD = 64 * 1024
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BadRequest(Exception):
    """The bytes are not HTTP we can answer; the connection gets `status` and is closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Request:
    method: str
    target: str  # path plus query, as sent
    path: str
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    keep_alive: bool


def head_end(buf: bytearray) -> int:
    """Offset just past the blank line ending the head, or -1 while incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end == -1:
        if len(buf) > MAX_HEAD:
            raise BadRequest(431, "request head too large")
        return -1
    return end + 4


def parse_request(buf: bytearray) -> tuple[Request, int] | None:
    """Parse one request from the front of `buf`: (request, bytes consumed), or None if incomplete."""
    end = head_end(buf)
    if end == -1:
        return None
    lines = bytes(buf[: end - 4]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(400, f"malformed header line {line[:100]!r}")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value

    if "chunked" in headers.get("transfer-encoding", "").lower():
        parsed = _dechunk(buf, end)
        if parsed is None:
            return None
        body, consumed = parsed
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest(400, "bad Content-Length") from None
        if length < 0:
            raise BadRequest(400, "bad Content-Length")
        consumed = end + length
        if len(buf) < consumed:
            return None
        body = bytes(buf[end:consumed])

    connection = headers.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    path = target.split("?", 1)[0]
    return Request(method, target, path, headers, body, keep_alive), consumed


def wants_continue(buf: bytearray) -> bool:
    """True when a complete head asks for `100 Continue` (curl does for bodies over 1 KiB)."""
    end = buf.find(b"\r\n\r\n")
    return end != -1 and b"100-continue" in bytes(buf[:end]).lower()


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol == -1:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest(400, "bad chunk size") from None
        pos = eol + 2
        if size == 0:
            while True:  # skip trailers up to the blank line
                eol = buf.find(b"\r\n", pos)
                if eol == -1:
                    return None
                if eol == pos:
                    return bytes(body), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode()
    return line


def _connection(keep_alive: bool) -> bytes:
    return b"connection: keep-alive\r\n" if keep_alive else b"connection: close\r\n"


def json_head(status: int, length: int, keep_alive: bool, extra: bytes = b"") -> bytes:
    """Head of a JSON response; `extra` is pre-encoded header lines, each ending in CRLF."""
    return b"%scontent-type: application/json\r\ncontent-length: %d\r\n%s%s\r\n" % (
        status_line(status),
        length,
        extra,
        _connection(keep_alive),
    )


def json_response(status: int, body: bytes, keep_alive: bool, extra: bytes = b"") -> bytes:
    return json_head(status, len(body), keep_alive, extra) + body


def stream_head(keep_alive: bool, extra: bytes = b"") -> bytes:
    return b"%scontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n%s%s\r\n" % (
        status_line(200),
        extra,
        _connection(keep_alive),
    )


def chunk(data: bytes) -> bytes:
    """One chunk of a `Transfer-Encoding: chunked` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)
