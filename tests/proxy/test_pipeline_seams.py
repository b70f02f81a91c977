"""Extending the request path from outside it: a plugin's step and subscribers, through a real gateway."""

from __future__ import annotations

import asyncio
import json

import pytest
from openai import OpenAI

from proxy.pipeline import STEPS, Pipeline
from tests.conftest import dedicated_gateway, usage_rows


@pytest.fixture
def probed_gateway(routing, tmp_path, upstream, second_upstream):
    upstream.reset()
    second_upstream.reset()
    outcomes = tmp_path / "outcomes.jsonl"
    with dedicated_gateway(tmp_path / "logs", GATEWAY_PLUGINS="tests.proxy.pipeline_probe",
                           PROBE_OUTCOMES=str(outcomes)) as gateway:
        gateway.sync_config()
        yield gateway, outcomes
        gateway.drain_usage()


def read_outcomes(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_plugin_step_shapes_each_candidates_body_and_its_subscribers_see_the_answer(probed_gateway, upstream):
    gateway, outcomes = probed_gateway
    upstream.configure(models={"smart-upstream": {"status": 503}})  # the first candidate fails: a fallback
    with OpenAI(base_url=gateway.base_url, api_key="local", max_retries=0, timeout=20) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="smart-model", messages=[{"role": "user", "content": "hello"}]
        )
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in sdk.chat.completions.create(
                model="fast-model", messages=[{"role": "user", "content": "stream it"}], stream=True
            ) if chunk.choices
        )

    # The body was asked for per candidate: each attempt carried its own model's mark.
    sent = [entry["body"]["messages"][-1]["content"] for entry in upstream.stats()["log"][-3:]]
    assert sent == ["hello [for smart-model]", "hello [for backup-model]", "stream it [for fast-model]"]
    assert raw.parse().choices[0].message.content == "mock reply to: hello [for backup-model]"
    assert raw.headers["x-probe-enrich"] == "general"
    assert streamed == "mock reply to: stream it [for fast-model]"

    gateway.drain_usage()
    seen = read_outcomes(outcomes)
    assert [(entry["model"], entry["status"], entry["answer"]) for entry in seen] == [
        ("backup-model", "ok", "mock reply to: hello [for backup-model]"),
        ("fast-model", "ok", "mock reply to: stream it [for fast-model]"),  # assembled from the stream
    ]
    # The subscriber placed before the usage row raised on every request: the rows are all there anyway.
    rows = usage_rows(2)
    assert [row.request_id for row in rows] == [entry["request_id"] for entry in seen]
    assert [row.attempts for row in rows] == [2, 1]
    assert "outcome subscriber probe_explodes failed" in gateway.logs()


def test_steps_run_in_their_named_order_and_unknown_steps_are_refused():
    ran: list[str] = []
    pipeline = Pipeline({name: (lambda ctx, name=name: ran.append(name)) for name in reversed(STEPS)})

    async def enrich_later(ctx) -> None:
        ran.append("enrich (plugin)")

    pipeline.add("enrich", enrich_later)
    asyncio.run(pipeline.run(object()))
    assert ran == ["authenticate", "parse", "detect_role", "authorize", "rewrite", "enrich", "enrich (plugin)",
                   "select", "admit"]
    with pytest.raises(ValueError, match="unknown pipeline step 'respond'"):
        pipeline.add("respond", enrich_later)
