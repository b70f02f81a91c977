"""Network-level fault drills through the real gateway: connect timeouts, TCP resets, streams that end
early or carry garbage, and answers too large to hold.

Like tests/routing/test_faults.py: `smart-model` falls back to `backup-model` on the same upstream,
`fast-model` has no fallback. The gateway runs with UPSTREAM_CONNECT_TIMEOUT=1 and a 2 s provider read
timeout (tests/conftest.py); bounds below leave room for a loaded two-core CI machine.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from mock_upstream import start_in_thread
from tests.conftest import (
    GatewayProcess,
    database_env,
    gateway_env,
    launch_gateway,
    stop_gateway,
    usage_rows,
)
from tests.proxy.test_bad_input import assert_openai_error

CONNECT_TIMEOUT = 1.0  # UPSTREAM_CONNECT_TIMEOUT of the gateway_process fixture
READ_TIMEOUT = 2.0  # the test providers' timeout_seconds
SLACK = 2.5  # CPU contention on CI, plus the fallback's own answer
HI = [{"role": "user", "content": "hi"}]
CAPPED_RESPONSE_BYTES = 1024 * 1024  # UPSTREAM_MAX_RESPONSE_BYTES of the `capped` gateway below


def chat(gateway: GatewayProcess, model: str, *, stream: bool = False, timeout: float = 20, **extra) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", timeout=timeout,
                      json={"model": model, "messages": HI, "stream": stream, **extra})


def sse_events(response: httpx.Response) -> list[str]:
    return [block.removeprefix("data: ") for block in response.text.split("\n\n") if block]


def assert_ends_with_error_event(response: httpx.Response, code: str) -> dict:
    """A committed stream that failed: 200, content first, then one OpenAI-shaped error event, no [DONE]."""
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    assert "[DONE]" not in events, "a cut stream must never look complete"
    error = json.loads(events[-1])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "upstream_error" and error["code"] == code, error
    return error


def assert_fell_back(response: httpx.Response, *, stream: bool) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-model"] == "backup-model"
    assert response.headers["x-gateway-attempts"] == "2"
    if stream:
        events = sse_events(response)
        assert events[-1] == "[DONE]"
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    else:
        text = response.json()["choices"][0]["message"]["content"]
    assert text == "mock reply to: hi"


# --- connect timeout ----------------------------------------------------------------------------------


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port that takes SYNs but never completes a handshake: its accept queue is full.

    listen(0) and no accept(): once a connection or two fill the queue, Linux drops further SYNs, so a
    connect() waits until its own timeout, like a firewalled or overloaded provider.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.1)
    with socket.socket() as probe:
        probe.settimeout(0.5)
        with pytest.raises(TimeoutError):
            probe.connect(("127.0.0.1", port))  # the trick works here: a connect really hangs
    yield port
    for sock in [*fillers, server]:
        sock.close()


@pytest.fixture
def stuck_models(gateway, routing, blackhole):
    """`stuck-model` (falls back to backup-model) and `stuck-alone` on a provider behind the black hole."""
    from routing.models import Model, ModelFallback, Provider

    stuck = Provider.objects.create(name="stuck", base_url=f"http://127.0.0.1:{blackhole}/v1",
                                    api_key_env="MOCKAI_API_KEY", timeout_seconds=READ_TIMEOUT)
    model = Model.objects.create(public_id="stuck-model", provider=stuck, upstream_name="stuck-upstream")
    Model.objects.create(public_id="stuck-alone", provider=stuck, upstream_name="stuck-upstream")
    ModelFallback.objects.create(model=model, fallback=routing.models["backup-model"])
    gateway.sync_config()


@pytest.mark.parametrize("stream", [False, True])
def test_connect_timeout_falls_back_after_the_connect_timeout(gateway, stuck_models, stream):
    started = time.monotonic()
    response = chat(gateway, "stuck-model", stream=stream)
    elapsed = time.monotonic() - started
    assert_fell_back(response, stream=stream)
    # It waited for the connect timeout (not refused at once), and not for the 2 s read timeout on top.
    assert CONNECT_TIMEOUT * 0.9 <= elapsed < CONNECT_TIMEOUT + SLACK
    [row] = usage_rows(1)
    assert row.status == "ok" and row.attempts == 2
    assert row.attempt_log[0]["provider"] == "stuck" and row.attempt_log[0]["status"] is None
    assert "Timed out connecting" in row.attempt_log[0]["error"]


def test_connect_timeout_without_fallback_is_a_502_in_bounded_time(gateway, stuck_models):
    started = time.monotonic()
    response = chat(gateway, "stuck-alone")
    assert time.monotonic() - started < CONNECT_TIMEOUT + SLACK
    error = assert_openai_error(response, 502, says="Timed out connecting to provider 'stuck'")
    assert error["type"] == "upstream_error" and error["code"] == "all_candidates_failed"
    assert response.headers["x-gateway-attempts"] == "1"
    [row] = usage_rows(1)
    assert row.status == "error" and row.status_code == 502


# --- TCP resets ----------------------------------------------------------------------------------------


def read_until_closed(port: int, stream: bool) -> tuple[bytes, type[Exception] | None]:
    """POST to the mock over a bare socket; what arrived, and how the connection ended (None: a FIN)."""
    body = json.dumps({"model": "m", "messages": HI, "stream": stream}).encode()
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError as exc:
            return received, type(exc)
    return received, None


@pytest.mark.parametrize(("mode", "stream", "ending", "sent"), [
    ("reset", False, ConnectionResetError, b""),
    ("reset_mid_stream", True, ConnectionResetError, b'"content":"mock"'),
    ("drop", False, None, b""),
    ("drop_mid_stream", True, None, b'"content":"mock"'),
])
def test_the_mock_ends_connections_with_a_rst_or_a_fin_as_its_modes_say(mode, stream, ending, sent):
    """The drills below rely on it: `reset*` modes really send a TCP RST, `drop*` modes a clean FIN."""
    with start_in_thread(mode=mode, chunks=4) as mock:
        received, how = read_until_closed(mock.port, stream)
    assert how is ending and sent in received


@pytest.mark.parametrize(("mode", "stream"), [("reset", False), ("reset", True), ("reset_mid_stream", False)])
def test_a_reset_before_the_answer_is_committed_falls_back(gateway, upstream, mode, stream):
    """Non-streamed, even a reset halfway through the body is before the commit: nothing went out yet."""
    upstream.configure(models={"smart-upstream": {"mode": mode}})
    started = time.monotonic()
    response = chat(gateway, "smart-model", stream=stream)
    assert time.monotonic() - started < SLACK
    assert_fell_back(response, stream=stream)
    # The POST was sent once: a reset is never a reason to replay a request at the same provider.
    assert upstream.stats()["by_model"]["smart-upstream"] == 1
    [row] = usage_rows(1)
    assert row.attempt_log[0]["status"] is None and "was lost" in row.attempt_log[0]["error"]


def test_a_reset_without_fallback_is_a_clean_502(gateway, upstream):
    upstream.configure(models={"fast-upstream": {"mode": "reset"}})
    response = chat(gateway, "fast-model")
    error = assert_openai_error(response, 502, says="Connection to provider 'mockai' was lost")
    assert error["code"] == "all_candidates_failed" and response.headers["x-gateway-attempts"] == "1"
    [row] = usage_rows(1)
    assert row.status == "error" and row.status_code == 502


def test_a_reset_mid_stream_ends_the_stream_with_an_error_event(gateway, upstream):
    upstream.configure(models={"fast-upstream": {"mode": "reset_mid_stream", "chunks": 4}})
    started = time.monotonic()
    response = chat(gateway, "fast-model", stream=True)
    assert time.monotonic() - started < SLACK
    assert_ends_with_error_event(response, "upstream_connection_error")
    deltas = [json.loads(e)["choices"][0]["delta"].get("content") for e in sse_events(response)[:-1]]
    assert "".join(d or "" for d in deltas) == "mock reply"  # what came before the reset, nothing made up
    assert response.headers["x-gateway-attempts"] == "1"
    [row] = usage_rows(1)
    assert row.status == "error" and row.error_type == "upstream_connection_error"


# --- streams that end early or carry garbage -----------------------------------------------------------


def test_a_stream_closed_cleanly_before_the_finish_is_an_error(gateway, upstream):
    """A clean end of the body (last chunk, no RST) without finish_reason or [DONE]."""
    upstream.configure(models={"fast-upstream": {"mode": "truncate_stream"}})
    response = chat(gateway, "fast-model", stream=True)
    assert_ends_with_error_event(response, "upstream_stream_incomplete")
    [row] = usage_rows(1)
    assert row.status == "error" and row.error_type == "upstream_stream_incomplete"


def test_a_stream_closed_after_one_of_several_choices_finished_is_an_error(gateway, upstream):
    """n=2: the first choice's finish_reason arrived, the second's never did."""
    # 2 role chunks, 2 content chunks (chunks=1), then the first finish chunk: 5 events, then the end.
    upstream.configure(models={"fast-upstream": {"chunks": 1, "cut_after_events": 5}})
    response = chat(gateway, "fast-model", stream=True, n=2)
    assert_ends_with_error_event(response, "upstream_stream_incomplete")
    [row] = usage_rows(1)
    assert row.status == "error"


def test_a_finished_stream_without_done_is_complete(gateway, upstream):
    """Some servers end after the finish_reason without [DONE]: the answer is whole, the client gets [DONE]."""
    upstream.configure(models={"fast-upstream": {"chunks": 2, "cut_after_events": 4}})  # role, 2 deltas, finish
    response = chat(gateway, "fast-model", stream=True)
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "stop"
    [row] = usage_rows(1)
    assert row.status == "ok"


def test_garbage_mid_stream_ends_the_stream_with_an_error_event(gateway, upstream):
    upstream.configure(models={"fast-upstream": {"mode": "garbage_mid_stream"}})
    response = chat(gateway, "fast-model", stream=True)
    assert_ends_with_error_event(response, "upstream_bad_stream")
    for event in sse_events(response):
        json.loads(event)  # the client only ever gets well-formed events
    assert "<html>" not in response.text and "\x00" not in response.text
    [row] = usage_rows(1)
    assert row.status == "error" and row.error_type == "upstream_bad_stream"


def test_garbage_instead_of_an_answer_falls_back(gateway, upstream):
    upstream.configure(models={"smart-upstream": {"mode": "garbage_mid_stream"}})
    assert_fell_back(chat(gateway, "smart-model"), stream=False)
    [row] = usage_rows(1)
    assert row.attempt_log[0]["status"] is None and "not valid JSON" in row.attempt_log[0]["error"]


# --- answers too large to hold -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def capped_process(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[GatewayProcess]:
    """A second gateway process, as tests/conftest.py starts one, that refuses answers over 1 MiB."""
    log_path = tmp_path_factory.mktemp("capped-gateway") / "daphne.log"
    with django_db_blocker.unblock():
        db_env = database_env()
    env = gateway_env(
        db_env,
        UPSTREAM_MAX_RESPONSE_BYTES=str(CAPPED_RESPONSE_BYTES),
        USAGE_JOURNAL_DIR=str(log_path.parent / "journal"),  # its own, never the main gateway's
    )
    gateway = launch_gateway(env, log_path)
    yield gateway
    stop_gateway(gateway)


@pytest.fixture
def capped(routing, capped_process, upstream, second_upstream) -> Iterator[GatewayProcess]:
    upstream.reset()
    second_upstream.reset()
    capped_process.sync_config()
    yield capped_process
    capped_process.drain_usage()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


OVERSIZE = 24 * 1024 * 1024


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_over_the_size_limit_is_a_clean_error_and_memory_stays_bounded(capped, upstream, stream):
    assert chat(capped, "fast-model").status_code == 200  # warm: pools, snapshot, first-request allocations
    before = rss_kib(capped.process.pid)
    upstream.configure(models={"fast-upstream": {"mode": "oversize", "oversize_bytes": OVERSIZE}})
    for _ in range(3):
        started = time.monotonic()
        response = chat(capped, "fast-model", stream=stream)
        assert time.monotonic() - started < 10
        if stream:
            assert_ends_with_error_event(response, "upstream_response_too_large")
            assert len(response.content) < 2 * CAPPED_RESPONSE_BYTES
        else:
            error = assert_openai_error(response, 502, says="larger than the gateway accepts")
            assert error["code"] == "upstream_response_too_large"
            assert response.headers["x-gateway-attempts"] == "1"
    grown_mib = (rss_kib(capped.process.pid) - before) / 1024
    assert grown_mib < 16, f"gateway RSS grew {grown_mib:.1f} MiB for answers of {OVERSIZE >> 20} MiB"
    rows = usage_rows(4)
    assert [row.status for row in rows] == ["ok", "error", "error", "error"]
    assert rows[-1].error_type == "upstream_response_too_large"
    upstream.reset()
    assert chat(capped, "fast-model").json()["choices"][0]["message"]["content"] == "mock reply to: hi"
