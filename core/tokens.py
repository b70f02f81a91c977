"""Offline token counting: context budgets, quota estimates, usage rows when an upstream reports none.

Counts use OpenAI's `o200k_base` encoding (GPT-4o, GPT-4.1, o-series, GPT-5) through `tiktoken`, loaded
from the copy shipped in `core/tokenizer_data/` and checked against the sha256 tiktoken itself expects.
Nothing is downloaded, tiktoken's cache (`TIKTOKEN_CACHE_DIR`) is neither read nor written, and no
environment variable or tiktoken registry entry is touched, so other tiktoken users are unaffected.

- `count_tokens(text)`: exact up to EXACT_CHAR_LIMIT characters; above it, an estimate scaled from the
  exact count of SAMPLE_WINDOWS evenly spread windows (SAMPLE_CHARS in all), so the cost stays bounded.
  `estimate_is_exact(text)` tells which one a caller got.
- `count_message_tokens(messages, system=..., tools=...)`: OpenAI chat messages or Anthropic Messages
  content blocks, with the per-message framing of OpenAI's cookbook (`num_tokens_from_messages`,
  `num_tokens_for_tools`). The whole request shares one EXACT_CHAR_LIMIT budget. `measure_message_tokens`
  also says whether the count is exact (no sampled text, no flat media allowance).
- `count_message_tokens_async` / `count_tokens_async`: small inputs inline, big ones (or the first call,
  which loads the ranks, ~0.5 s) in a worker thread via `asyncio.to_thread`.

For models with another tokenizer (Claude, Gemini, Llama...) the result is a close estimate, not the
upstream's own count. Special-token text such as "<|endoftext|>" in user input is counted as plain text.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # tiktoken is imported on first use, not at import time
    import tiktoken

ENCODING_NAME = "o200k_base"
DATA_FILE = Path(__file__).resolve().parent / "tokenizer_data" / "o200k_base.tiktoken"
# tiktoken_ext.openai_public.o200k_base()'s expected_hash for the same file.
DATA_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# Same as tiktoken_ext.openai_public.o200k_base() (tests/test_tokens.py checks it against the installed tiktoken).
PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
SPECIAL_TOKENS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

EXACT_CHAR_LIMIT = 200_000  # characters counted exactly, per text and per request (~15 ms of plain prose)
SAMPLE_WINDOWS = 8
SAMPLE_CHARS = 65_536  # characters actually encoded to estimate a text over the limit
INLINE_CHARS = 16_384  # the async helpers encode up to this many characters on the event loop (~1 ms)
_SNAP = 64  # a window edge moves up to this far to the next whitespace, so no word is cut in two

# Per-message framing, from OpenAI's cookbook "How to count tokens with tiktoken" (gpt-4o family).
TOKENS_PER_MESSAGE = 3  # <|start|>{role}<|message|>...<|end|>, the role counted apart
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>
TOKENS_PER_TOOL_CALL = 3  # assumed framing around one tool call / tool_use / tool_result (not documented)
# Tool definitions (cookbook's num_tokens_for_tools, gpt-4o values).
FUNC_INIT, PROP_INIT, PROP_KEY, ENUM_INIT, ENUM_ITEM, FUNC_END = 7, 3, 3, -3, 3, 12
# Flat allowances for what is not text.
IMAGE_TOKENS = 1600  # Anthropic's rule of thumb for a ~1.15 MP image; OpenAI's high detail 1024x1024 is 765
IMAGE_LOW_DETAIL_TOKENS = 85  # OpenAI, detail="low"
MEDIA_TOKENS = 1600  # a PDF/file/audio part whose length cannot be seen without decoding it

# Keys that carry identifiers or opaque payloads, never prompt text.
_SKIP_KEYS = frozenset(
    {"type", "id", "tool_call_id", "tool_use_id", "cache_control", "signature", "citations", "audio"}
)

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


class TokenCount(NamedTuple):
    tokens: int
    exact: bool  # False when some text was sampled or a flat media allowance was added


def get_encoding() -> tiktoken.Encoding:
    """The shared o200k_base Encoding, loaded on first use (thread-safe). Call it at startup to pre-warm."""
    global _encoding
    enc = _encoding
    if enc is None:
        with _lock:
            if _encoding is None:
                _encoding = _load_encoding()
            enc = _encoding
    return enc


def is_loaded() -> bool:
    return _encoding is not None


def _load_encoding() -> tiktoken.Encoding:
    import tiktoken

    try:
        data = DATA_FILE.read_bytes()
    except OSError as exc:
        raise RuntimeError(f"token counting needs {DATA_FILE}, which is missing or unreadable: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != DATA_SHA256:
        raise RuntimeError(f"{DATA_FILE} does not match its expected sha256 {DATA_SHA256}")
    # The .tiktoken format, parsed here rather than with tiktoken.load.load_tiktoken_bpe: that one would
    # also write a copy into tiktoken's cache directory (and older tiktokens need blobfile for local paths).
    b64decode = base64.b64decode
    ranks = {b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    return tiktoken.Encoding(ENCODING_NAME, pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=SPECIAL_TOKENS)


# ---------------------------------------------------------------- plain text


def estimate_is_exact(text: str) -> bool:
    """True when count_tokens(text) is an exact count, False when it is a sampled estimate."""
    return len(text) <= EXACT_CHAR_LIMIT


def count_tokens(text: str) -> int:
    """Tokens in `text` (o200k_base, special tokens as plain text): exact up to EXACT_CHAR_LIMIT characters."""
    if not text:
        return 0
    enc = get_encoding()
    if len(text) <= EXACT_CHAR_LIMIT:
        return len(enc.encode_ordinary(text))
    return _sampled_count(enc, text)


async def count_tokens_async(text: str) -> int:
    if len(text) <= INLINE_CHARS and is_loaded():
        return count_tokens(text)
    return await asyncio.to_thread(count_tokens, text)


_WHITESPACE = re.compile(r"\s")


def _snap(text: str, pos: int) -> int:
    """`pos`, moved forward to the next whitespace if there is one within _SNAP characters."""
    match = _WHITESPACE.search(text, pos, pos + _SNAP)
    return match.start() if match else pos


def _sampled_count(enc: tiktoken.Encoding, text: str) -> int:
    """Estimate from SAMPLE_WINDOWS windows spread evenly from the start to the end, counted exactly."""
    n = len(text)
    size = SAMPLE_CHARS // SAMPLE_WINDOWS
    step = (n - size) / (SAMPLE_WINDOWS - 1)
    tokens = chars = 0
    for i in range(SAMPLE_WINDOWS):
        start = int(i * step)
        end = start + size
        start = 0 if i == 0 else _snap(text, start)
        end = n if i == SAMPLE_WINDOWS - 1 else _snap(text, end)
        window = text[start:end]
        tokens += len(enc.encode_ordinary(window))
        chars += len(window)
    return max(1, round(tokens * n / chars))


# ---------------------------------------------------------------- messages


class _Tally:
    """Texts to encode, plus the tokens already known (framing, flat allowances)."""

    __slots__ = ("texts", "fixed", "flat")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.fixed = 0
        self.flat = False  # a flat media allowance was added

    def text(self, value: Any) -> None:
        if isinstance(value, str):
            if value:
                self.texts.append(value)
        elif value is not None and not isinstance(value, bool):
            self.texts.append(_dumps(value))

    def media(self, tokens: int) -> None:
        self.fixed += tokens
        self.flat = True


def _dumps(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):  # e.g. circular
        return str(value)


def measure_message_tokens(
    messages: list[dict[str, Any]], *, system: Any = None, tools: list[dict[str, Any]] | None = None
) -> TokenCount:
    """Tokens of a chat request's input, and whether that count is exact (see module docstring)."""
    tally = _collect(messages, system, tools)
    tokens, exact = _count_texts(tally.texts)
    return TokenCount(tokens + tally.fixed, exact and not tally.flat)


