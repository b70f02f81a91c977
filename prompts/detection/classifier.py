"""A small multinomial logistic regression over the task text, for prompts the fast path is unsure about.

Features: word unigrams and bigrams and character 3-5-grams of the prose (fenced code replaced by a marker, since
pasted code says little about the deliverable and would drown the request), a few structural flags (code block,
stack trace, length bucket), and which fast-path cues fired with the per-role cue scores. The cue features carry
knowledge that a few hundred labelled prompts cannot: they generalise to wording the training set never saw.

The model is a shipped file, `role_classifier.json`, produced by `python -m prompts.detection.train`; it is read
on first use, never at import. Pure Python: a prediction is a few thousand dict look-ups.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from prompts.detection import fast_path

__all__ = ["MODEL_PATH", "Model", "featurize", "load_model", "predict_proba"]

MODEL_PATH = Path(__file__).with_name("role_classifier.json")
FEATURE_VERSION = 1

_FENCE_RE = re.compile(r"(```|~~~)[^\n]*\n.*?(?:\1|\Z)", re.DOTALL)
_TRACE_RE = re.compile(
    r"traceback \(most recent call last\)|^\s+at [\w$.<>]+\(.*:\d+\)|^\s*File \"[^\"]+\", line \d+"
    r"|(?-i:\b[A-Z][a-zA-Z]+(?:Error|Exception)\b)|\berror\[E\d+\]|\bpanic: |^error: ",
    re.IGNORECASE | re.MULTILINE,
)
_DIFF_RE = re.compile(r"^(?:[-+]{3} |@@ |diff --git)|```diff", re.MULTILINE)
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)?")
_SPACE_RE = re.compile(r"\s+")
_MAX_WORD_CHARS = 3000
_MAX_CHAR_CHARS = 1500
# Group weights: each group is L2-normalised, then scaled, so one long paste cannot outvote the cue features.
_GROUP_SCALE = {"w": 1.0, "c": 1.0, "s": 0.6, "r": 1.0, "f": 1.0}


def _rule_key(rule: fast_path.PatternRule) -> str:
    return f"{rule.role}:{zlib.crc32(rule.pattern.encode()):08x}"


_RULE_KEYS = tuple(_rule_key(r) for r in fast_path.DEFAULT_RULES)


def _length_bucket(words: int) -> str:
    for limit in (4, 8, 16, 32, 64):
        if words <= limit:
            return str(limit)
    return "many"


def featurize(text: str, cues: fast_path.FastPathResult | None = None) -> dict[str, float]:
    """Sparse feature vector of a task text (feature name -> value).

    `cues` is the default-table fast-path result for the same text, when the caller already has it.
    """
    text = fast_path.clip(text)
    prose = _FENCE_RE.sub(" xxcode ", text)
    lowered = _SPACE_RE.sub(" ", prose.lower()).strip()
    groups: dict[str, dict[str, float]] = {g: {} for g in _GROUP_SCALE}

    tokens = ["0" if t.isdigit() else t for t in _TOKEN_RE.findall(lowered[:_MAX_WORD_CHARS])]
    words = groups["w"]
    for i, tok in enumerate(tokens):
        words["w:" + tok] = 1.0
        if i:
            words["b:" + tokens[i - 1] + " " + tok] = 1.0
    chars = groups["c"]
    padded = " " + lowered[:_MAX_CHAR_CHARS] + " "
    for n in (3, 4, 5):
        for i in range(len(padded) - n + 1):
            chars["c:" + padded[i : i + n]] = 1.0

    special = groups["s"]
    special["s:len:" + _length_bucket(len(tokens))] = 1.0
    if _FENCE_RE.search(text):
        special["s:code"] = 1.0
    if _TRACE_RE.search(text):
        special["s:trace"] = 1.0
    if _DIFF_RE.search(text):
        special["s:diff"] = 1.0
    if lowered.endswith("?"):
        special["s:question"] = 1.0

    cues = cues or fast_path.score(text)
    for index in cues.hits:
        groups["r"]["r:" + _RULE_KEYS[index]] = 1.0
    for role, value in cues.scores.items():
        if value:
            groups["f"]["f:" + role] = max(-1.0, min(2.0, value / 3.0))

    out: dict[str, float] = {}
    for name, group in groups.items():
        norm = math.sqrt(sum(v * v for v in group.values()))
        if norm:
            scale = _GROUP_SCALE[name] / norm
            for key, value in group.items():
                out[key] = value * scale
    return out


@dataclass(frozen=True, slots=True)
class Model:
    """Weights of a trained model: per-feature rows of one weight per role, plus a bias per role."""

    roles: tuple[str, ...]
    bias: tuple[float, ...]
    weights: Mapping[str, tuple[float, ...]]

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Model:
        """Build a model from the shipped file's JSON; raises ValueError on a file from another feature version."""
        if data.get("feature_version") != FEATURE_VERSION:
            raise ValueError(f"role classifier file has feature_version {data.get('feature_version')!r}")
        roles = tuple(data["roles"])  # type: ignore[arg-type]
        weights = {k: tuple(v) for k, v in data["weights"].items()}  # type: ignore[union-attr]
        return cls(roles, tuple(data["bias"]), weights)  # type: ignore[arg-type]

    def logits(self, features: Mapping[str, float]) -> list[float]:
        out = list(self.bias)
        k = len(out)
        for name, value in features.items():
            row = self.weights.get(name)
            if row is not None:
                for j in range(k):
                    out[j] += row[j] * value
        return out


def softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> Model:
    """Read the model file once per process (raises FileNotFoundError if it was not shipped)."""
    with path.open(encoding="utf-8") as fh:
        return Model.from_json(json.load(fh))


def predict_proba(
    text: str, model: Model | None = None, *, cues: fast_path.FastPathResult | None = None
) -> dict[str, float]:
    """Probability of each role for a task text (`cues`: its default-table fast-path result, if computed)."""
    model = model or load_model()
    probs = softmax(model.logits(featurize(text, cues)))
    return dict(zip(model.roles, probs, strict=True))
