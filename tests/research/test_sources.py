"""Each published format on its real sample, and on what a real fetch can hand back instead."""

from __future__ import annotations

import json
from datetime import date

import pytest
import yaml

from research.sources import EXTRA_DOCUMENTS, METRICS, PARSERS, SourceFormatError
from research.sources import livebench as livebench_source
from research.sources import openrouter as openrouter_source
from tests.fixture_files import CATALOGUES, LEADERBOARDS
from tests.research.conftest import CATALOGUE_URL, FETCHED, leaderboard_url, parse_leaderboard

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>\n"
)
SAMPLES = {
    "aider": LEADERBOARDS / "aider_polyglot_leaderboard.yml",
    "lmarena": LEADERBOARDS / "lmarena_leaderboard-text.excerpt.json",
    "lmarena_style_control": LEADERBOARDS / "lmarena_leaderboard-text-style-control.excerpt.json",
    "livebench": LEADERBOARDS / "livebench_table_2026_01_08.excerpt.csv",
    "swebench": LEADERBOARDS / "swe-bench_leaderboards.excerpt.json",
    "arena_hard": LEADERBOARDS / "arena_hard_auto_leaderboard_v0.1.csv",
    "open_llm": LEADERBOARDS / "open_llm_leaderboard_contents_rows.excerpt.json",
    "openrouter": CATALOGUES / "openrouter_models.recorded.json",
    "openrouter_benchmarks": CATALOGUES / "openrouter_models.recorded.json",
}
CATEGORIES = (LEADERBOARDS / "livebench_categories_2026_01_08.json").read_bytes()


def run(kind: str, body: bytes, **extra):
    if kind == "livebench":
        extra.setdefault("categories", CATEGORIES)
    return PARSERS[kind](body, url=f"https://example.test/{kind}", fetched_at=FETCHED, **extra)


def by(records, model: str, metric: str):
    found = [r for r in records if r.model_name == model and r.metric == metric]
    assert len(found) == 1, (model, metric, found)
    return found[0]


# ---- every parser, every bad body ------------------------------------------------------------------


