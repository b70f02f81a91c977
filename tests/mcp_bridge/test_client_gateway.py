"""MCP servers registered in the admin as context sources, through the real gateway process: what the
loopback upstream receives, what the client gets, and what /status counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import anthropic
from openai import OpenAI

from mcp_bridge.models import McpServer
from mcp_bridge.services import interaction_save
from tests.conftest import ROOT, database_env, dedicated_gateway, free_port, gateway_env, launch_gateway, stop_gateway
from tests.mcp_bridge.helpers import HERE, manage_env, wait_for_http

SCRIPT = str(HERE / "context_server.py")
SYSTEM = "You are a terse assistant for the operations team."


def register(**fields) -> McpServer:
    fields.setdefault("transport", McpServer.Transport.STDIO)
    fields.setdefault("command", sys.executable)
    server = McpServer(**fields)
    server.full_clean()
    server.save()
    return server


def mcp_status(gateway, names: set[str], timeout: float = 10.0) -> dict[str, dict]:
    """The gateway's /status `mcp` servers by name, once it serves every one of `names`."""
    deadline = time.monotonic() + timeout
    while True:
        servers = {server["name"]: server for server in gateway.status()["mcp"]["servers"]}
        if names <= set(servers) or time.monotonic() > deadline:
            return servers
        time.sleep(0.05)


def wait_for_state(gateway, name: str, states: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        server = mcp_status(gateway, {name})[name]
        if server["state"] in states or time.monotonic() > deadline:
            return server
        time.sleep(0.1)


def ask(sdk, task: str, **extra):
    return sdk.chat.completions.with_raw_response.create(
        model="fast-model", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}],
        **extra,
    )


def sent_messages(upstream) -> list[dict]:
    return upstream.stats()["log"][-1]["body"]["messages"]


def test_a_stdio_mcp_server_answers_as_a_context_block_from_one_kept_alive_session(gateway, sdk, upstream):
    register(name="runbooks", args=[SCRIPT], tool_name="lookup", argument_template={"query": "{task}"},
             timeout_ms=30000)  # the first request waits for the server to start
    mcp_status(gateway, {"runbooks"})

    first = ask(sdk, "How do I restart the billing worker?")
    assert first.http_response.status_code == 200
    assert first.headers["x-gateway-mcp"] == "answered=1/1"
    messages = sent_messages(upstream)
    assert messages[0] == {"role": "system", "content": SYSTEM}  # the client's own, first and untouched
    assert messages[-1] == {"role": "user", "content": "How do I restart the billing worker?"}
    assert len(messages) == 3
    block = messages[1]
    assert block["role"] == "system"
    assert block["content"].startswith('<gateway-context kind="mcp">')
    assert '<mcp-result server="runbooks" tool="lookup">' in block["content"]
    assert "Runbook entry for 'How do I restart the billing worker?'" in block["content"]
    assert block["content"].endswith("</gateway-context>")
    pid = block["content"].split("(server pid ")[1].split(")")[0]

    second = ask(sdk, "How do I restart the search indexer?")
    assert second.headers["x-gateway-mcp"] == "answered=1/1"
    assert "Runbook entry for 'How do I restart the search indexer?'" in sent_messages(upstream)[1]["content"]
    assert f"(server pid {pid})" in sent_messages(upstream)[1]["content"]  # the same process: the session is reused

    ask(sdk, "How do I restart the billing worker?")
    log = upstream.stats()["log"]
    assert log[-1]["body"]["messages"] == log[0]["body"]["messages"]  # byte-stable block

    status = mcp_status(gateway, {"runbooks"})["runbooks"]
    assert status["state"] == "ready"
    assert status["starts"] == 1
    assert status["ok"] >= 2 and status["errors"] == status["timeouts"] == status["failures"] == 0


def test_a_server_for_another_profile_is_not_asked(gateway, sdk, upstream):
    register(name="work-only", args=[SCRIPT], tool_name="lookup", profiles="work", timeout_ms=30000)
    mcp_status(gateway, {"work-only"})
    response = ask(sdk, "How do I restart the billing worker?")  # the gateway's active profile is "personal"
    assert "x-gateway-mcp" not in response.headers
    assert len(sent_messages(upstream)) == 2


