"""The feature case of bench/run.py: what role detection, the strategy block and conversation context add to
a request at c=1, against the same gateway process without them, in the same run (issue 13: "with everything
on and no LLM rewriting, the added latency at c=1 stays within 1 ms of the gateway without this feature").

Five variants, non-streaming, one worker, interleaved in rounds like the other cases:

- `featured`: a coding agent's request for `model: "auto"` with an `X-Conversation-Id` that is new for every
  request: Claude Code's recorded system prompt and `<system-reminder>` (tests/fixtures/agents), then a
  debugging question with a short traceback. Each request is a new conversation's first one: the role is
  detected, the role's strategy block is added (`rewrite`), `enrich` looks up the stored conversation and
  searches the similar past interactions (the store fills with the case's own earlier exchanges), `fit_body`
  places the block, and the exchange is saved after the response.
- `agent_turn`: an agent's task, TURNS requests per conversation, each the whole conversation so far (the
  answers it got resent unchanged, then "ok, continue"): the first like `featured`, the later ones with the
  role kept (sticky), only what is new stored, and the first request's similar block reused (no search).
- `plain`: the same messages for the named model `bench-model`, without a conversation id: no detection (a
  named model stays `general`), no strategy block (`rewrite` leaves a named model's request as the client sent
  it, so no `X-Gateway-Optimize: off` is needed), no context read, no save. What every request pays anyway
  (parsing, the window check of `fit_body`, the usage row) is in both.
- `plain_turn`: the same for `agent_turn`'s messages, which `agent_turn` is compared with (its requests are
  longer: the whole conversation so far).
- `direct`: the `featured` messages straight to the upstream, so both show an added latency.

The task text comes in VARIANTS versions (a class name of its own in each, plus shared words), sent in turn:
identical texts would stop the search after a few hundred requests (a word in more than
CONTEXT_SIMILAR_MAX_MATCHES interactions is not searched for), and the case would time a search that no
longer runs. With the variants, the rarest words of a request match some earlier requests of its variant.

Before the timed rounds, `verify` checks through the loopback upstream's request log what each variant
delivered, and raises FeatureCheckFailed when the featured path did not run or the plain one did.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import loadgen

ROOT = Path(__file__).resolve().parent.parent
AGENT_RECORDING = ROOT / "tests" / "fixtures" / "agents" / "claude_code_2.1.332_1.request.json"

CONVERSATION_HEADER = "X-Conversation-Id"
SLOT = b"@@@@@@@@@@"  # in the conversation id: each request's number, zero-padded to this width
CONVERSATION_PREFIX = "bench-features-"
VARIANTS = 256
MAX_TOKENS = 8192
STRATEGY_MARK = '<gateway-strategy role="'
SIMILAR_MARK = '<gateway-context kind="similar-interactions">'
FEATURE_HEADERS = ("x-gateway-role", "x-gateway-role-source", "x-gateway-role-sticky", "x-gateway-strategy",
                   "x-gateway-context")
TARGET_MS = 1.0
TURNS = 8  # requests of one task in the agent-loop variant: its first, then seven later turns
LOOP_VARIANTS = 32
LOOP_PREFIX = "bench-loop-"
CONTINUE = "ok, continue"
SIMILAR_SHARE_MIN = 0.5  # below it, the timed featured requests mostly ran without a context block: fail

_APPS = (("billing", "invoices"), ("orders", "cart"), ("inventory", "stock"), ("shipping", "rates"),
         ("accounts", "profiles"), ("payments", "refunds"), ("catalog", "pricing"), ("reviews", "moderation"))
_NOUNS = ("Invoice Cart Stock Rate Profile Refund Price Review Coupon Voucher Ledger Parcel Tax Bundle Quote "
          "Wallet").split()
_DOERS = (("Calculator", "calculate"), ("Validator", "validate"), ("Serializer", "serialize"), ("Builder", "build"),
          ("Merger", "merge"), ("Resolver", "resolve"), ("Allocator", "allocate"), ("Formatter", "format"),
          ("Exporter", "export"), ("Importer", "load"), ("Normalizer", "normalize"), ("Scheduler", "schedule"),
          ("Splitter", "split"), ("Aggregator", "aggregate"), ("Reconciler", "reconcile"), ("Estimator", "estimate"))
_ERRORS = (("KeyError", "'currency'"), ("TypeError", "unsupported operand type(s) for *: 'NoneType' and 'int'"),
           ("AttributeError", "'NoneType' object has no attribute 'quantity'"),
           ("ValueError", "invalid literal for int() with base 10: ''"))


class FeatureCheckFailed(RuntimeError):
    """The featured request did not take the feature's path, or the plain one did: nothing worth timing."""