def count_message_tokens(
    messages: list[dict[str, Any]], *, system: Any = None, tools: list[dict[str, Any]] | None = None
) -> int:
    """Input tokens of OpenAI chat messages or Anthropic messages (+ Anthropic `system`, + either's `tools`)."""
    return measure_message_tokens(messages, system=system, tools=tools).tokens


async def measure_message_tokens_async(
    messages: list[dict[str, Any]], *, system: Any = None, tools: list[dict[str, Any]] | None = None
) -> TokenCount:
    tally = _collect(messages, system, tools)  # a pure-Python walk, no encoding: cheap enough for the loop
    if is_loaded() and sum(map(len, tally.texts)) <= INLINE_CHARS:
        tokens, exact = _count_texts(tally.texts)
    else:
        tokens, exact = await asyncio.to_thread(_count_texts, tally.texts)
    return TokenCount(tokens + tally.fixed, exact and not tally.flat)


async def count_message_tokens_async(
    messages: list[dict[str, Any]], *, system: Any = None, tools: list[dict[str, Any]] | None = None
) -> int:
    return (await measure_message_tokens_async(messages, system=system, tools=tools)).tokens


def _count_texts(texts: list[str]) -> tuple[int, bool]:
    """Each text exactly while the request's EXACT_CHAR_LIMIT budget lasts; the rest sampled together."""
    if not texts:
        return 0, True
    encode = get_encoding().encode_ordinary
    budget = EXACT_CHAR_LIMIT
    tokens = 0
    over: list[str] = []
    for text in texts:
        if len(text) <= budget:
            budget -= len(text)
            tokens += len(encode(text))
        else:
            over.append(text)
    if not over:
        return tokens, True
    if sum(map(len, over)) <= SAMPLE_CHARS:  # a little past the budget: still exact, still bounded
        return tokens + sum(len(encode(text)) for text in over), True
    return tokens + _sampled_count(get_encoding(), " ".join(over)), False


def _collect(messages: Any, system: Any, tools: Any) -> _Tally:
    tally = _Tally()
    if system is not None and system != "" and system != []:
        tally.fixed += TOKENS_PER_MESSAGE
        tally.text("system")
        _content(tally, system)
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                _message(tally, message)
            else:
                tally.fixed += TOKENS_PER_MESSAGE
                tally.text(message)
    tally.fixed += REPLY_PRIMING
    if isinstance(tools, list) and tools:
        for tool in tools:
            _tool(tally, tool)
        tally.fixed += FUNC_END
    return tally