def test_registry_covers_every_sample_and_every_metric_is_described():
    assert set(PARSERS) == set(SAMPLES)
    assert EXTRA_DOCUMENTS == {"livebench": ("categories",)}
    for kind, path in SAMPLES.items():
        for record in run(kind, path.read_bytes()):
            if hasattr(record, "metric"):
                assert METRICS[record.metric].family == record.family


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (HTML_ERROR_PAGE, "HTML page"),
        (b"", "empty body"),
        (b"   \n", "empty body"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_a_broken_fetch_is_a_source_format_error(kind, body, says):
    with pytest.raises(SourceFormatError, match=says):
        run(kind, body)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_truncated_and_mangled_bodies_never_escape_as_other_exceptions(kind):
    body = SAMPLES[kind].read_bytes()
    variants = [body[:cut] for cut in (1, 7, 50, 333, len(body) // 2, len(body) - 3)]
    variants += [b"[]", b"{}", b"null", b"42", b'"text"', b"- 1\n- 2\n", b"a,b\n1,2\n", body.replace(b"e", b"\xc3")]
    for variant in variants:
        try:
            result = run(kind, variant)
        except SourceFormatError:
            continue
        assert isinstance(result, list)


# ---- Aider polyglot ----------------------------------------------------------------------------------


def test_aider_polyglot_runs():
    records = parse_leaderboard("aider")
    first = by(records, "Gemini 2.0 Pro exp-02-05", "aider_polyglot")
    assert (first.value, first.family, first.as_of, first.source) == (35.6, "coding", date(2025, 2, 25), "aider")
    assert first.higher_is_better and first.url == leaderboard_url("aider")
    assert by(records, "claude-3-5-sonnet-20241022", "aider_polyglot").value == 51.6
    assert by(records, "gpt-5 (high)", "aider_polyglot").value == 88.0
    speed = by(records, "gpt-4o-2024-11-20", "aider_seconds_per_case")
    assert (speed.value, speed.family, speed.higher_is_better) == (12.1, "speed", False)
    # 69 runs, 3 of them architect/editor pairs (A + B): left out, listed, not counted as malformed.
    assert len([r for r in records if r.metric == "aider_polyglot"]) == 66
    assert len(records.ignored) == 3 and records.malformed == []
    assert "DeepSeek R1 + claude-3-5-sonnet-20241022" in records.ignored[0]


def test_aider_skips_a_broken_run_and_counts_it():
    runs = yaml.safe_load((LEADERBOARDS / "aider_polyglot_leaderboard.yml").read_bytes())
    runs[1]["pass_rate_2"] = "n/a"
    runs[2] = "not a run"
    records = run("aider", yaml.safe_dump(runs).encode())
    assert len([r for r in records if r.metric == "aider_polyglot"]) == 64
    assert len(records.malformed) == 2
    assert "gpt-4o-mini-2024-07-18" in records.malformed[0]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[]\n", "empty list"),
        (b"leaderboard:\n  - model: x\n", "expected a YAML list"),
        (b"- model: gpt-4o\n  pass_rate_1: 3.0\n", "no run has a 'pass_rate_2'"),  # column renamed
        (b"- model: [unclosed\n", "invalid YAML"),
    ],
)
def test_aider_rejects_changed_schema(body, says):
    with pytest.raises(SourceFormatError, match=says):
        run("aider", body)


def test_aider_with_every_value_broken_is_rejected():
    with pytest.raises(SourceFormatError, match="no usable rows; 2 malformed"):
        run("aider", b"- model: a\n  pass_rate_2: null\n- model: b\n  pass_rate_2: '-'\n")


# ---- LMArena -----------------------------------------------------------------------------------------


def test_lmarena_text_categories():
    records = parse_leaderboard("lmarena")
    top = by(records, "gemini-3-pro", "lmarena_full")
    assert top.value == pytest.approx(1486.6027120272704)
    assert (top.family, top.source, top.as_of) == ("general_chat", "lmarena", FETCHED)  # a live board: fetch date
    coding = by(records, "claude-opus-4-5-20251101-thinking-32k", "lmarena_coding")
    assert coding.family == "coding" and coding.value > by(records, "gemini-3-pro", "lmarena_coding").value
    families = {r.metric: r.family for r in records}
    assert families == {
        "lmarena_full": "general_chat",
        "lmarena_coding": "coding",
        "lmarena_math": "math",
        "lmarena_creative_writing": "writing",
        "lmarena_if": "instruction_following",
        "lmarena_hard_6": "reasoning",
        "lmarena_long_user": "long_context",
    }
    assert len(records) == 7 * 40


def test_lmarena_style_control_has_its_own_metrics():
    body = (LEADERBOARDS / "lmarena_leaderboard-text-style-control.excerpt.json").read_bytes()
    records = run("lmarena_style_control", body)
    assert {r.metric for r in records} == {"lmarena_sc_full", "lmarena_sc_coding", "lmarena_sc_math"}
    assert len(records) == 150


def test_lmarena_malformed_variants():
    with pytest.raises(SourceFormatError, match="empty object"):
        run("lmarena", b"{}")
    with pytest.raises(SourceFormatError, match="expected an object"):
        run("lmarena", b'[{"model": "x", "rating": 1200}]')
    with pytest.raises(SourceFormatError, match="none of the categories"):
        run("lmarena", b'{"overall": {"x": {"rating": 1200}}}')  # renamed category
    records = run("lmarena", json.dumps({"full": {"a": {"rating": 1300}, "b": {"elo": 1250}, "c": None}}).encode())
    assert [r.model_name for r in records] == ["a"]
    assert len(records.malformed) == 2


def test_lmarena_takes_the_date_a_url_names():
    body = b'{"full": {"a": {"rating": 1300}}}'
    records = PARSERS["lmarena"](body, url="https://x/leaderboard_2025_12_11.json", fetched_at=FETCHED)
    assert records[0].as_of == date(2025, 12, 11)


# ---- LiveBench ---------------------------------------------------------------------------------------


def test_livebench_category_means():
    records = parse_leaderboard("livebench")
    opus = "claude-4-1-opus-20250805-thinking-32k"
    # Coding = mean(code_generation 73.239, code_completion 76.087), read off the fixture row.
    coding = by(records, opus, "livebench_coding")
    assert coding.value == pytest.approx((73.239 + 76.087) / 2, abs=1e-4)
    assert (coding.family, coding.as_of) == ("coding", date(2026, 1, 8))  # from table_2026_01_08 in the URL
    reasoning = by(records, opus, "livebench_reasoning")  # theory_of_mind, zebra_puzzle, spatial, logic_nav
    assert reasoning.value == pytest.approx((67.308 + 62.0 + 90.0 + 70.0) / 4, abs=1e-4)
    agentic = by(records, opus, "livebench_agentic_coding")  # javascript 45, typescript 30, python 70
    assert agentic.value == pytest.approx((45.0 + 30.0 + 70.0) / 3, abs=1e-4)
    assert by(records, opus, "livebench_language").family == "writing"
    assert by(records, opus, "livebench_if").family == "instruction_following"
    assert by(records, opus, "livebench_mathematics").family == "math"
    assert len(records) == 50 * 7 and records.malformed == []


def test_livebench_needs_matching_categories():
    table = (LEADERBOARDS / "livebench_table_2026_01_08.excerpt.csv").read_bytes()
    with pytest.raises(SourceFormatError, match="categories JSON is required"):
        livebench_source.parse(table, url="u", fetched_at=FETCHED)
    with pytest.raises(SourceFormatError, match="HTML page"):
        livebench_source.parse(table, url="u", fetched_at=FETCHED, categories=HTML_ERROR_PAGE)
    with pytest.raises(SourceFormatError, match="not a list of task names"):
        run("livebench", table, categories=b'{"Coding": "code_generation"}')
    renamed = json.loads(CATEGORIES) | {"Coding": ["code_generation", "code_completion", "lcb_generation"]}
    with pytest.raises(SourceFormatError, match="missing column.*lcb_generation"):
        run("livebench", table, categories=json.dumps(renamed).encode())


def test_livebench_missing_column_and_bad_cells():
    lines = (LEADERBOARDS / "livebench_table_2026_01_08.excerpt.csv").read_text().splitlines()
    header = lines[0].split(",")
    drop = header.index("zebra_puzzle")
    without = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in lines)
    with pytest.raises(SourceFormatError, match="missing column.*zebra_puzzle"):
        run("livebench", without.encode())
    with pytest.raises(SourceFormatError, match="header but no rows"):
        run("livebench", (lines[0] + "\n").encode())
    cells = lines[1].split(",")
    cells[header.index("code_generation")] = ""
    records = run("livebench", "\n".join([lines[0], ",".join(cells), *lines[2:]]).encode())
    assert len(records) == 50 * 7 - 1
    assert records.malformed == ["arcee-trinity-large-preview/Coding: no value for code_generation"]


