"""A fast, deterministic loopback upstream speaking OpenAI's chat-completions wire format.

The gateway's tests call it over real HTTP as their "provider", developers run it instead of a
paid provider, and the overhead benchmark compares the gateway against calling it directly —
hence raw asyncio (no framework) and no Django import anywhere in this package.

Replies (shapes and key order follow `shared/fixtures/wire/openai/`):
- text: ``"mock reply to: <last user message text>"``; after a `tool` message:
  ``"mock reply to tool result: <its content>"``; `response_format` json_object gives
  ``{"reply": "<text>"}``, json_schema a value per required property (strings = the text).
- `tools` present (and `tool_choice` not "none", last message not `tool`): a call of the first
  (or the chosen) tool, arguments a deterministic value per required property ("test" for strings).
- usage: prompt = words in all message contents, completion = words in the reply (x n).
- `POST /v1/embeddings`: one unit vector per input (string, list of strings, token arrays), derived
  from a SHA-256 of the input (identical inputs, identical vectors), `dimensions` long (default 8),
  as floats or base64 (little-endian float32) per `encoding_format`; prompt tokens = words (or token
  ids). The `status` knob and the fault modes `drop` / `reset` / `hang` apply to it too.

Knobs (defaults, overridden per upstream model name; set at start, by `configure()` or
`POST /_mock/config`): `latency_ms` (before the headers), `chunks`, `chunk_delay_ms` (before each
streamed delta), `status` (non-200: OpenAI error body; 429 adds `retry-after: 1`), `error_body`
(replaces that body; a string goes out raw), `headers` (extra response headers, e.g. a `location`
with a 3xx `status`), `cut_after_events` (a stream ends cleanly after its first N SSE events),
`fail_times` (only the first N matching requests fail, counted where the knob is set; re-armed when
that scope is configured again) and `mode`:
- `hang`: read the request, never answer; `drop`: close without a response (FIN);
  `reset`: abort the connection with a TCP RST before any response byte;
- `drop_mid_stream`: headers and the first two deltas, then close (non-streaming: half the body);
  `reset_mid_stream`: the same, ended by a RST instead of a FIN;
- `truncate_stream`: the first two deltas, then a clean end: no finish_reason, no [DONE]
  (non-streaming: a well-framed 200 whose JSON is cut in half);
- `garbage_mid_stream`: the first two deltas, a block of non-SSE bytes with a `data:` line that is
  not JSON, then the rest of the stream (non-streaming: a 200 whose body is an HTML page);
- `oversize`: a normal answer whose text is `oversize_bytes` long (streamed: in one event);
- `empty_200`: 200 with an empty body; `error_in_200`: 200 whose JSON (or SSE event) is an error.
A mode other than `normal` wins over `status`; `latency_ms` applies to every mode.
"""

from __future__ import annotations

from .knobs import DEFAULT_KNOBS, MODES
from .runner import MockUpstreamThread, run_forever, start_in_thread
from .server import MockUpstream
from .wire import MOCK_MODELS

__all__ = [
    "DEFAULT_KNOBS",
    "MOCK_MODELS",
    "MODES",
    "MockUpstream",
    "MockUpstreamThread",
    "run_forever",
    "start_in_thread",
]
