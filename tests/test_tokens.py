"""core.tokens: offline o200k_base token counts, the size bound, both message shapes, no network."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from core import tokens

ROOT = Path(__file__).resolve().parent.parent

# OpenAI cookbook "How to count tokens with tiktoken", o200k_base outputs (token ids included).
COOKBOOK_IDS = {
    "tiktoken is great!": [83, 8251, 2488, 382, 2212, 0],
    "antidisestablishmentarianism": [493, 129901, 376, 160388, 21203, 2367],
    "2 + 2 = 4": [17, 659, 220, 17, 314, 220, 19],
    "お誕生日おめでとう": [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669],
}

# The cookbook's num_tokens_from_messages example: the OpenAI API reported 124 prompt tokens for gpt-4o.
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
                                  "into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch "
                                                          "base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to "
                                                               "do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]

# The cookbook's num_tokens_for_tools example: 101 prompt tokens for gpt-4o.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return",
                         "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
WEATHER_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def prose(n: int, seed: int = 0) -> str:
    """Deterministic word salad with numbers, punctuation and paragraphs."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 10))) for _ in range(3000)]
    words, size = [], 0
    while size < n:
        word = str(rng.randint(0, 99999)) if rng.random() < 0.05 else rng.choice(vocab)
        if rng.random() < 0.08:
            word += rng.choice(".,;:!?")
        if rng.random() < 0.02:
            word += "\n\n"
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:n]


@pytest.fixture
def encoded_chars(monkeypatch):
    """How many characters each encode_ordinary call of the shared encoding received."""
    enc = tokens.get_encoding()
    sizes: list[int] = []
    real = enc.encode_ordinary

    def spy(text):
        sizes.append(len(text))
        return real(text)

    monkeypatch.setattr(enc, "encode_ordinary", spy)
    return sizes


# ---------------------------------------------------------------- known counts


@pytest.mark.parametrize("text, ids", [("hello world", [24912, 2375]), *COOKBOOK_IDS.items()])
def test_known_o200k_counts(text, ids):
    assert tokens.get_encoding().encode_ordinary(text) == ids
    assert tokens.count_tokens(text) == len(ids)
    assert tokens.estimate_is_exact(text)


def test_empty_and_special_token_text():
    assert tokens.count_tokens("") == 0
    # user text that spells a special token is plain text, never an error nor the special token
    assert tokens.count_tokens("<|endoftext|>") == 7


def test_constants_match_the_installed_tiktoken(monkeypatch):
    from tiktoken_ext import openai_public

    seen = {}

    def fake_load(url, expected_hash=None):
        seen.update(url=url, expected_hash=expected_hash)
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    spec = openai_public.o200k_base()
    assert spec["pat_str"] == tokens.PAT_STR
    assert spec["special_tokens"] == tokens.SPECIAL_TOKENS
    assert seen["expected_hash"] == tokens.DATA_SHA256
    assert seen["url"].endswith("/o200k_base.tiktoken")


def test_shipped_file_is_the_one_tiktoken_expects():
    data = tokens.DATA_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == tokens.DATA_SHA256
    assert tokens.DATA_SHA256 in (tokens.DATA_FILE.parent / "SOURCE.md").read_text()
    enc = tokens.get_encoding()
    assert enc.name == "o200k_base" and enc.n_vocab == 200019


def test_lazy_thread_safe_loading(monkeypatch):
    calls = []
    barrier = threading.Barrier(8)

    def slow_load():
        calls.append(1)
        threading.Event().wait(0.05)
        return object()

    monkeypatch.setattr(tokens, "_encoding", None)
    monkeypatch.setattr(tokens, "_load_encoding", slow_load)
    got = []

    def worker():
        barrier.wait()
        got.append(tokens.get_encoding())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(got) == 8 and len({id(x) for x in got}) == 1


# ---------------------------------------------------------------- the bound