# ---- SWE-bench ---------------------------------------------------------------------------------------


def test_swebench_single_model_results():
    records = parse_leaderboard("swebench")
    opus = by(records, "claude-opus-4-5-20251101", "swebench_bash_only")
    assert (opus.value, opus.family, opus.as_of) == (74.4, "coding", date(2025, 11, 24))
    assert by(records, "gpt-4o-20241120", "swebench_bash_only").value == 21.62
    assert by(records, "o3-20250416", "swebench_bash_only").value == 58.4
    assert len([r for r in records if r.metric == "swebench_bash_only"]) == 31  # every bash-only row
    verified = [r for r in records if r.metric == "swebench_verified"]
    assert len(verified) == 14  # 25 rows, 11 are agent systems combining several models
    assert by(records, "gemini-3-pro-preview", "swebench_bash_only").value == 74.2
    assert any("TRAE + Doubao-Seed-Code: system combining 2 models" in note for note in records.ignored)
    assert records.malformed == []


def test_swebench_malformed_variants():
    with pytest.raises(SourceFormatError, match="empty 'leaderboards'"):
        run("swebench", b'{"leaderboards": []}')
    with pytest.raises(SourceFormatError, match="expected an object with a 'leaderboards' list"):
        run("swebench", b'{"results": [{"name": "x", "resolved": 50}]}')
    with pytest.raises(SourceFormatError, match="none of the boards"):
        run("swebench", b'{"leaderboards": [{"name": "Java", "results": []}]}')
    body = {
        "leaderboards": [
            {"name": "bash-only", "results": [{"name": "A", "resolved": 40.0}, {"name": "B", "pass": 3}, 7]}
        ]
    }
    records = run("swebench", json.dumps(body).encode())
    assert [(r.model_name, r.value, r.as_of) for r in records] == [("A", 40.0, FETCHED)]
    assert len(records.malformed) == 2