def _message(tally: _Tally, message: dict[str, Any]) -> None:
    tally.fixed += TOKENS_PER_MESSAGE
    for key, value in message.items():
        if key == "content":
            _content(tally, value)
        elif key == "name":
            tally.fixed += TOKENS_PER_NAME
            tally.text(value)
        elif key == "tool_calls" and isinstance(value, list):  # OpenAI assistant message
            for call in value:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    tally.fixed += TOKENS_PER_TOOL_CALL
                    tally.text(function.get("name"))
                    tally.text(function.get("arguments"))
                else:
                    tally.text(call)
        elif key == "function_call" and isinstance(value, dict):  # OpenAI's legacy functions
            tally.fixed += TOKENS_PER_TOOL_CALL
            tally.text(value.get("name"))
            tally.text(value.get("arguments"))
        elif key not in _SKIP_KEYS and isinstance(value, str):  # role, refusal, reasoning_content...
            tally.text(value)


def _content(tally: _Tally, content: Any) -> None:
    """A message's content: a string, or a list of OpenAI content parts / Anthropic content blocks."""
    if isinstance(content, str):
        tally.text(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                _part(tally, part)
            else:
                tally.text(part)
    elif isinstance(content, dict):
        _part(tally, content)
    elif content is not None:
        tally.text(content)


def _part(tally: _Tally, part: dict[str, Any]) -> None:
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text"):
        tally.text(part.get("text"))
    elif kind == "image_url":  # OpenAI
        image = part.get("image_url")
        low = isinstance(image, dict) and image.get("detail") == "low"
        tally.media(IMAGE_LOW_DETAIL_TOKENS if low else IMAGE_TOKENS)
    elif kind in ("image", "input_image"):  # Anthropic
        tally.media(IMAGE_TOKENS)
    elif kind == "document":  # Anthropic: plain-text documents are counted, PDFs and URLs get the allowance
        source = part.get("source")
        if isinstance(source, dict) and source.get("type") == "text":
            tally.text(source.get("data"))
        elif isinstance(source, dict) and source.get("type") == "content":
            _content(tally, source.get("content"))
        else:
            tally.media(MEDIA_TOKENS)
        tally.text(part.get("title"))
        tally.text(part.get("context"))
    elif kind in ("file", "input_file", "input_audio"):  # OpenAI
        tally.media(MEDIA_TOKENS)
    elif kind in ("tool_use", "server_tool_use"):  # Anthropic
        tally.fixed += TOKENS_PER_TOOL_CALL
        tally.text(part.get("name"))
        tally.text(_dumps(part.get("input", {})))
    elif kind == "tool_result" or (isinstance(kind, str) and kind.endswith("_tool_result")):
        tally.fixed += TOKENS_PER_TOOL_CALL
        _content(tally, part.get("content"))
    elif kind == "thinking":
        tally.text(part.get("thinking"))
    elif kind == "redacted_thinking":
        pass  # encrypted: no visible text to count
    elif kind == "refusal":
        tally.text(part.get("refusal"))
    else:  # unknown or new block type: count its strings, skipping identifiers
        for key, value in part.items():
            if key in _SKIP_KEYS:
                continue
            if isinstance(value, (dict, list)):
                _content(tally, value)
            else:
                tally.text(value if isinstance(value, str) else None)


def _tool(tally: _Tally, tool: Any) -> None:
    """One tool definition, OpenAI ({"type": "function", "function": {...}}) or Anthropic ({"name", ...})."""
    if not isinstance(tool, dict):
        tally.text(tool)
        return
    function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
    name = function.get("name")
    if not isinstance(name, str):  # a server tool (web_search...) or something unknown
        tally.text(_dumps(tool))
        return
    tally.fixed += FUNC_INIT
    description = function.get("description")
    description = description.removesuffix(".") if isinstance(description, str) else ""
    tally.text(f"{name}:{description}")
    schema = function.get("parameters", function.get("input_schema"))
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not properties:
        return
    tally.fixed += PROP_INIT
    for key, prop in properties.items():
        tally.fixed += PROP_KEY
        if not isinstance(prop, dict):
            tally.text(f"{key}:{_dumps(prop)}")
            continue
        enum = prop.get("enum")
        if isinstance(enum, list):
            tally.fixed += ENUM_INIT
            for item in enum:
                tally.fixed += ENUM_ITEM
                tally.text(_dumps(item))
        p_type = prop.get("type", "")
        p_desc = prop.get("description")
        p_desc = p_desc.removesuffix(".") if isinstance(p_desc, str) else ""
        tally.text(f"{key}:{_dumps(p_type)}:{p_desc}")
        rest = {k: v for k, v in prop.items() if k not in ("type", "description", "enum")}
        if rest:  # nested schemas, defaults...: outside the cookbook formula, counted as their JSON
            tally.text(_dumps(rest))
