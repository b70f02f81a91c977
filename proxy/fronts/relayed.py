"""The relay's own OpenAI-shaped stream (`data: <chunk>` ... `data: [DONE]`, or a final `data: {"error"}`), read
back as chunks by the fronts that re-tell it in another protocol (/v1/messages, /v1/responses)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from providers.sse import SSEDecoder

INCOMPLETE = "The upstream stream ended before the answer was complete."
NOT_JSON = {"message": "The gateway relayed an event that is not valid JSON."}


async def relayed_chunks(openai_sse: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any] | None]:
    """Each chunk as a dict, then None for `[DONE]`, or `{"error": ...}` for an error event (or one that is not
    a JSON object); nothing after either, but the relay is read to its end all the same, so it records the
    request's outcome itself. The caller closes both generators when it stops early (our own client went
    away): `async with aclosing(relay), aclosing(relayed_chunks(relay)) as chunks`."""
    decoder = SSEDecoder()
    ended = False
    async for piece in openai_sse:
        for data in decoder.feed(piece):
            if ended:
                continue
            if data == b"[DONE]":
                ended = True
                yield None
                continue
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                chunk = {"error": NOT_JSON}
            if not isinstance(chunk, dict):
                chunk = {"error": None}
            ended = "error" in chunk
            yield chunk
