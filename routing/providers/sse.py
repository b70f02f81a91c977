"""Splitting a byte stream into Server-Sent Events, tolerant of the quirks real providers send.

CRLF or LF line endings, comment lines (OpenRouter's `: OPENROUTER PROCESSING`), `event:` lines,
events split across reads. Yields each event's joined `data` payload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *events, self._buffer = buffer.split(b"\n\n")
        return [data for data in map(_event_data, events) if data is not None]

    def pending(self) -> bytes:
        """What arrived after the last complete event: non-empty means the stream was cut mid-event."""
        return self._buffer.strip()


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
