"""Conformance: real recorded provider responses (shared/fixtures/wire) replayed from a loopback server.

The gateway must pass OpenAI-compatible answers through unchanged, survive the quirks real providers
send (OpenAI's `obfuscation` field, OpenRouter's SSE comments, an error inside a 200 stream) and count
their usage.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from providers.sse import SSEDecoder
from tests.conftest import usage_rows
from tests.fixture_files import WIRE


class ReplayServer:
    """Answers every POST with one recorded body; SSE bodies are sent event by event."""

    def __init__(self) -> None:
        self.body = b""
        self.content_type = "application/json"
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-type", replay.content_type)
                self.send_header("connection", "close")
                self.end_headers()
                separator = b"\n\n" if replay.content_type == "text/event-stream" else None
                parts = replay.body.split(separator) if separator else [replay.body]
                for index, part in enumerate(parts):
                    self.wfile.write(part + (separator if separator and index < len(parts) - 1 else b""))
                    self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def serve(self, path: Path, content_type: str) -> bytes:
        self.body, self.content_type = path.read_bytes(), content_type
        return self.body

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def replay(gateway, routing):
    from routing.models import Model, Provider

    server = ReplayServer()
    provider = Provider.objects.create(name="recorded", base_url=server.base_url, api_key_env="MOCKAI_API_KEY")
    Model.objects.create(public_id="recorded-model", provider=provider, upstream_name="gpt-4o",
                         input_price_per_mtok=1, output_price_per_mtok=2)
    gateway.sync_config()
    yield server
    server.close()


def chat(gateway, stream: bool) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "recorded-model", "messages": [{"role": "user", "content": "hi"}], "stream": stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    })


def data_events(body: bytes) -> list[bytes]:
    decoder = SSEDecoder()
    return decoder.feed(body.replace(b"\r\n", b"\n") + b"\n\n")


def test_recorded_openai_answer_passes_byte_for_byte(gateway, replay):
    recorded = replay.serve(WIRE / "openai" / "chat_completion.recorded.json", "application/json")
    response = chat(gateway, stream=False)
    assert response.status_code == 200 and response.content == recorded
    [row] = usage_rows(1)
    usage = json.loads(recorded)["usage"]
    assert (row.prompt_tokens, row.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])


@pytest.mark.parametrize("fixture", [
    "openai/chat_completion_stream_include_usage.sse",
    "openai/chat_completion_stream_tool_calls.sse",
    "openrouter/chat_completion_stream_reasoning.recorded.sse",
])
def test_recorded_streams_are_relayed_event_for_event(gateway, replay, fixture):
    recorded = replay.serve(WIRE / fixture, "text/event-stream")
    response = chat(gateway, stream=True)
    assert response.status_code == 200
    # Same data events, same bytes, in order (SSE comments such as OpenRouter's are dropped).
    assert data_events(response.content) == data_events(recorded)
    usage = json.loads(data_events(recorded)[-2])["usage"]
    [row] = usage_rows(1)
    assert row.total_tokens == usage["total_tokens"] and row.status == "ok"


def test_recorded_error_inside_a_200_stream_becomes_an_error_event(gateway, replay):
    replay.serve(WIRE / "openrouter" / "chat_completion_stream_midstream_error.recorded.sse", "text/event-stream")
    response = chat(gateway, stream=True)
    last = json.loads(data_events(response.content)[-1])
    assert "Token limit reached" in last["error"]["message"]
    assert b"[DONE]" not in response.content
    [row] = usage_rows(1)
    assert row.status == "error"


@pytest.mark.parametrize("fixture", [
    "openai/chat_completion_stream_tool_calls.sse",
    "openrouter/chat_completion_stream_reasoning.recorded.sse",
    "gemini/stream_generate_content_alt_sse.recorded.sse",
])
def test_sse_decoder_is_independent_of_how_bytes_are_split(fixture):
    recorded = (WIRE / fixture).read_bytes()
    whole = SSEDecoder().feed(recorded)
    for size in (1, 2, 7, 64):
        decoder = SSEDecoder()
        pieces = []
        for start in range(0, len(recorded), size):
            pieces += decoder.feed(recorded[start:start + size])
        assert pieces == whole
    assert whole and all(b"\r" not in event for event in whole)