def test_exact_up_to_the_limit():
    text = prose(tokens.EXACT_CHAR_LIMIT)
    assert tokens.estimate_is_exact(text)
    assert tokens.count_tokens(text) == len(tokens.get_encoding().encode_ordinary(text))


def test_above_the_limit_a_bounded_sample_gives_a_close_estimate(encoded_chars):
    text = prose(1_000_000, seed=1)
    assert not tokens.estimate_is_exact(text)
    estimate = tokens.count_tokens(text)
    assert len(encoded_chars) == tokens.SAMPLE_WINDOWS
    assert sum(encoded_chars) <= tokens.SAMPLE_CHARS + 2 * tokens.SAMPLE_WINDOWS * tokens._SNAP
    encoded_chars.clear()
    exact = len(tokens.get_encoding().encode_ordinary(text))
    assert abs(estimate - exact) / exact < 0.03


def test_a_request_shares_one_budget(encoded_chars):
    chunk = prose(150_000, seed=2)
    messages = [{"role": "user", "content": chunk} for _ in range(10)]  # 1.5 M characters in all
    count = tokens.measure_message_tokens(messages)
    assert not count.exact
    assert sum(encoded_chars) <= tokens.EXACT_CHAR_LIMIT + tokens.SAMPLE_CHARS + 1000
    one = tokens.count_message_tokens(messages[:1])
    assert abs(count.tokens - 10 * (one - tokens.REPLY_PRIMING)) / count.tokens < 0.03


# ---------------------------------------------------------------- messages, OpenAI shape


def test_cookbook_chat_example():
    assert tokens.count_message_tokens(COOKBOOK_MESSAGES) == 124
    assert tokens.measure_message_tokens(COOKBOOK_MESSAGES).exact


def test_cookbook_tools_example():
    assert tokens.count_message_tokens(WEATHER_MESSAGES, tools=[WEATHER_TOOL]) == 101


def test_content_parts_count_like_the_string():
    as_string = tokens.count_message_tokens([{"role": "user", "content": "Describe this picture in detail."}])
    as_parts = tokens.count_message_tokens(
        [{"role": "user", "content": [{"type": "text", "text": "Describe this picture"},
                                      {"type": "text", "text": " in detail."}]}])
    assert as_parts == as_string


def test_images_get_a_flat_allowance_and_make_the_count_inexact():
    text = {"type": "text", "text": "What is this?"}
    base = tokens.count_message_tokens([{"role": "user", "content": [text]}])
    high = tokens.measure_message_tokens(
        [{"role": "user", "content": [text, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}])
    low = tokens.count_message_tokens(
        [{"role": "user", "content": [text, {"type": "image_url", "image_url": {"url": "x", "detail": "low"}}]}])
    assert high.tokens == base + tokens.IMAGE_TOKENS and not high.exact
    assert low == base + tokens.IMAGE_LOW_DETAIL_TOKENS


def test_tool_calls_and_tool_messages():
    arguments = '{"location": "Paris, France", "unit": "celsius"}'
    call = {"id": "call_abc123", "type": "function",
            "function": {"name": "get_current_weather", "arguments": arguments}}
    assistant = {"role": "assistant", "content": None, "tool_calls": [call]}
    tool = {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temperature": 21}'}
    count = tokens.count_message_tokens([assistant, tool])
    enc = tokens.get_encoding()
    expected = (
        2 * tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMING + tokens.TOKENS_PER_TOOL_CALL
        + len(enc.encode("assistant")) + len(enc.encode("tool"))
        + len(enc.encode("get_current_weather")) + len(enc.encode(arguments)) + len(enc.encode('{"temperature": 21}'))
    )
    assert count == expected  # ids are not counted


# ---------------------------------------------------------------- messages, Anthropic shape


def test_anthropic_system_string_or_blocks():
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}]
    with_string = tokens.count_message_tokens(messages, system="You are terse.")
    with_blocks = tokens.count_message_tokens(
        messages, system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}])
    assert with_string == with_blocks > tokens.count_message_tokens(messages)
    # the same conversation in the OpenAI shape counts the same
    openai = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello, Claude"}]
    assert tokens.count_message_tokens(openai) == with_string


