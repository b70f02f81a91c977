""""Why this model": the route a request took, in words, for X-Gateway-Route-Reason and the usage row.

Selection says why each candidate is on the list (routing.selection); the call log says what happened to
each (skipped and why, failed with what). The sentence leads with the model that answered:

    fast-model via mockai: role 'general' ranking #1 (primary: best value); before it: free-model via
    mockfree skipped (free-tier quota exhausted); smart-model via mockai failed (500, 500, 500)

As a header it is ASCII only, without control characters, and cut at HEADER_LIMIT characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from proxy.context import RequestContext
from proxy.dispatch import CallLog
from routing.selection import Candidate

HEADER_LIMIT = 512
MEMO = "route_reason"  # ctx.extras key
_UNSAFE = re.compile(r"[^\x20-\x7e]")
ROW_LIMIT = 2000
SKIP_WORDS = {
    "circuit_open": "circuit open after repeated failures",
    "quota_exhausted": "free-tier quota exhausted",
    "not_permitted": "not permitted by the key",
}


def describe_route(candidates: Sequence[Candidate], log: CallLog) -> str:
    """The sentence; empty when the request never reached selection."""
    if not candidates and not log.attempts:
        return ""
    chosen = log.chosen
    if chosen is not None and len(log.attempts) == 1:  # the common case: the first try of the first candidate
        return f"{chosen.model.public_id} via {chosen.provider.name}: {chosen.reason}"
    reasons = {(c.model.public_id, c.provider.name): c.reason for c in candidates}
    before: list[str] = []
    outcomes: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str]] = []
    for attempt in log.attempts:
        key = (attempt.model, attempt.provider)
        if key not in outcomes:
            outcomes[key] = []
            order.append(key)
        if attempt.skipped:
            outcomes[key].append(f"skipped ({SKIP_WORDS.get(attempt.skipped, attempt.skipped)})")
        elif attempt.status != 200:
            outcomes[key].append(str(attempt.status) if attempt.status else attempt.code or "no answer")
    chosen_key = (chosen.model.public_id, chosen.provider.name) if chosen else None
    for key in order:
        if key == chosen_key and not any(word.startswith("skipped") for word in outcomes[key]):
            continue
        before.append(_what_happened(key, outcomes[key]))
    if chosen is not None:
        tries = sum(1 for a in log.attempts if (a.model, a.provider) == chosen_key and not a.skipped)
        head = f"{chosen.model.public_id} via {chosen.provider.name}: {reasons.get(chosen_key) or chosen.kind}"
        if tries > 1:
            head += f" (answered on try {tries} after {', '.join(outcomes[chosen_key])})"
        return f"{head}; before it: {'; '.join(before)}" if before else head
    if not log.attempts:
        first = candidates[0]
        return f"{first.model.public_id} via {first.provider.name}: {first.reason or first.kind}; not tried"
    return "no candidate answered: " + "; ".join(before)


def _what_happened(key: tuple[str, str], outcomes: list[str]) -> str:
    skips = [word for word in outcomes if word.startswith("skipped")]
    failures = [word for word in outcomes if not word.startswith("skipped")]
    parts = skips + ([f"failed ({', '.join(failures)})"] if failures else [])
    return f"{key[0]} via {key[1]} {' then '.join(parts)}"


def request_route(ctx: RequestContext) -> str:
    """`describe_route` for a request, made once however many times the headers and the row ask for it
    (the call log only grows, so its length tells whether the sentence is still current)."""
    key = (len(ctx.log.attempts), ctx.log.chosen is not None)
    memo = ctx.extras.get(MEMO)
    if memo is None or memo[0] != key:
        memo = ctx.extras[MEMO] = (key, describe_route(ctx.candidates, ctx.log))
    return memo[1]


def header_value(reason: str, limit: int = HEADER_LIMIT) -> str:
    """Safe for any HTTP/1.1 stack: printable ASCII (other characters become '?'), at most `limit` long."""
    text = reason if reason.isascii() and reason.isprintable() else _UNSAFE.sub("?", reason)
    return text if len(text) <= limit else text[: limit - 3] + "..."