def similar_count(context_header: str | None) -> int:
    """The `similar=N` of an X-Gateway-Context value (`history=0/0; similar=3`); 0 when absent."""
    for part in (context_header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "similar" and value.isdigit():
            return int(value)
    return 0


def agent_prompt() -> tuple[str, str]:
    """Claude Code's system prompt (its Anthropic billing line left out) and the `<system-reminder>` it puts
    before the user's words, from a recording of what it sent."""
    body = json.loads(AGENT_RECORDING.read_text(encoding="utf-8"))["body"]
    system = "\n\n".join(block["text"].strip() for block in body["system"]
                         if not block["text"].startswith("x-anthropic-billing-header"))
    reminder = body["messages"][0]["content"][0]["text"]
    return system, reminder


def task(i: int) -> str:
    """A debugging question with a short traceback; the class name is this variant's own word."""
    noun, (suffix, method) = _NOUNS[i % 16], _DOERS[i // 16 % 16]
    cls = noun + suffix
    app, module = _APPS[i % 8]
    exc, message = _ERRORS[i % 4]
    return (f"{cls}.{method}() in {app}/{module}.py raises {exc} since this morning's deploy, and checkout is "
            f"broken. Traceback from `pytest {app}/tests/test_{module}.py -x`:\n\n"
            f"Traceback (most recent call last):\n"
            f'  File "/home/dev/shop/{app}/tests/test_{module}.py", line {40 + i % 50}, in test_{method}\n'
            f"    result = {cls}(order).{method}()\n"
            f'  File "/home/dev/shop/{app}/{module}.py", line {100 + i % 90}, in {method}\n'
            f"    return self.lines[0].price * self.quantity\n"
            f"{exc}: {message}\n\n"
            "Why does this fail, and what is the smallest fix?")


def messages(i: int, system: str, reminder: str) -> list[dict]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": [{"type": "text", "text": reminder}, {"type": "text", "text": task(i)}]},
    ]


def loop_messages(i: int, turn: int, system: str) -> list[dict]:
    """Request `turn` (0-based) of an agent task: the whole conversation so far, as coding agents send it: the
    task, then for each earlier request the answer it got (the loopback upstream's deterministic reply, resent
    unchanged) and the user's nudge to go on."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": task(i)}]
    last = task(i)
    for _ in range(turn):
        messages += [{"role": "assistant", "content": f"mock reply to: {last}"}, {"role": "user", "content": CONTINUE}]
        last = CONTINUE
    return messages


def _numbered(host: str, port: int, path: str, model: str, headers: dict[str, str], conversations: list[list[dict]],
              conversation_prefix: str | None, group: int = 1) -> loadgen.Numbered:
    """One pre-built request per message list, sent in turn; with `conversation_prefix`, each numbered into an
    X-Conversation-Id of its own (`group` requests in a row share one)."""
    if conversation_prefix is not None:
        headers = {**headers, CONVERSATION_HEADER: conversation_prefix + SLOT.decode()}
    templates = [
        loadgen.build_request(host, port, path, model, stream=False, messages=sent,
                              extra_body={"max_tokens": MAX_TOKENS}, extra_headers=headers)
        for sent in conversations
    ]
    return loadgen.Numbered(templates, SLOT if conversation_prefix is not None else None, group=group)


def loop_requests(host: str, port: int, path: str, model: str, headers: dict[str, str], *,
                  conversation: bool = True) -> loadgen.Numbered:
    """TURNS requests in a row per task, LOOP_VARIANTS tasks; with `conversation`, each task a conversation of
    its own (its id: the request number // TURNS)."""
    system, _ = agent_prompt()
    turns = [loop_messages(i, turn, system) for i in range(LOOP_VARIANTS) for turn in range(TURNS)]
    return _numbered(host, port, path, model, headers, turns, LOOP_PREFIX if conversation else None, TURNS)


def requests(host: str, port: int, path: str, model: str, headers: dict[str, str], *,
             conversation: bool) -> loadgen.Numbered:
    """The VARIANTS requests sent in turn; with `conversation`, each with a conversation id of its own."""
    system, reminder = agent_prompt()
    tasks = [messages(i, system, reminder) for i in range(VARIANTS)]
    return _numbered(host, port, path, model, headers, tasks, CONVERSATION_PREFIX if conversation else None)


# -- the start-up check ---------------------------------------------------------------------------------------


def _body(request: bytes) -> dict:
    return json.loads(request.partition(b"\r\n\r\n")[2])


def _system_texts(body: dict) -> list[str]:
    return [m["content"] for m in body.get("messages", []) if m.get("role") == "system"
            and isinstance(m.get("content"), str)]


def _added(sent: dict, delivered: dict) -> list[str]:
    """The messages the gateway added (the client's own must all be there, unchanged and in order), each named
    by its first line."""
    client = sent["messages"]
    rest = list(delivered.get("messages", []))
    added = []
    for message in client:
        while rest and rest[0] != message:
            added.append(rest.pop(0))
        if not rest:
            raise FeatureCheckFailed("the upstream did not receive the client's messages unchanged")
        rest.pop(0)
    added += rest
    return [str(m.get("content", ""))[:60].split("\n", 1)[0] for m in added]


async def _upstream_log(host: str, upstream_port: int, count: int) -> list[dict]:
    """The upstream bodies of the last `count` chat requests it received, oldest first."""
    request = loadgen.get_request(host, upstream_port, "/_mock/stats")
    resp = await loadgen.one_request(host, upstream_port, request, timeout=30.0)
    if resp.status != 200:
        raise FeatureCheckFailed(f"the upstream's /_mock/stats answered {resp.status}")
    log = json.loads(resp.body)["log"]
    if len(log) < count:
        raise FeatureCheckFailed(f"the upstream logged {len(log)} requests, expected at least {count}")
    return [entry["body"] for entry in log[-count:]]


async def verify(host: str, gateway_port: int, upstream_port: int, featured: loadgen.Numbered,
                 plain: loadgen.Numbered, *, max_featured: int = 20, pause: float = 0.25) -> dict:
    """Send featured requests one at a time (`pause` apart, so each exchange is saved before the next search)
    until one comes back with a similar-interactions block, then two plain ones; check the response headers
    and what the upstream received. Returns what was seen; raises FeatureCheckFailed."""
    seen: list[tuple[dict, dict]] = []  # (sent body, response headers)
    for _ in range(max_featured):
        request = featured.take()
        resp = await loadgen.one_request(host, gateway_port, request, timeout=30.0)
        if resp.status != 200:
            raise FeatureCheckFailed(f"featured request: {resp.status} {resp.body[:300]!r}")
        seen.append((_body(request), resp.headers))
        if similar_count(resp.headers.get("x-gateway-context")):
            break
        await asyncio.sleep(pause)
    delivered = await _upstream_log(host, upstream_port, len(seen))
    featured_report = []
    for (sent, headers), body in zip(seen, delivered, strict=True):
        missing = [name for name in ("x-gateway-role", "x-gateway-role-source", "x-gateway-strategy")
                   if not headers.get(name)]
        if missing:
            raise FeatureCheckFailed(f"featured response without {', '.join(missing)}: {headers}")
        if headers["x-gateway-strategy"].startswith("off"):
            raise FeatureCheckFailed(f"strategy switched off: {headers['x-gateway-strategy']}")
        if headers.get("x-gateway-rewrite") == "llm":
            raise FeatureCheckFailed("an LLM rewrote the request (PROMPT_REWRITE_MODEL is set): not this case")
        systems = _system_texts(body)
        if not any(STRATEGY_MARK in text for text in systems):
            raise FeatureCheckFailed("the upstream body of a featured request carries no strategy block")
        similar = any(SIMILAR_MARK in text for text in systems)
        if similar != bool(similar_count(headers.get("x-gateway-context"))):
            raise FeatureCheckFailed(f"X-Gateway-Context {headers.get('x-gateway-context')!r} and the upstream body "
                                     f"disagree about the similar-interactions block")
        featured_report.append({
            "role": headers["x-gateway-role"], "role_source": headers["x-gateway-role-source"],
            "strategy": headers["x-gateway-strategy"], "context": headers.get("x-gateway-context"),
            "added_messages": _added(sent, body),
        })
    if not any(SIMILAR_MARK in text for text in _system_texts(delivered[-1])):
        raise FeatureCheckFailed(f"no similar-interactions block after {len(seen)} featured requests "
                                 f"{pause} s apart: the context search found nothing")
    sent_plain = []
    for _ in range(2):
        request = plain.take()
        resp = await loadgen.one_request(host, gateway_port, request, timeout=30.0)
        if resp.status != 200:
            raise FeatureCheckFailed(f"plain request: {resp.status} {resp.body[:300]!r}")
        present = [name for name in FEATURE_HEADERS if resp.headers.get(name)]
        if present:
            raise FeatureCheckFailed(f"plain response with {', '.join(present)}: {resp.headers}")
        sent_plain.append(_body(request))
    plain_report = []
    for sent, body in zip(sent_plain, await _upstream_log(host, upstream_port, len(sent_plain)), strict=True):
        if body.get("messages") != sent["messages"]:
            raise FeatureCheckFailed("the plain request's messages reached the upstream changed")
        plain_report.append({"feature_headers": [], "upstream_messages": "as sent"})
    return {"featured": featured_report, "plain": plain_report}


async def verify_loop(host: str, gateway_port: int, upstream_port: int, loop: loadgen.Numbered) -> dict:
    """One whole task of the agent-loop variant, a request at a time: each later turn must find the conversation
    as stored (the client resends exactly the answers it got, so nothing is rewritten), keep the task's role
    without detecting again, carry the strategy block and the block pinned by the first request, and reach the
    upstream with only the gateway's additions. Returns what was seen; raises FeatureCheckFailed."""
    seen: list[tuple[dict, dict]] = []
    for turn in range(TURNS):
        request = loop.take()
        resp = await loadgen.one_request(host, gateway_port, request, timeout=30.0)
        if resp.status != 200:
            raise FeatureCheckFailed(f"agent-loop request: {resp.status} {resp.body[:300]!r}")
        sent = _body(request)
        answer = json.loads(resp.body)["choices"][0]["message"]["content"]
        if turn + 1 < TURNS:
            expected = loop_messages(0, turn + 1, "")[2 * turn + 2]["content"]
            if answer != expected:
                raise FeatureCheckFailed(f"the next turn would not resend the answer it got: {answer[:80]!r} "
                                         f"vs {expected[:80]!r}")
        seen.append((sent, resp.headers))
    delivered = await _upstream_log(host, upstream_port, TURNS)
    report = []
    blocks = set()
    for turn, ((sent, headers), body) in enumerate(zip(seen, delivered, strict=True)):
        if not headers.get("x-gateway-strategy") or headers["x-gateway-strategy"].startswith("off"):
            raise FeatureCheckFailed(f"agent-loop turn {turn} without the strategy block: {headers}")
        if turn and headers.get("x-gateway-role-sticky") != "true":
            raise FeatureCheckFailed(f"agent-loop turn {turn} detected its role again: {headers}")
        context = headers.get("x-gateway-context") or ""
        if not context.startswith("history=0/"):
            raise FeatureCheckFailed(f"agent-loop turn {turn} was offered stored history: {context!r} (the client "
                                     f"sends the whole conversation)")
        systems = _system_texts(body)
        blocks.add(next((text for text in systems if SIMILAR_MARK in text), ""))
        report.append({"role": headers.get("x-gateway-role"), "sticky": headers.get("x-gateway-role-sticky"),
                       "context": context, "added_messages": _added(sent, body)})
    if len(blocks) != 1:
        raise FeatureCheckFailed("the later turns of the task did not keep the first request's similar block")
    return {"agent_turn": report}


# -- after the rounds -----------------------------------------------------------------------------------------


def _share(counts: dict[str, int], ok) -> float | None:
    total = sum(counts.values())
    return round(sum(c for value, c in counts.items() if ok(value)) / total, 4) if total else None


def timed_checks(featured: dict, plain: dict, agent_turn: dict | None = None, plain_turn: dict | None = None) -> dict:
    """What the timed requests' headers say (tallied by the load generator); raises FeatureCheckFailed when
    a featured one missed the strategy or the role, a plain one had any of it, or most featured ones ran
    without a similar-interactions block."""
    f_counts = featured.get("header_counts", {})
    plain_counts = [variant.get("header_counts", {}) for variant in (plain, plain_turn) if variant is not None]
    checks = {
        "featured_with_strategy": _share(f_counts.get("x-gateway-strategy", {}), lambda v: bool(v)
                                         and not v.startswith("off")),
        "featured_with_role": _share(f_counts.get("x-gateway-role-source", {}), bool),
        "featured_with_similar_block": _share(f_counts.get("x-gateway-context", {}), similar_count),
        "featured_roles": f_counts.get("x-gateway-role", {}),
        "featured_role_sources": f_counts.get("x-gateway-role-source", {}),
        "plain_with_any_feature_header": max((_share(counts.get(name, {}), bool) or 0.0)
                                             for counts in plain_counts for name in FEATURE_HEADERS),
    }
    if agent_turn is not None:
        a_counts = agent_turn.get("header_counts", {})
        checks["agent_turn_with_strategy"] = _share(a_counts.get("x-gateway-strategy", {}),
                                                    lambda v: bool(v) and not v.startswith("off"))
        checks["agent_turn_sticky"] = _share(a_counts.get("x-gateway-role-sticky", {}), lambda v: v == "true")
        checks["agent_turn_offered_history"] = _share(a_counts.get("x-gateway-context", {}),
                                                      lambda v: not v.startswith("history=0/"))
        if checks["agent_turn_with_strategy"] != 1.0 or checks["agent_turn_offered_history"]:
            raise FeatureCheckFailed(f"timed agent-loop turns without the strategy or with history: {checks}")
    if checks["featured_with_strategy"] != 1.0 or checks["featured_with_role"] != 1.0:
        raise FeatureCheckFailed(f"timed featured requests without the strategy or the role: {checks}")
    if checks["plain_with_any_feature_header"]:
        raise FeatureCheckFailed(f"timed plain requests took the feature's path: {checks}")
    if (checks["featured_with_similar_block"] or 0.0) < SIMILAR_SHARE_MIN:
        raise FeatureCheckFailed(f"most timed featured requests had no similar-interactions block: {checks}")
    return checks


def _sub(a, b, digits: int = 3):
    return None if a is None or b is None else round(a - b, digits)


def cost(entry: dict, variant: str = "featured", base: str = "plain") -> dict:
    """`variant` (featured, agent_turn) minus `base`, the same requests without the feature (plain, plain_turn):
    latency percentiles, CPU per request, the gateway's own overhead header."""
    f, p = entry["targets"][variant], entry["targets"][base]
    fo, po = f.get("gateway_overhead_header_ms") or {}, p.get("gateway_overhead_header_ms") or {}
    out = {
        "p50_ms": _sub(f.get("p50_ms"), p.get("p50_ms")),
        "p99_ms": _sub(f.get("p99_ms"), p.get("p99_ms")),
        "mean_ms": _sub(f.get("mean_ms"), p.get("mean_ms")),
        "cpu_ms_per_request": _sub(f["cpu_ms_per_request"]["target"], p["cpu_ms_per_request"]["target"]),
        "loop_cpu_ms_per_request": _sub(f["cpu_ms_per_request"].get("target_loop"),
                                        p["cpu_ms_per_request"].get("target_loop")),
        "overhead_header_p50_ms": _sub(fo.get("p50"), po.get("p50")),
        "overhead_header_p99_ms": _sub(fo.get("p99"), po.get("p99")),
        "target_ms": TARGET_MS,
    }
    p50, p99 = out["p50_ms"], out["p99_ms"]
    if p50 is None or p99 is None:
        judgement = "not measured"
    elif p50 <= TARGET_MS and p99 <= TARGET_MS:
        judgement = "met at p50 and p99"
    elif p50 <= TARGET_MS:
        judgement = "met at p50, not at p99"
    else:
        judgement = "NOT met"
    out["judgement"] = judgement
    what = ("a new task's first request" if variant.endswith("featured")
            else f"an agent's task ({TURNS} requests: the first, then later turns)")
    out["verdict"] = (f"feature cost at c=1, {what}: {_signed(p50)} ms p50 / {_signed(p99)} ms p99 "
                      f"(target ≤ {TARGET_MS:g} ms) — {judgement}")
    return out


def _signed(value) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _f(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def render(section: dict) -> list[str]:
    """The markdown section of the feature case."""
    entry, c = section, section["cost"]
    turn_cost = section.get("cost_agent_turn")
    t = entry["targets"]
    lines = ["", "## Feature cost at c=1: role detection, strategy block, conversation context", "",
             "Same gateway process, interleaved rounds, non-streaming. *featured*: `model: \"auto\"`, a coding "
             "agent's request (Claude Code's system prompt, a debugging question with a traceback), a new "
             "`X-Conversation-Id` per request (detection, strategy block, similar-interactions search and block, "
             "exchange saved); *agent_turn*: the requests of an agent's task, eight per conversation, each sending "
             "the whole conversation so far (the task, the answers it got, \"ok, continue\"): the first searches "
             "and pins its block, the later ones keep the role (sticky), store only what is new and reuse the "
             "block; *plain*: the same messages as *featured* for `bench-model`, no conversation id; *plain_turn*: "
             "the same for *agent_turn*'s messages (what it is compared with: its requests are longer); *direct*: "
             "the same messages as *featured* to the upstream. Gateway CPU includes its work after each slice's "
             "last response (the batched saves); of it, the event loop's thread (the rest: the reader threads' "
             "context reads, the writer's batched saves).", "",
             "| variant | req/s | p50 | p99 | mean | +p50 | +p99 | +mean | errors | gateway CPU ms/req "
             "| of it the event loop's | X-Gateway-Overhead-Ms p50 / p99 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    variants = ("plain", "featured", "plain_turn", "agent_turn")
    for name in ("direct", *variants, *(f"baseline_{variant}" for variant in variants)):
        s = t.get(name)
        if s is None:
            continue
        added = s.get("added", {})
        oh = s.get("gateway_overhead_header_ms") or {}
        lines.append(
            f"| {name} | {_f(s['rps'], 1)} | {_f(s['p50_ms'])} | {_f(s['p99_ms'])} | {_f(s['mean_ms'])} "
            f"| {_f(added.get('p50_ms'))} | {_f(added.get('p99_ms'))} | {_f(added.get('mean_ms'))} | {s['errors']} "
            f"| {_f(s['cpu_ms_per_request']['target'], 3)} | {_f(s['cpu_ms_per_request'].get('target_loop'), 3)} "
            f"| {_f(oh.get('p50'), 3)} / {_f(oh.get('p99'), 3)} |"
        )
    for label, key in (("featured − plain", "cost"), ("agent_turn − plain_turn", "cost_agent_turn"),
                       ("baseline: featured − plain", "baseline_cost"),
                       ("baseline: agent_turn − plain_turn", "baseline_cost_agent_turn")):
        d = entry.get(key)
        if d:
            lines.append(
                f"| **{label}** | – | {_signed(d['p50_ms'])} | {_signed(d['p99_ms'])} | {_signed(d['mean_ms'])} "
                f"| – | – | – | – | {_signed(d['cpu_ms_per_request'])} | {_signed(d.get('loop_cpu_ms_per_request'))} "
                f"| {_signed(d['overhead_header_p50_ms'])} / {_signed(d['overhead_header_p99_ms'])} |"
            )
    checks = entry.get("timed_checks", {})
    fp = entry.get("foreign_pct") or {}
    baseline = [f"Baseline (the same variants through `--baseline-ref`, same rounds): {entry[key]['verdict']}"
                for key in ("baseline_cost", "baseline_cost_agent_turn") if entry.get(key)]
    lines += ["", f"**{c['verdict']}**", *([f"**{turn_cost['verdict']}**"] if turn_cost else []), *baseline, "",
              f"Timed featured requests: strategy block {_pct(checks.get('featured_with_strategy'))}, detected role "
              f"{_pct(checks.get('featured_with_role'))} ({checks.get('featured_roles')}, by "
              f"{checks.get('featured_role_sources')}), similar-interactions block "
              f"{_pct(checks.get('featured_with_similar_block'))}; agent-loop turns with the strategy block "
              f"{_pct(checks.get('agent_turn_with_strategy'))}, with a kept (sticky) role "
              f"{_pct(checks.get('agent_turn_sticky'))}, offered stored history "
              f"{_pct(checks.get('agent_turn_offered_history'))}; plain requests with any of it: "
              f"{_pct(checks.get('plain_with_any_feature_header'))}. Interactions in the store at the end: "
              f"{entry.get('store_interactions_at_end', '–')}. Foreign load during the case: server core "
              f"{_f(fp.get('server_core'), 1)}%, client core {_f(fp.get('client_core'), 1)}%."]
    return lines


def _pct(share) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"
