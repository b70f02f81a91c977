"""Optional LLM-based rewriting, through a gateway of its own (PROMPT_REWRITE_MODEL set): the restatement is
added after the client's messages, cached by prompt, and a slow rewrite model leaves the template result."""

from __future__ import annotations

import time

import httpx

from prompts.config_io import default_strategies_path, load_strategies_file, strategies_import
from tests.conftest import dedicated_gateway

TASK = "My Flask app returns 500 on /login since the upgrade. Why?"


def send(gateway, task: str = TASK) -> httpx.Response:
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "auto:debugging", "messages": [{"role": "user", "content": task}]})
    assert response.status_code == 200, response.text
    return response


def test_the_rewrite_models_restatement_is_added_cached_and_skipped_when_slow(
        gateway_process, routing, upstream, second_upstream, tmp_path):
    strategies_import(load_strategies_file(default_strategies_path()))
    gateway_process.sync_config()
    upstream.reset()
    second_upstream.reset()
    with dedicated_gateway(tmp_path, PROMPT_REWRITE_MODEL="free-model", PROMPT_REWRITE_TIMEOUT_MS="400") as gateway:
        first = send(gateway)
        assert first.headers["x-gateway-rewrite"] == "llm"
        messages = upstream.stats()["log"][-1]["body"]["messages"]
        assert messages[0]["content"].startswith('<gateway-strategy role="debugging">')
        assert messages[1] == {"role": "user", "content": TASK}  # the client's turn, unchanged
        assert messages[2] == {"role": "system", "content": '<gateway-restatement role="debugging">\n'
                               f"mock reply to: {TASK}\n</gateway-restatement>"}
        rewrite_call = second_upstream.stats()["log"][-1]["body"]
        assert rewrite_call["model"] == "free-upstream" and rewrite_call["messages"][-1]["content"] == TASK

        assert send(gateway).headers["x-gateway-rewrite"] == "llm"
        assert second_upstream.stats()["requests"] == 1  # the second time from the cache

        second_upstream.configure({"latency_ms": 3000})
        try:
            started = time.monotonic()
            slow = send(gateway, "Another bug: the worker crashes with KeyError 'user_id'. Why?")
            assert time.monotonic() - started < 2.5
        finally:
            second_upstream.reset()
        assert slow.headers["x-gateway-rewrite"] == "template"
        assert [m["role"] for m in upstream.stats()["log"][-1]["body"]["messages"]] == ["system", "user"]
