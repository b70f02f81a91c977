"""Splitting a byte stream into Server-Sent Events, tolerant of the quirks real providers send.

CRLF or LF line endings, comment lines (OpenRouter's `: OPENROUTER PROCESSING`), `event:` lines,
events split across reads. Yields each event's joined `data` payload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from providers.http import UpstreamBodyTooLarge


class SSEDecoder:
    """`max_event_bytes`: an event still unfinished past this size raises UpstreamBodyTooLarge.

    Reads that cannot end an event are only queued, so a huge event costs linear time, not quadratic.
    """

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._parts: list[bytes] = []  # what arrived since the last complete event
        self._size = 0
        self._tail = b""  # its last bytes: a separator may straddle two reads
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n\n" not in (self._tail + chunk).replace(b"\r\n", b"\n"):
            self._queue(chunk)
            return []
        buffer = b"".join(self._parts) + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *events, rest = buffer.split(b"\n\n")
        self._parts, self._size, self._tail = [], 0, b""
        self._queue(rest)
        return [data for data in map(_event_data, events) if data is not None]

    def pending(self) -> bytes:
        """What arrived after the last complete event: non-empty means the stream was cut mid-event."""
        return b"".join(self._parts).strip()

    def _queue(self, data: bytes) -> None:
        if data:
            self._parts.append(data)
            self._size += len(data)
            self._tail = (self._tail + data[-3:])[-3:]
        if self._max is not None and self._size > self._max:
            raise UpstreamBodyTooLarge(f"a stream event larger than {self._max} bytes")


def _event_data(event: bytes) -> bytes | None:
    if event.startswith(b"data: ") and b"\n" not in event:
        return event[6:]  # the common case: one data line
    lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None  # comments, keep-alives, lone event:/id:/retry: lines
    return b"\n".join(line[6:] if line.startswith(b"data: ") else line[5:] for line in lines)


async def iter_sse(chunks: AsyncIterator[bytes], decoder: SSEDecoder) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        for data in decoder.feed(chunk):
            yield data
