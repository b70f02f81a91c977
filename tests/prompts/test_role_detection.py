"""Role detection for `model: "auto"`, as the person sending the request experiences it.

The labelled prompts in `data/role_prompts.jsonl` are sent the way agents send them (Claude Code, Roo Code and
Aider request shapes from `agent_wrappers`), and the detector must name the role of the deliverable asked for.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from prompts.detection import ROLES, classifier, detect_role, detector, fast_path, is_new_task, task_text, train
from prompts.detection.fast_path import PatternRule
from tests.prompts import agent_wrappers as agents

DATA = Path(__file__).parent / "data" / "role_prompts.jsonl"
ROWS = train.load_rows(DATA)
# Written after the shipped classifier and fast path were last tuned, and never used to tune them: prompts the
# detector has not seen, as the ones it meets in use.
UNSEEN = Path(__file__).parent / "data" / "role_prompts_unseen.jsonl"
UNSEEN_ROWS = train.load_rows(UNSEEN)
ROOT = Path(__file__).resolve().parents[2]


def _detect(request: agents.Request):
    return detect_role(request.messages, request.system)


def test_labelled_set_covers_every_role_with_hard_and_foreign_prompts() -> None:
    by_role = Counter(r["role"] for r in ROWS)
    assert set(by_role) == set(ROLES)
    assert min(by_role.values()) >= 30
    assert sum(r["hard"] for r in ROWS) >= len(ROWS) / 4
    assert sum(r["lang"] != "en" for r in ROWS) >= 12
    assert {r["wrap"] for r in ROWS} == {"none", "claude_code", "roo", "aider"}
    for role in ROLES:
        rows = [r for r in ROWS if r["role"] == role]
        held = sum(r["split"] == "heldout" for r in rows) / len(rows)
        assert 0.25 <= held <= 0.35, (role, held)
    assert all(r["split"] in ("train", "heldout") for r in ROWS)
    assert len({r["text"] for r in ROWS}) == len(ROWS), "duplicate prompts"


def test_accuracy_on_the_whole_set_and_on_held_out_prompts() -> None:
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for row in ROWS:
        got = _detect(agents.wrap(row["text"], row["wrap"]))
        ok = got.role == row["role"]
        for key in ("all", row["split"], row["role"], f"{row['split']}:{row['role']}"):
            right[key][0] += ok
            right[key][1] += 1
        if not ok:
            misses.append(f"  {row['role']:>14} -> {got.role:<14} ({got.source}) {row['text'][:70]!r}")

    def acc(key: str) -> float:
        return right[key][0] / right[key][1]

    print(f"\nrole detection: whole set {acc('all'):.3f}, held-out {acc('heldout'):.3f}, train {acc('train'):.3f}")
    for role in ROLES:
        held = f"heldout:{role}"
        print(f"  {role:<15} {acc(role):.3f} ({right[role][0]}/{right[role][1]})   held-out {acc(held):.3f}")
    print("misses:\n" + "\n".join(misses))
    assert acc("all") >= 0.90
    assert acc("heldout") >= 0.85


def test_accuracy_on_prompts_written_after_the_detector_was_tuned() -> None:
    assert train.DATA_PATH != UNSEEN  # never learnt from
    assert {r["role"] for r in UNSEEN_ROWS} == set(ROLES)
    assert not {r["text"] for r in UNSEEN_ROWS} & {r["text"] for r in ROWS}
    right: Counter[str] = Counter()
    misses = []
    for row in UNSEEN_ROWS:
        got = _detect(agents.wrap(row["text"], row["wrap"]))
        right[row["role"]] += got.role == row["role"]
        if got.role != row["role"]:
            misses.append(f"  {row['role']:>14} -> {got.role:<14} ({got.source}) {row['text'][:70]!r}")
    accuracy = sum(right.values()) / len(UNSEEN_ROWS)
    print(f"\nunseen prompts: {accuracy:.3f}\n" + "\n".join(misses))
    assert accuracy >= 0.90
    per_role = Counter(r["role"] for r in UNSEEN_ROWS)
    assert all(right[role] / per_role[role] >= 0.75 for role in ROLES), right


@pytest.mark.parametrize("kind", ["claude_code", "roo", "aider"])
def test_agent_wrapped_prompt_is_detected_like_the_plain_prompt(kind: str) -> None:
    for row in ROWS:
        request = agents.wrap(row["text"], kind)
        assert task_text(request.messages, request.system) == row["text"].strip()
        assert _detect(request).role == _detect(agents.plain(row["text"])).role, row["text"]


TASK = "test_login fails in CI with `AssertionError: assert 302 == 200` but passes locally. Why?"


@pytest.mark.parametrize(
    "next_turn",
    [agents.claude_code_tool_turn, agents.claude_code_local_command],
    ids=["tool_result", "local_command"],
)
def test_claude_code_agent_loop_turns_are_not_new_tasks(next_turn) -> None:
    first = agents.claude_code(TASK)
    later = next_turn(first)
    assert is_new_task(first.messages)
    assert not is_new_task(later.messages)
    assert task_text(later.messages, later.system) == TASK
    assert _detect(later).role == _detect(first).role == "debugging"


@pytest.mark.parametrize("next_turn", [agents.roo_tool_turn, agents.roo_text_tool_turn], ids=["native", "text"])
def test_roo_tool_results_are_not_new_tasks(next_turn) -> None:
    first = agents.roo(TASK)
    later = next_turn(first)
    assert not is_new_task(later.messages)
    assert task_text(later.messages) == TASK
    assert _detect(later).role == "debugging"


def test_feedback_typed_into_a_denied_tool_call_is_the_persons_words() -> None:
    messages = [
        *agents.roo(TASK).messages,
        {"role": "assistant", "content": "<execute_command><command>rm -rf build</command></execute_command>"},
        {
            "role": "user",
            "content": "[execute_command for 'rm -rf build'] Result:\nThe user denied this operation and provided "
            "the following feedback:\n<feedback>\nDon't delete anything. Write a regression test for it instead.\n"
            "</feedback>",
        },
    ]
    assert is_new_task(messages)
    assert detect_role(messages).role == "testing"


CONTINUATIONS = [
    "ok", "OK, continue", "continue", "go on", "yes", "proceed", "looks good, continue", "yes please go ahead",
    "lgtm", "👍", "weiter", "ja, mach weiter bitte", "vas-y", "oui, continue", "sí, adelante", "continúa",
    "pode continuar", "继续", "好的，继续", "続けてください", "はい", "продолжай", "да, давай",
]  # fmt: skip


@pytest.mark.parametrize("text", CONTINUATIONS)
@pytest.mark.parametrize("kind", ["none", "claude_code", "roo"])
def test_short_continuations_keep_the_previous_role(kind: str, text: str) -> None:
    request = agents.follow_up(agents.wrap(TASK, kind), text)
    assert not is_new_task(request.messages)
    assert _detect(request).role == "debugging"


@pytest.mark.parametrize(
    "text,role",
    [
        ("ok, now write tests for the fix", "testing"),
        ("thanks - can you also document this in the README?", "documentation"),
        ("Continue the refactor but first review what you changed so far for mistakes", "code_review"),
    ],
)
def test_follow_ups_that_ask_for_something_new_are_new_tasks(text: str, role: str) -> None:
    request = agents.follow_up(agents.claude_code(TASK), text)
    assert is_new_task(request.messages)
    assert _detect(request).role == role


IMPLEMENTATION_TASK = "Add a `--dry-run` flag to the `sync` command in cli.py."


@pytest.mark.parametrize(
    "mode,role",
    [
        ("architect", "architect"),
        ("debug", "debugging"),
        ("orchestrator", "architect"),
        ("docs-writer", "documentation"),
        ("qa-tester", "testing"),
        ("code-reviewer", "code_review"),
    ],
)
def test_roo_mode_decides_the_role(mode: str, role: str) -> None:
    got = _detect(agents.roo(IMPLEMENTATION_TASK, mode=mode))
    assert (got.role, got.source) == (role, "agent_mode")


def test_roo_mode_is_read_from_the_system_prompt_opening_too() -> None:
    request = agents.roo(IMPLEMENTATION_TASK, mode="debug")
    request.messages[1]["content"] = request.messages[1]["content"][:1]  # no environment_details
    got = _detect(request)
    assert (got.role, got.source) == ("debugging", "agent_mode")


@pytest.mark.parametrize("mode", ["code", "ask"])
def test_roo_default_modes_leave_the_decision_to_the_prompt(mode: str) -> None:
    # Code mode's system prompt lists every mode's role definition; none of that is a declaration.
    got = _detect(agents.roo(TASK, mode=mode))
    assert got.role == "debugging"
    assert got.source != "agent_mode"


def test_plan_mode_means_architect() -> None:
    claude = _detect(agents.claude_code(IMPLEMENTATION_TASK, plan_mode=True))
    cline_plan = _detect(agents.cline(IMPLEMENTATION_TASK, plan=True))
    cline_act = _detect(agents.cline(IMPLEMENTATION_TASK, plan=False))
    assert (claude.role, claude.source) == ("architect", "agent_mode")
    assert (cline_plan.role, cline_plan.source) == ("architect", "agent_mode")
    assert (cline_act.role, cline_act.source) == ("implementation", "fast_path")


def test_plan_mode_from_an_earlier_turn_does_not_stick_after_a_new_prompt() -> None:
    planned = agents.claude_code("Plan how to split the billing module.", plan_mode=True)
    later = agents.follow_up(planned, IMPLEMENTATION_TASK)
    assert _detect(planned).source == "agent_mode"
    assert (_detect(later).role, _detect(later).source) == ("implementation", "fast_path")


def test_nothing_to_go_on_falls_back_to_general_default() -> None:
    for messages in ([], [{"role": "user", "content": "<system-reminder>todo list empty</system-reminder>"}]):
        got = detect_role(messages)
        assert (got.role, got.source, got.task) == ("general", "default", "")


def test_unsure_classifier_falls_back_to_general_default(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "the thing with the stuff from before"
    assert fast_path.score(text).role is None
    monkeypatch.setattr(detector, "CLASSIFIER_THRESHOLD", 1.01)
    got = detect_role([{"role": "user", "content": text}])
    assert (got.role, got.source) == ("general", "default")


@pytest.mark.parametrize("text", ["hmm", "asdf qwerty", "Banana.", "???", "the thing"])
def test_gibberish_is_general(text: str) -> None:
    assert detect_role([{"role": "user", "content": text}]).role == "general"


def test_an_admin_rule_table_replaces_the_default_one() -> None:
    messages = [{"role": "user", "content": "Tell me everything about zebra migrations."}]
    table = [PatternRule("research", r"\bzebra\b", 5.0)]
    assert detect_role(messages).source != "fast_path" or detect_role(messages).role != "research"
    got = detect_role(messages, rules=table)
    assert (got.role, got.source) == ("research", "fast_path")


def test_a_rule_table_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        fast_path.compile_rules([PatternRule("poetry", "roses", 1.0)])


def test_prefilter_never_changes_which_rules_match() -> None:
    # The compiled table lower-cases text and skips rules whose necessary substrings are absent; both are
    # optimisations, so the hits must equal plain case-insensitive matching of every rule.
    plain = [
        re.compile(r.pattern, re.MULTILINE if r.case_sensitive else re.IGNORECASE | re.MULTILINE)
        for r in fast_path.DEFAULT_RULES
    ]
    extra = ["Traceback (most recent call last):\n  File 'x'\nKeyError: 'A'", "HELLO there", "WRITE TESTS FOR X",
             "ERROR: disk full", "xERROR: no", "the server says EACCES", "EADDRINUSE", "ErrorS", "FATAL",
             "it returns 502 now", "it gives me a 404", "first line\n  please refactor the parser", "refactor it",
             "\n\nrename the flag", "notes\nnow implement the cache", "ok\nmake sure it works"]
    for text in [r["text"] for r in ROWS] + extra:
        expected = tuple(i for i, rx in enumerate(plain) if rx.search(text))
        assert fast_path.score(text).hits == expected, text


def test_a_long_alternation_split_into_its_alternatives_matches_as_the_whole_pattern() -> None:
    # Admin-edited tables go through the same compiler: alternatives that depend on each other (a global flag,
    # a backreference) keep the pattern whole; the rest run one alternative at a time, only when its words occur.
    words = "alpha|beta gamma|delta(?= end)|(?<!no )epsilon|zeta\\b|eta\\d+|theta[.]x|iota|kappa|lambda"
    rules = [
        PatternRule("debugging", words, 2.0),
        PatternRule("testing", "(?x) one | two | three | four | five | six | seven | eight", 2.0),
        PatternRule("research", "(ab)c\\1|d|e|f|g|h|i|j", 2.0),
        PatternRule("general", "\\bhi\\b|\\A\\W*ok\\b|x{2,}|[|]pipe|\\(paren|q|r|s", 1.0),
    ]
    table = fast_path.compile_rules(rules)
    assert table.rules[0].branches is not None and table.rules[1].branches is None
    assert table.rules[2].branches is None
    plain = [re.compile(r.pattern, re.IGNORECASE | re.MULTILINE) for r in rules]
    texts = ["Beta gamma", "delta end", "delta", "no epsilon", "an epsilon", "zetas", "zeta!", "eta42", "theta.x",
             "thetaXx", "five", "abcab", "ok then", "  ok", "|pipe", "(paren", "xx", "nothing here", "IOTA kappa",
             "eta", "hi there", "this"]
    for text in texts:
        expected = tuple(i for i, rx in enumerate(plain) if rx.search(text))
        assert fast_path.score(text, table).hits == expected, text


def test_a_leading_word_boundary_and_group_rewritten_for_speed_match_as_written() -> None:
    # `\bword` runs as `word(?<!\wword)` and `\b(?:a|b)c` as `\bac|\bbc`: same hits as the patterns as written,
    # at the start of the text, after punctuation, after a letter (ASCII or not), with a quantified last letter.
    rules = [
        PatternRule("testing", r"\btests? (?:for|of)\b", 2.0),
        PatternRule("debugging", r"\b(?:why (?:does|is)|root cause|fails? with)\s+\w", 2.0),
        PatternRule("general", r"\b(?:pr|the diff)\b|\bvs\.?", 1.0),
        PatternRule("research", r"\b(?:a|b)?x|\b(?:cite|sources)+\b", 1.0),
        PatternRule("architect", r"\bdesign's plan, now\b", 1.0),
    ]
    table = fast_path.compile_rules(rules)
    assert table.rules[0].regex.pattern.startswith("test(?<!")
    assert all(rule.branches for rule in table.rules[1:3])
    plain = [re.compile(r.pattern, re.IGNORECASE | re.MULTILINE) for r in rules]
    texts = ["tests for x", "a test of it", "contests for all", "étests for", "(tests for)", "tests\nfor", "testfor",
             "why does it", "whY IS  y", "somewhy does x", "the root cause: x", "it fails with z", "failswith x",
             "my pr", "april", "pr.", "the diff", "thediff", "vs. that", "avs", "vs", "ax", "x", "bx", "citesources",
             "cite", "sourcescite", "the design's plan, now", "redesign's plan, now", "nothing here", ""]
    for text in texts:
        expected = tuple(i for i, rx in enumerate(plain) if rx.search(text))
        assert fast_path.score(text, table).hits == expected, text


def test_case_sensitive_line_start_and_nested_group_rewrites_match_as_written() -> None:
    # Case-sensitive rules are split and anchored too (their substrings lowered for the prefilter), a pattern that
    # opens at a line start runs as a newline scan, and a group inside a group an alternative opens with is
    # distributed as well: the same hits as the patterns as written.
    rules = [
        PatternRule("debugging", r"\b(?:WARNING|ERROR)\b.{0,3}\s?[\w\[]|\bE[A-Z]{4,}\b", 2.0, case_sensitive=True),
        PatternRule("implementation", r"^\W*(?:please )?(?:rename|refactor|make(?! sure))\b", 2.0),
        PatternRule("debugging", r"\b(?:fix (?:this|it)|bugs?\b|(?:gives?|returns?) (?:an? )?(?:[45]\d\d)\b)", 1.0),
        PatternRule("general", r"^Σ\w+|\bÉCOLE\b|\bhi\b|x{2}|q|r|s|t", 1.0, case_sensitive=True),
    ]
    table = fast_path.compile_rules(rules)
    factors = {branch.factors for branch in table.rules[0].branches}
    assert factors == {frozenset({"warning"}), frozenset({"error"}), None}  # split, prefiltered where it can be
    assert isinstance(table.rules[1].regex, fast_path._LineStart)
    plain = [re.compile(r.pattern, re.MULTILINE if r.case_sensitive else re.IGNORECASE | re.MULTILINE)
             for r in rules]
    texts = ["ERROR: x", "ERROR", "xERROR: y", "error: y", "WARNING [x]", "EACCES", "aEACCES", "EACC", "ÉEACCES",
             "please rename it", "  Refactor this", "x\n- rename", "x\nmake sure", "x\nmake it", "xrename",
             "it returns 500", "it gives a 404", "gives 4044", "fix this", "bugs", "prefix it",
             "Σίσυφος", "xΣy", "ÉCOLE", "école", "hi", "Hi", "xx", "nothing", "", "\n", "\nΣa"]
    for text in texts:
        expected = tuple(i for i, rx in enumerate(plain) if rx.search(text))
        assert fast_path.score(text, table).hits == expected, text


def test_the_shipped_model_is_exactly_what_train_produces(tmp_path: Path) -> None:
    out = tmp_path / "role_classifier.json"
    train.train_and_write(out=out)
    assert out.read_bytes() == classifier.MODEL_PATH.read_bytes()
    assert classifier.MODEL_PATH.stat().st_size < 2 * 1024 * 1024


def test_importing_the_detector_is_pure() -> None:
    code = (
        "import sys, prompts.detection as d\n"
        "from prompts.detection import classifier\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
        "assert classifier.load_model.cache_info().currsize == 0, 'model read at import'\n"
        "assert d.detect_role([{'role': 'user', 'content': 'hi'}]).role == 'general'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)
