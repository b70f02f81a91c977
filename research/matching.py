"""Which catalogue model a leaderboard means: name normalisation and a matcher that flags, never guesses.

Leaderboards name one model many ways (`claude-3-5-sonnet-20241022`, `anthropic/claude-3.5-sonnet`,
`Claude 3.5 Sonnet (Oct 2024)`, `claude-3-5-sonnet@20241022`). `parse_name` reduces a name to a key:
the core tokens (vendor path, snapshot dates, `latest`/`preview`/`beta`/`instruct`, `:free`, separators,
case and parenthesised notes removed; `qwen2.5` and `qwen-2.5` both give `qwen`,`2.5`; word order
ignored, since Anthropic swapped it at version 4), plus the attributes that tell variants apart:
thinking or not, reasoning effort, snapshot date.

`match` then decides, in this order:
1. an exact entry in the reviewed alias table wins (its value is a catalogue identity or id, or `none`);
2. catalogue entries with the same core tokens are candidates; a thinking variant only matches a thinking
   entry (and an unspecified name does not pick between a thinking and a plain entry: ambiguous);
   ties are broken by effort (`o4-mini (high)` → `o4-mini-high`), then snapshot date, then the soft words;
   if more than one identity is still tied → ambiguous;
3. with no same-token entry, entries that a looser matcher would merge are reported as ambiguous with the
   reason: a subset differing only by a size/tier word (`gpt-4o` vs `gpt-4o-mini`, `o3` vs `o3-mini`),
   or one differing version or size number (`claude-3-5-sonnet` vs `claude-3-7-sonnet`, `32b` vs `7b`);
4. anything else is unmatched.
Names combining models (`R1 + claude-3-5-sonnet`) are unmatched: they are systems, not models.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from research.sources.records import CatalogueEntry

Status = Literal["matched", "unmatched", "ambiguous"]

_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")
_EFFORT_WORDS = frozenset(_EFFORTS)
_THINKING_WORDS = frozenset({"thinking", "think", "reasoner", "reasoning"})
# Words that say nothing about which weights answer: dropped from the core, kept to break ties.
_SOFT_WORDS = frozenset({"latest", "preview", "beta", "instruct", "it", "api", "free", "hf", "global"})
_VENDOR_WORDS = frozenset({"openai", "anthropic", "google", "meta", "xai"})
# Words that make a sibling model (a size or tier) when added to a name: a looser matcher would merge them.
_VARIANT_WORDS = frozenset(
    {
        "mini", "nano", "micro", "small", "medium", "large", "pro", "flash", "lite", "plus", "max", "turbo",
        "ultra", "air", "fast", "exp", "chat", "coder", "vision", "vl", "instant", "base", "codex",
    }
)  # fmt: skip
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}  # fmt: skip
_NO_THINKING = re.compile(r"\b(?:no|non|without)[\s_-]?(?:think(?:ing)?|reason(?:ing|er)?)\b")
_EFFORT_PHRASE = re.compile(r"\b(minimal|low|medium|high|xhigh)[\s_-]+(?:reasoning|effort)\b")
_PARENS = re.compile(r"\(([^()]*)\)")
_SEPARATORS = re.compile(r"[\s._,@]+")
_SIZE = re.compile(r"^\d+(?:\.\d+)?[bmk]$|^\d+e$|^\d+x\d+b$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*[a-z]?$")


@dataclass(frozen=True, slots=True)
class NameKey:
    """A model name reduced for comparison; `tokens` is sorted so word order does not matter."""

    original: str
    normalised: str
    tokens: tuple[str, ...]
    thinking: bool | None  # True: thinking variant; False: explicitly not; None: the name does not say
    effort: str | None
    date: tuple[int | None, int | None, int | None] | None  # (year, month, day), any part may be unknown
    soft: frozenset[str]
    combined: bool


@dataclass(frozen=True, slots=True)
class Match:
    status: Status
    identity: str | None
    candidates: tuple[str, ...]
    reason: str


def normalise(name: str) -> str:
    """The normalised spelling of a name, e.g. `Claude 3.5 Sonnet (Oct 2024)` → `claude-3-5-sonnet`."""
    return parse_name(name).normalised


def parse_name(name: str) -> NameKey:
    raw = " ".join(str(name).split()).lower()
    combined = bool(re.search(r"\s\+\s|\s&\s", raw))
    thinking: bool | None = None
    effort: str | None = None
    date: tuple[int | None, int | None, int | None] | None = None
    soft: set[str] = set()

    if _NO_THINKING.search(raw):
        thinking = False
        raw = _NO_THINKING.sub(" ", raw)
    for note in _PARENS.findall(raw):
        note_effort, note_thinking, note_date = _read_note(note)
        effort = effort or note_effort
        thinking = note_thinking if thinking is None and note_thinking is not None else thinking
        date = date or note_date
    raw = _PARENS.sub(" ", raw)
    if ": " in raw:  # OpenRouter display names: "Anthropic: Claude Sonnet 4"
        raw = raw.split(": ", 1)[1]
    raw = raw.rsplit("/", 1)[-1]
    raw, *suffixes = raw.split(":")
    for suffix in suffixes:
        if suffix.strip() == "thinking":
            thinking = True if thinking is None else thinking
        elif suffix.strip():
            soft.add(suffix.strip())
    if match := _EFFORT_PHRASE.search(raw):
        effort = effort or match[1]
        raw = _EFFORT_PHRASE.sub(" ", raw)

    tokens = [t for t in re.split(r"-+", _SEPARATORS.sub("-", raw)) if t]
    tokens, found_date = _strip_dates(tokens)
    date = date or found_date
    kept: list[str] = []
    saw_thinking = False
    for token in tokens:
        if token in _THINKING_WORDS:
            saw_thinking = True
        elif token.endswith("thinking") and token[: -len("thinking")] in _EFFORT_WORDS:  # LiveBench "highthinking"
            saw_thinking = True
            effort = effort or token[: -len("thinking")]
        elif token in _SOFT_WORDS:
            soft.add(token)
        elif re.fullmatch(r"0\d\d", token):  # Google's -001 stable stamps
            soft.add(token)
        else:
            kept.append(token)
    if saw_thinking:
        thinking = True if thinking is None else thinking
        kept = [t for t in kept if not re.fullmatch(r"\d+k|auto|budget", t)]  # thinking budgets, not sizes
    if len(kept) > 1 and kept[-1] == "effort" and kept[-2] in _EFFORT_WORDS:
        effort = effort or kept[-2]
        kept = kept[:-2]
    # A trailing effort word ("gpt-5.1-high") unless it is the model's name ("mistral-medium").
    if len(kept) > 1 and kept[-1] in _EFFORT_WORDS and any(ch.isdigit() for ch in "".join(kept[:-1])):
        effort = effort or kept[-1]
        kept = kept[:-1]
    while len(kept) > 1 and kept[0] in _VENDOR_WORDS:
        kept = kept[1:]

    normalised = "-".join(kept) + ("-thinking" if thinking else "")
    return NameKey(
        original=str(name),
        normalised=normalised,
        tokens=tuple(sorted(_key_tokens(kept))),
        thinking=thinking,
        effort=effort,
        date=date,
        soft=frozenset(soft),
        combined=combined,
    )


class Matcher:
    """A catalogue indexed once, for matching many published names against it."""

    def __init__(self, catalogue: Iterable[CatalogueEntry], aliases: Mapping[str, str] | None = None) -> None:
        self.entries = list(catalogue)
        self.aliases = dict(aliases or {})
        self._by_name = {e.identity: e for e in self.entries} | {e.id: e for e in self.entries}
        self._keys: list[tuple[CatalogueEntry, NameKey]] = []
        for entry in self.entries:
            seen: set[tuple[str, ...]] = set()
            for name in (entry.id, entry.identity):
                key = parse_name(name)
                if key.tokens and key.tokens not in seen:
                    seen.add(key.tokens)
                    self._keys.append((entry, key))

    def match(self, published_name: str) -> Match:
        if published_name in self.aliases:
            return self._alias(published_name, self.aliases[published_name])
        key = parse_name(published_name)
        if key.combined:
            return Match("unmatched", None, (), "names a combination of models, not one model")
        if not key.tokens:
            return Match("unmatched", None, (), "nothing left of the name after normalising")
        exact = [(entry, cat) for entry, cat in self._keys if cat.tokens == key.tokens]
        if exact:
            return self._decide(key, exact)
        return self._near_misses(key)

    def _alias(self, name: str, target: str) -> Match:
        if target.strip().lower() in {"", "none"}:
            return Match("unmatched", None, (), "reviewed alias: not in the catalogue")
        entry = self._by_name.get(target.strip())
        if entry is None:
            return Match("unmatched", None, (), f"alias points to {target!r}, which the catalogue does not list")
        return Match("matched", entry.identity, (entry.identity,), f"reviewed alias {name!r} → {entry.identity}")

    def _decide(self, key: NameKey, exact: list[tuple[CatalogueEntry, NameKey]]) -> Match:
        thinking = [(e, k) for e, k in exact if k.thinking]
        plain = [(e, k) for e, k in exact if not k.thinking]
        label = "-".join(key.tokens)
        if key.thinking:
            pool = thinking
            if not pool:
                return _ambiguous(plain, f"published as a thinking variant; the catalogue lists only {_ids(plain)}")
        elif key.thinking is False:
            pool = plain
            if not pool:
                return _ambiguous(thinking, f"published as non-thinking; the catalogue lists only {_ids(thinking)}")
        else:
            if thinking and plain:
                return _ambiguous(exact, "the name does not say whether thinking is on; the catalogue lists both")
            pool = plain or thinking
            if not plain:
                return _ambiguous(pool, f"the catalogue lists only a thinking variant ({_ids(pool)})")
        scored = [(_preference(key, cat), entry) for entry, cat in pool]
        best = max(score for score, _ in scored)
        winners = sorted({entry.identity for score, entry in scored if score == best})
        if len(winners) > 1:
            return Match("ambiguous", None, tuple(winners), f"several catalogue models are named '{label}'")
        notes = []
        if key.date:
            notes.append("snapshot date set aside")
        if key.effort:
            notes.append(f"effort {key.effort}")
        suffix = f" ({', '.join(notes)})" if notes else ""
        return Match("matched", winners[0], (winners[0],), f"same name '{key.normalised}'{suffix}")

    def _near_misses(self, key: NameKey) -> Match:
        near: dict[str, str] = {}
        for entry, cat in self._keys:
            why = _near(key.tokens, cat.tokens)
            if why and entry.identity not in near:
                near[entry.identity] = why
        if not near:
            return Match("unmatched", None, (), f"no catalogue model is named like '{key.normalised}'")
        candidates = tuple(sorted(near))[:5]
        reasons = "; ".join(f"{c}: {near[c]}" for c in candidates)
        return Match("ambiguous", None, candidates, f"not merged with a sibling model ({reasons})")


def match(published_name: str, catalogue: Iterable[CatalogueEntry], aliases: Mapping[str, str]) -> Match:
    """Match one published name; for many names build a `Matcher` once instead."""
    return Matcher(catalogue, aliases).match(published_name)


def match_all(
    names: Iterable[str], catalogue: Iterable[CatalogueEntry], aliases: Mapping[str, str]
) -> dict[str, Match]:
    matcher = Matcher(catalogue, aliases)
    return {name: matcher.match(name) for name in dict.fromkeys(names)}


def _read_note(note: str) -> tuple[str | None, bool | None, tuple[int | None, int | None, int | None] | None]:
    """Effort, thinking and date from a parenthesised note such as `(32k thinking tokens)` or `(Oct 2024)`."""
    effort = next((e for e in _EFFORTS if re.search(rf"\b{e}\b", note)), None)
    rest = _EFFORT_PHRASE.sub(" ", note)
    thinking = True if re.search(r"think|reason", rest) else None
    date: tuple[int | None, int | None, int | None] | None = None
    if m := re.search(r"\b(20\d\d)-?(\d\d)-?(\d\d)\b", note):
        date = (int(m[1]), int(m[2]), int(m[3]))
    elif m := re.search(r"\b([a-z]{3})[a-z]*\.? (20\d\d)\b", note):
        date = (int(m[2]), _MONTHS[m[1]], None) if m[1] in _MONTHS else None
    elif m := re.fullmatch(r"\s*(\d{4})\s*", note):
        date = _four_digit_date(m[1])
    return effort, thinking, date


def _strip_dates(tokens: list[str]) -> tuple[list[str], tuple[int | None, int | None, int | None] | None]:
    """Remove snapshot dates (never the first token): 20241022, 2024-10-22, 03-25, 09-2025, 0324, 2507."""
    kept: list[str] = []
    found: tuple[int | None, int | None, int | None] | None = None
    i = 0
    while i < len(tokens):
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        nxt2 = tokens[i + 2] if i + 2 < len(tokens) else ""
        if i == 0 or not t.isdigit():
            kept.append(t)
            i += 1
            continue
        if len(t) == 8 and t[:2] in {"19", "20"} and _valid(int(t[4:6]), int(t[6:])):
            found, i = found or (int(t[:4]), int(t[4:6]), int(t[6:])), i + 1
        elif len(t) == 4 and t[:2] == "20" and _is2(nxt) and _is2(nxt2) and _valid(int(nxt), int(nxt2)):
            found, i = found or (int(t), int(nxt), int(nxt2)), i + 3
        elif _is2(t) and 1 <= int(t) <= 12 and len(nxt) == 4 and nxt[:2] == "20" and nxt.isdigit():
            found, i = found or (int(nxt), int(t), None), i + 2
        elif _is2(t) and _is2(nxt) and _valid(int(t), int(nxt)):
            found, i = found or (None, int(t), int(nxt)), i + 2
        elif len(t) == 4 and (parsed := _four_digit_date(t)):
            found, i = found or parsed, i + 1
        else:
            kept.append(t)
            i += 1
    return kept, found


def _four_digit_date(t: str) -> tuple[int | None, int | None, int | None] | None:
    """MMDD (`0324`), YYMM (`2507`) or a year (`2024`); None for anything else."""
    first, second = int(t[:2]), int(t[2:])
    if _valid(first, second):
        return (None, first, second)
    if 23 <= first <= 29 and 1 <= second <= 12:
        return (2000 + first, second, None)
    if t[:2] in {"19", "20"}:
        return (int(t), None, None)
    return None


def _valid(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _is2(token: str) -> bool:
    return len(token) == 2 and token.isdigit()


def _key_tokens(tokens: list[str]) -> list[str]:
    """Split `qwen2` into `qwen`,`2` and join version runs `3`,`5` into `3.5`, so spellings meet."""
    split: list[str] = []
    for token in tokens:
        split.extend(part for part in re.split(r"(?<=[a-z])(?=\d)", token) if part)
    merged: list[str] = []
    for token in split:
        if token.isdigit() and len(token) <= 2 and merged and re.fullmatch(r"\d+(?:\.\d+)*", merged[-1]):
            merged[-1] = f"{merged[-1]}.{token}"
        else:
            merged.append(token)
    return merged


def _preference(key: NameKey, cat: NameKey) -> tuple[int, int, int]:
    """Higher is a better fit among same-name entries: effort, then date, then shared soft words."""
    if cat.effort == key.effort:
        effort = 2
    elif cat.effort is None:
        effort = 1  # the catalogue's default effort
    else:
        effort = 0
    if cat.date is None:
        date = 1
    elif key.date is not None and _same_date(key.date, cat.date):
        date = 2
    else:
        date = 0
    return effort, date, len(key.soft & cat.soft)


def _same_date(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> bool:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return bool(pairs) and all(x == y for x, y in pairs) and a[1] is not None and b[1] is not None


def _near(published: tuple[str, ...], catalogue: tuple[str, ...]) -> str | None:
    """Why a catalogue key is a sibling a looser matcher would merge with, or None."""
    p, c = Counter(published), Counter(catalogue)
    if not p & c:
        return None
    only_p, only_c = list((p - c).elements()), list((c - p).elements())
    if bool(only_p) != bool(only_c):
        extra = only_p or only_c
        if len(extra) <= 2 and all(t in _VARIANT_WORDS or _SIZE.match(t) for t in extra):
            side = "published" if only_p else "catalogue"
            return f"{side} name adds '{'-'.join(extra)}'"
        return None
    if len(only_p) == 1 and len(only_c) == 1:
        a, b = only_p[0], only_c[0]
        if _SIZE.match(a) and _SIZE.match(b):
            return f"size {a} vs {b}"
        if _VERSION.match(a) and _VERSION.match(b) and (_major(a) == _major(b) or _distance(a, b) <= 1):
            return f"version {a} vs {b}"
    return None


def _major(version: str) -> str:
    return re.match(r"\d+", version)[0]  # type: ignore[index]  # _VERSION guarantees leading digits


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _ambiguous(options: list[tuple[CatalogueEntry, NameKey]], reason: str) -> Match:
    return Match("ambiguous", None, tuple(sorted({e.identity for e, _ in options})), reason)


def _ids(options: list[tuple[CatalogueEntry, NameKey]]) -> str:
    return ", ".join(sorted({e.identity for e, _ in options}))