def test_anthropic_tool_use_tool_result_image_and_thinking():
    enc = tokens.get_encoding()
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "EqQBCgIYAh" * 50},
            {"type": "redacted_thinking", "data": "opaque" * 100},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "21 C, sunny"}]},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo" * 1000}},
        ]},
    ]
    count = tokens.measure_message_tokens(messages)
    texts = ["user", "Weather in Paris?", "assistant", "I should call the tool.", "Checking.", "get_weather",
             '{"city":"Paris"}', "user", "21 C, sunny"]
    expected = (
        3 * tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMING + 2 * tokens.TOKENS_PER_TOOL_CALL + tokens.IMAGE_TOKENS
        + sum(len(enc.encode(t)) for t in texts)
    )
    assert count.tokens == expected and not count.exact


def test_anthropic_text_document_and_tools():
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "The grass is green."},
           "title": "Facts"}
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x" * 99}}
    enc = tokens.get_encoding()
    base = tokens.count_message_tokens([{"role": "user", "content": [doc]}])
    assert base == tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMING + sum(
        len(enc.encode(t)) for t in ("user", "The grass is green.", "Facts"))
    assert tokens.count_message_tokens([{"role": "user", "content": [doc, pdf]}]) == base + tokens.MEDIA_TOKENS
    anthropic_tool = {"name": "get_current_weather", "description": "Get the current weather in a given location",
                      "input_schema": WEATHER_TOOL["function"]["parameters"]}
    assert tokens.count_message_tokens(WEATHER_MESSAGES, tools=[anthropic_tool]) == 101


def test_malformed_or_unknown_input_never_raises():
    weird = [
        "not a dict",
        {"role": "user", "content": 42},
        {"role": "user", "content": [None, 7, {"type": "brand_new_block", "text": "counted", "id": "skipped"}]},
        {"role": "assistant", "tool_calls": ["odd", {"function": "odd"}], "function_call": {"name": "f"}},
        {"role": "user", "content": {"type": "text", "text": "a dict, not a list"}},
    ]
    assert tokens.count_message_tokens(weird, tools=["odd", {"type": "web_search_20250305", "name": None}]) > 0
    assert tokens.count_message_tokens(None) == tokens.REPLY_PRIMING  # type: ignore[arg-type]


# ---------------------------------------------------------------- async


def test_async_small_inline_big_in_a_thread(monkeypatch):
    tokens.get_encoding()
    offloaded = []
    real = asyncio.to_thread

    async def spy(func, *args, **kwargs):
        offloaded.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(tokens.asyncio, "to_thread", spy)
    small = asyncio.run(tokens.count_message_tokens_async(COOKBOOK_MESSAGES))
    assert small == 124 and offloaded == []
    big = [{"role": "user", "content": prose(100_000, seed=3)}]
    assert asyncio.run(tokens.count_message_tokens_async(big)) == tokens.count_message_tokens(big)
    assert len(offloaded) == 1
    assert asyncio.run(tokens.count_tokens_async("hello world")) == 2 and len(offloaded) == 1


# ---------------------------------------------------------------- offline


def test_counts_with_no_network_and_an_empty_tiktoken_cache(tmp_path):
    """A fresh interpreter, sockets refused, TIKTOKEN_CACHE_DIR empty: it still counts, and writes no cache."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    script = textwrap.dedent(
        """
        import socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network disabled by the test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from core import tokens
        assert "tiktoken" not in sys.modules and not tokens.is_loaded(), "nothing may load at import"
        assert tokens.count_tokens("hello world") == 2
        assert tokens.count_message_tokens([{"role": "user", "content": "hello world"}]) == 9
        import tiktoken.registry
        assert "o200k_base" not in (tiktoken.registry.ENCODINGS or {}), "tiktoken's registry stays untouched"
        print("ok")
        """
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("DATA_GYM_CACHE_DIR", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert list(cache.iterdir()) == []
