"""A plugin from outside the request-path package (GATEWAY_PLUGINS=tests.proxy.pipeline_probe).

It adds an enrich step whose body transform depends on the candidate, an outcome subscriber that
writes what it saw to PROBE_OUTCOMES (a JSON line per request, with the assembled answer), and a
subscriber that always raises, placed before the usage row.
"""

from __future__ import annotations

import json
import os


def mark_candidate(ctx, candidate, body: dict) -> dict:
    """Tell the upstream which candidate this body was made for: the last user turn gets a suffix."""
    messages = [dict(message) for message in body["messages"]]
    messages[-1]["content"] = f"{messages[-1]['content']} [for {candidate.model.public_id}]"
    return {**body, "messages": messages}


def enrich(ctx) -> None:
    ctx.body_transforms.append(mark_candidate)
    ctx.response_headers["x-probe-enrich"] = ctx.role


def write_outcome(outcome) -> None:
    with open(os.environ["PROBE_OUTCOMES"], "a") as out:
        out.write(json.dumps({
            "request_id": outcome.ctx.request_id,
            "status": outcome.status,
            "model": outcome.ctx.log.chosen.model.public_id if outcome.ctx.log.chosen else "",
            "answer": outcome.answer.text if outcome.answer else None,
        }) + "\n")


def explode(outcome) -> None:
    raise RuntimeError("this subscriber always fails")


def register(pipeline, outcomes) -> None:
    pipeline.add("enrich", enrich)
    outcomes.subscribe(explode, name="probe_explodes", before="usage_row")
    outcomes.subscribe(write_outcome, name="probe_writes", wants_answer=True)