# ---- Arena-Hard-Auto ---------------------------------------------------------------------------------


def test_arena_hard_rows():
    records = parse_leaderboard("arena_hard")
    top = by(records, "gpt-4-turbo-2024-04-09", "arena_hard_auto")
    assert (top.value, top.family, top.as_of) == (82.63, "general_chat", date(2024, 7, 31))
    assert by(records, "gemma-2b-it", "arena_hard_auto").value < 10
    assert len(records) == 60


def test_arena_hard_missing_column_and_bad_row():
    with pytest.raises(SourceFormatError, match="missing column.*score"):
        run("arena_hard", b"model,rating,date\ngpt-4o,80,2024-07-31\n")
    records = run("arena_hard", b"model,score,date\ngpt-4o,80.5,2024-07-31\nbroken,,2024-07-31\n")
    assert [(r.model_name, r.value) for r in records] == [("gpt-4o", 80.5)]
    assert records.malformed == ["broken: score is ''"]


# ---- Open LLM Leaderboard ----------------------------------------------------------------------------


def test_open_llm_rows():
    records = parse_leaderboard("open_llm")
    chat = "01-ai/Yi-1.5-34B-Chat"
    assert by(records, chat, "open_llm_ifeval").value == pytest.approx(60.66758423205982)
    assert by(records, chat, "open_llm_ifeval").family == "instruction_following"
    assert by(records, chat, "open_llm_math_lvl5").value == pytest.approx(27.719033232628398)
    assert by(records, chat, "open_llm_bbh").family == "reasoning"
    assert by(records, chat, "open_llm_bbh").as_of == date(2024, 6, 12)
    assert len(records) == 5 * 6


def test_open_llm_malformed_variants():
    data = json.loads((LEADERBOARDS / "open_llm_leaderboard_contents_rows.excerpt.json").read_bytes())
    no_name = {**data, "features": [f for f in data["features"] if f["name"] != "fullname"]}
    with pytest.raises(SourceFormatError, match="missing column.*fullname"):
        run("open_llm", json.dumps(no_name).encode())
    with pytest.raises(SourceFormatError, match="empty 'rows'"):
        run("open_llm", json.dumps({**data, "rows": []}).encode())
    with pytest.raises(SourceFormatError, match="'rows' list"):
        run("open_llm", json.dumps({"data": data["rows"]}).encode())
    flagged = json.loads(json.dumps(data))
    flagged["rows"][0]["row"]["Flagged"] = True
    flagged["rows"][1]["row"]["GPQA"] = None
    records = run("open_llm", json.dumps(flagged).encode())
    assert len(records) == 4 * 6 - 1
    assert records.ignored == ["0-hero/Matter-0.2-7B-DPO: flagged by the leaderboard maintainers"]
    assert records.malformed == ["01-ai/Yi-1.5-34B/GPQA: value is None"]


# ---- OpenRouter catalogue ----------------------------------------------------------------------------


