"""Text of chat messages, as the context features see it: readable text, identity digests, search terms. Pure.

- `message_text`: what a person would read in a message (text parts, tool calls as `name(arguments)`).
- `message_digest`: the identity of a message across re-serialisations, so that the assistant answer the
  gateway stored and the same message echoed back by a client (content as a string or as parts, `null`
  content, tool arguments re-encoded by the /v1/messages translation, tool call ids rewritten) compare
  equal. Ids, reasoning and unknown fields are left out on purpose.
- `task_text`: a user turn without agent scaffolding (`<system-reminder>` blocks and the like).
- `search_terms`: the words the full-text indexes see: lower-case runs of letters and digits, the way
  SQLite's `unicode61` tokenizer and PostgreSQL's `simple` configuration both cut them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import orjson

SYSTEM_ROLES = frozenset({"system", "developer"})

# Blocks agents wrap around (or append to) the user's words; never what the user asked.
_SCAFFOLDING = re.compile(
    r"<(system-reminder|environment_details|command-message|command-name|command-args|local-command-stdout|"
    r"user-prompt-submit-hook)>.*?</\1>",
    re.S,
)
_WORD = re.compile(r"[^\W_]+")
# The same cut for ASCII text, several times faster than the regex, as one byte table: upper-case letters become
# lower-case, every other character but letters and digits (the underscore included) a space.
_ASCII_WORD_BYTES = bytes(
    (c | 0x20 if chr(c).isupper() else c) if c < 128 and chr(c).isalnum() else 0x20 for c in range(256)
)
# For other text (UTF-8, already lower-cased): ASCII separators become spaces, the bytes of other characters stay.
_ASCII_SEPARATOR_BYTES = bytes(c if c >= 128 or chr(c).isalnum() else 0x20 for c in range(256))
MIN_TERM, MAX_TERM = 2, 64  # a term: a word of these lengths (shorter or longer ones do not help), not a stopword

# Too frequent to tell interactions apart (English, plus the filler of coding requests). Dropped before the
# term statistics are even asked; frequent words not listed here are dropped by their document counts.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    also get got like make please thanks thank want need use using let us one two ok okay yes hi hello hey
    can't don't it's i'm i've let's""".split()
)


def content_text(content: Any) -> str:
    """The text of a message's `content`: a string, or the text of its parts (other parts by their type)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return "" if content is None else str(content)
    pieces = []
    for part in content:
        if isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                pieces.append(text)
            elif part.get("type"):
                pieces.append(f"[{part['type']}]")
        elif isinstance(part, str):
            pieces.append(part)
    return "\n".join(pieces)


def _arguments(arguments: Any) -> str:
    """Tool arguments in one canonical form: JSON re-encoded with sorted keys when they parse."""
    if isinstance(arguments, str):
        try:
            return orjson.dumps(orjson.loads(arguments), option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONDecodeError:
            return arguments.strip()
    try:
        return orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return str(arguments)


def tool_calls_of(message: dict) -> list[tuple[str, str]]:
    """(name, canonical arguments) of each tool call of an OpenAI assistant message."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return []
    result = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            result.append((str(function.get("name") or ""), _arguments(function.get("arguments"))))
    return result


def message_text(message: dict) -> str:
    """What a person reads in the message: its text, then its tool calls as `name(arguments)`."""
    text = content_text(message.get("content"))
    calls = [f"{name}({arguments})" for name, arguments in tool_calls_of(message)]
    return "\n".join([text, *calls]) if calls and text else (text or "\n".join(calls))


def message_digest(message: dict) -> str:
    """A short identity of the message (role, stripped text, tool calls), stable across re-serialisations."""
    role = message.get("role")
    key = orjson.dumps([role if isinstance(role, str) else "", content_text(message.get("content")).strip(),
                        tool_calls_of(message)])
    return hashlib.blake2b(key, digest_size=10).hexdigest()


def is_system(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") in SYSTEM_ROLES


def leading_system_count(messages: list) -> int:
    """How many messages open the conversation as its system prompt (system / developer roles)."""
    count = 0
    for message in messages:
        if not is_system(message):
            break
        count += 1
    return count


def task_text(message: dict) -> str:
    """A user turn's own words: its text without agent scaffolding blocks."""
    return _SCAFFOLDING.sub(" ", content_text(message.get("content"))).strip()


def latest_task(turns: Iterable[dict]) -> str:
    """The text of the newest user turn that has words of its own (tool results are not a task)."""
    for message in reversed(list(turns)):
        if isinstance(message, dict) and message.get("role") == "user":
            text = task_text(message)
            if text:
                return text
    return ""


def search_terms(text: str, *, limit: int | None = None) -> list[str]:
    """Distinct index terms of `text`, in order of first appearance (at most `limit`). Duplicates go first (a
    dict keeps the first of each, in C), then the term test (MIN_TERM, MAX_TERM, STOPWORDS) is applied inline:
    no call per word."""
    terms = [term for term in dict.fromkeys(words(text))
             if MIN_TERM <= len(term) <= MAX_TERM and term not in STOPWORDS]
    return terms if limit is None else terms[:limit]


def search_term_set(text: str) -> set[str]:
    """`set(search_terms(text))`, a fifth faster (the writer counts every stored interaction's terms): the term
    test applied set-wise."""
    return {term for term in set(words(text)) - STOPWORDS if MIN_TERM <= len(term) <= MAX_TERM}


def words(text: str) -> list[str]:
    """Every index term of `text`, repeats and stopwords included, unfiltered by length: enough to tell
    whether a term occurs, at a fraction of `search_terms`' cost."""
    if text.isascii():
        return text.encode().translate(_ASCII_WORD_BYTES).decode().split()
    # Mostly ASCII as a rule (an answer with an em dash or an emoji): cut at the ASCII separators and spaces by
    # the byte table, and only the pieces with other characters by the regex; the same words, about 2.5 times
    # faster on such text. Every separator is a non-word character, so no word spans two pieces. (A lone
    # surrogate, which a JSON body may carry, passes through as the non-word character it is.)
    found: list[str] = []
    cut = text.lower().encode(errors="surrogatepass").translate(_ASCII_SEPARATOR_BYTES)
    for piece in cut.decode(errors="surrogatepass").split():
        if piece.isascii():
            found.append(piece)
        else:
            found += _WORD.findall(piece)
    return found


def json_column(value: object) -> object:
    """A JSON column's value as a plain cursor reads it: text on both databases (Django has psycopg load jsonb
    as text), decoded here."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def clean(text: str) -> str:
    """Text safe for any database column: PostgreSQL refuses NUL characters."""
    return text.replace("\x00", "") if "\x00" in text else text