def test_dead_and_slow_servers_never_fail_the_request_and_are_counted_in_status(gateway, sdk, upstream):
    register(name="dead", args=["-c", "import sys; sys.exit(3)"], tool_name="lookup", timeout_ms=5000)
    register(name="slow", args=[SCRIPT], tool_name="slow", timeout_ms=300)
    mcp_status(gateway, {"dead", "slow"})

    response = ask(sdk, "Why is the nightly export empty?")  # starts both: the dead one exits at once
    assert response.http_response.status_code == 200
    assert response.parse().choices[0].message.content
    assert len(sent_messages(upstream)) == 2  # no answer, no block; the client's messages as sent

    dead = wait_for_state(gateway, "dead", {"backoff"})
    assert dead["failures"] >= 1 and dead["last_error"]
    slow = wait_for_state(gateway, "slow", {"ready"})
    assert slow["state"] == "ready"

    started = time.monotonic()
    response = ask(sdk, "Why is the nightly export still empty?")
    elapsed = time.monotonic() - started
    assert response.http_response.status_code == 200
    assert response.headers["x-gateway-mcp"] == "answered=0/2"
    assert len(sent_messages(upstream)) == 2
    assert elapsed < 4.0, elapsed  # the slow server answers after 5 s: the request did not wait for it

    servers = mcp_status(gateway, {"dead", "slow"})
    assert servers["slow"]["timeouts"] >= 1
    assert servers["slow"]["last_error"] == "no answer within 300 ms"
    assert servers["dead"]["unavailable"] + servers["dead"]["errors"] >= 1
    assert gateway.status()["mcp"]["failed_calls"] >= 2


def test_the_gateway_uses_its_own_mcp_server_as_a_context_source(gateway, sdk, upstream):
    interaction_save(api_key_prefix="", profile="personal", conversation_id="ops-1",
                     user="How do I rotate the ingress TLS certificate?",
                     assistant="Renew it with cert-manager: cmctl renew ingress-tls.")
    interaction_save(api_key_prefix="", profile="personal", conversation_id="ops-2",
                     user="What is a good name for a cat?", assistant="Miso.")
    register(name="gateway-history", args=[str(ROOT / "manage.py"), "mcp_server"],
             env_vars="DB_PATH,DATABASE_URL,DJANGO_SETTINGS_MODULE", tool_name="search_interactions",
             argument_template={"query": "{task}", "top_k": 2}, timeout_ms=60000)
    mcp_status(gateway, {"gateway-history"})

    response = ask(sdk, "The ingress TLS certificate expires tomorrow, how do I rotate it?")
    assert response.headers["x-gateway-mcp"] == "answered=1/1"
    block = sent_messages(upstream)[1]["content"]
    assert '<mcp-result server="gateway-history" tool="search_interactions">' in block
    assert "cmctl renew ingress-tls" in block
    assert "Miso" not in block


def test_a_server_that_dies_is_counted_then_restarted_by_a_later_request(gateway, sdk, upstream):
    register(name="runbooks-restart", args=[SCRIPT], tool_name="lookup", timeout_ms=30000)
    mcp_status(gateway, {"runbooks-restart"})
    ask(sdk, "How do I restart the billing worker?")
    pid = int(sent_messages(upstream)[1]["content"].split("(server pid ")[1].split(")")[0])

    os.kill(pid, signal.SIGKILL)
    response = ask(sdk, "How do I restart the mail relay?")  # the session breaks under this call
    assert response.http_response.status_code == 200
    assert len(sent_messages(upstream)) == 2
    broken = mcp_status(gateway, {"runbooks-restart"})["runbooks-restart"]
    assert broken["failures"] == 1 and broken["last_error"]

    deadline = time.monotonic() + 30
    while True:  # after the backoff (1 s), a request starts it again; meanwhile requests go on without it
        response = ask(sdk, f"How do I restart the cron runner? ({time.monotonic()})")
        assert response.http_response.status_code == 200
        if response.headers["x-gateway-mcp"] == "answered=1/1" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    block = sent_messages(upstream)[1]["content"]
    assert "(server pid " in block and f"(server pid {pid})" not in block
    restarted = mcp_status(gateway, {"runbooks-restart"})["runbooks-restart"]
    assert restarted["state"] == "ready" and restarted["starts"] == 2