def test_openrouter_current_schema():
    body = (CATALOGUES / "openrouter_models.recorded.json").read_bytes()
    entries = PARSERS["openrouter"](body, url=CATALOGUE_URL, fetched_at=FETCHED)
    sonnet = entries[0]
    assert (sonnet.identity, sonnet.id) == ("anthropic/claude-4-sonnet-20250522", "anthropic/claude-sonnet-4")
    assert sonnet.name == "Anthropic: Claude Sonnet 4"
    assert (sonnet.input_price_per_token, sonnet.output_price_per_token) == (0.000003, 0.000015)
    assert (sonnet.context_window, sonnet.max_completion_tokens) == (1000000, 64000)
    assert sonnet.modalities == ("image", "text", "file") and sonnet.output_modalities == ("text",)
    assert not sonnet.free and "reasoning" in sonnet.supported_parameters
    assert (sonnet.knowledge_cutoff, sonnet.created) == ("2025-01-31", date(2025, 5, 22))
    assert (sonnet.source_url, sonnet.as_of) == (CATALOGUE_URL, FETCHED)
    assert [e.identity for e in entries] == [
        "anthropic/claude-4-sonnet-20250522",
        "openai/gpt-4.1-mini-2025-04-14",
        "openai/gpt-4o",
        "openai/gpt-3.5-turbo",
    ]


def test_openrouter_older_schema_and_free_tier():
    body = (CATALOGUES / "openrouter_models_2025-04.excerpt.json").read_bytes()
    entries = {e.id: e for e in PARSERS["openrouter"](body, url=CATALOGUE_URL, fetched_at=FETCHED)}
    assert len(entries) == 50
    free = entries["meta-llama/llama-4-maverick:free"]
    assert free.free and free.identity == "meta-llama/llama-4-maverick" and free.input_price_per_token == 0.0
    paid = entries["meta-llama/llama-4-maverick"]
    assert not paid.free and paid.identity == free.identity and paid.input_price_per_token == 0.00000017
    thinking = entries["google/gemini-2.5-flash-preview:thinking"]
    assert thinking.identity == "google/gemini-2.5-flash-preview:thinking"  # a distinct variant
    assert entries["openai/o3"].input_price_per_token == 0.00001
    assert entries["openai/o3"].max_completion_tokens == 100000


def test_openrouter_malformed_variants():
    with pytest.raises(SourceFormatError, match="empty 'data'"):
        run("openrouter", b'{"data": []}')
    with pytest.raises(SourceFormatError, match="'data' list"):
        run("openrouter", b'{"models": [{"id": "a/b"}]}')
    body = {"data": [{"id": "a/b", "pricing": {"prompt": "-1", "completion": "x"}}, {"name": "no id"}, "junk"]}
    entries = run("openrouter", json.dumps(body).encode())
    assert [(e.id, e.input_price_per_token, e.output_price_per_token, e.free) for e in entries] == [
        ("a/b", None, None, False)
    ]
    assert len(entries.malformed) == 2


def test_openrouter_embedded_artificial_analysis_indices():
    records = run("openrouter_benchmarks", SAMPLES["openrouter_benchmarks"].read_bytes())
    sonnet = {r.metric: r.value for r in records if r.model_name == "anthropic/claude-sonnet-4"}
    assert sonnet == {"aa_intelligence_index": 28.9, "aa_coding_index": 37.6, "aa_agentic_index": 16.6}
    assert {r.source for r in records} == {"artificial_analysis"}
    assert records.malformed == []  # null indices mean "not measured"
    with pytest.raises(SourceFormatError, match="no usable rows"):
        run("openrouter_benchmarks", b'{"data": [{"id": "a/b"}]}')


def test_identity_drops_tier_suffixes_only():
    assert openrouter_source.identity_of("x/m:free") == "x/m"
    assert openrouter_source.identity_of("x/m:beta", "x/m-2025") == "x/m-2025"
    assert openrouter_source.identity_of("x/m:thinking") == "x/m:thinking"