def test_the_block_reaches_the_upstream_for_anthropic_clients_and_streams_too(gateway, upstream):
    register(name="runbooks-anthropic", args=[SCRIPT], tool_name="lookup", timeout_ms=30000)
    mcp_status(gateway, {"runbooks-anthropic"})
    with anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0, timeout=40) as client:
        with client.messages.stream(model="fast-model", max_tokens=100, system="Be brief.",
                                    messages=[{"role": "user", "content": "How do I rotate the logs?"}]) as stream:
            text = "".join(stream.text_stream)
    assert text == "mock reply to: How do I rotate the logs?"
    messages = sent_messages(upstream)
    assert messages[0]["role"] == "system" and "Be brief." in str(messages[0]["content"])
    assert "Runbook entry for 'How do I rotate the logs?'" in messages[1]["content"]
    assert messages[-1]["role"] == "user" and "How do I rotate the logs?" in str(messages[-1]["content"])


def test_the_gateway_uses_its_own_mcp_server_over_http_with_a_gateway_key(routing, upstream, tmp_path):
    from apikeys.services import key_create

    owner, owner_key = key_create(name="mcp-reader")
    other, _ = key_create(name="someone-else")
    interaction_save(api_key_prefix=owner.prefix, profile="personal", conversation_id="ops-1",
                     user="How do I drain a Kubernetes node safely?", assistant="kubectl drain --ignore-daemonsets.")
    interaction_save(api_key_prefix=other.prefix, profile="personal", conversation_id="x-1",
                     user="How do I drain a Kubernetes node at night?", assistant="Secret team procedure.")
    port = free_port()
    log = (tmp_path / "mcp-http.log").open("wb")
    server = subprocess.Popen([sys.executable, "manage.py", "mcp_server", "--http", "--port", str(port)],
                              cwd=ROOT, env=manage_env(), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_for_http(url, server)
        register(name="gateway-history-http", transport=McpServer.Transport.HTTP, command="", url=url,
                 auth_token_env="TEST_MCP_GATEWAY_KEY", tool_name="search_interactions", timeout_ms=20000)
        with dedicated_gateway(tmp_path / "gw", TEST_MCP_GATEWAY_KEY=owner_key) as gateway:
            gateway.sync_config()
            with OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=40) as sdk:
                response = ask(sdk, "Drain a Kubernetes node before maintenance")
            assert response.headers["x-gateway-mcp"] == "answered=1/1"
            block = sent_messages(upstream)[1]["content"]
            assert "kubectl drain --ignore-daemonsets." in block
            assert "Secret team procedure" not in block  # the key it authenticates with sees its own history only
            assert mcp_status(gateway, {"gateway-history-http"})["gateway-history-http"]["state"] == "ready"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_under_uvicorn_and_uvloop_too(routing, upstream, tmp_path):
    """scripts/run can serve with uvicorn on uvloop: the stdio subprocess and its pipes work on that loop too."""
    register(name="runbooks-uvicorn", args=[SCRIPT], tool_name="lookup", timeout_ms=30000)
    (tmp_path / "uv").mkdir()
    gateway = launch_gateway(gateway_env(database_env()), tmp_path / "uv" / "uvicorn.log", server="uvicorn")
    try:
        gateway.sync_config()
        with OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=40) as sdk:
            first = ask(sdk, "How do I restart the billing worker?")
            second = ask(sdk, "How do I restart the search indexer?")
        assert first.headers["x-gateway-mcp"] == second.headers["x-gateway-mcp"] == "answered=1/1"
        assert "Runbook entry for 'How do I restart the search indexer?'" in sent_messages(upstream)[1]["content"]
        assert mcp_status(gateway, {"runbooks-uvicorn"})["runbooks-uvicorn"]["starts"] == 1
    finally:
        stop_gateway(gateway)
    assert "Traceback" not in gateway.logs()
