"""Train the role classifier and write the shipped model file: `python -m prompts.detection.train`.

Deterministic by construction: fixed seed, fixed example order before shuffling, sorted keys, rounded weights,
so re-running it on the same data reproduces `role_classifier.json` byte for byte (a test checks this). Only
rows with `"split": "train"` are used; the held-out rows are scored and printed, never learnt from.

Model: multinomial logistic regression with L2, fitted by AdaGrad SGD. Features seen in fewer than `MIN_DF`
training prompts are dropped: they cannot generalise and they bloat the file.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from prompts.detection.classifier import FEATURE_VERSION, MODEL_PATH, Model, featurize, softmax
from prompts.detection.fast_path import ROLES

__all__ = ["DATA_PATH", "evaluate", "fit", "load_rows", "main", "train_and_write"]

DATA_PATH = Path(__file__).resolve().parents[2] / "tests" / "prompts" / "data" / "role_prompts.jsonl"
SEED = 20240607
EPOCHS = 30
LEARNING_RATE = 0.5
L2 = 1e-3
MIN_DF = 2
DECIMALS = 4
# Features whose every weight is smaller than this change no prediction; dropping them keeps the file small.
PRUNE_BELOW = 1e-4


def load_rows(path: Path = DATA_PATH) -> list[dict]:
    """The labelled prompts, one JSON object per line."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    epochs: int = EPOCHS,
    learning_rate: float = LEARNING_RATE,
    l2: float = L2,
    min_df: int = MIN_DF,
    seed: int = SEED,
) -> Model:
    """Fit a model on (text, role) pairs; same inputs and seed give the same weights."""
    roles = ROLES
    k = len(roles)
    index = {r: i for i, r in enumerate(roles)}
    feats = [featurize(t) for t in texts]
    df = Counter(name for f in feats for name in f)
    vocab = sorted(name for name, count in df.items() if count >= min_df)
    col = {name: i for i, name in enumerate(vocab)}
    rows = [sorted((col[n], v) for n, v in f.items() if n in col) for f in feats]
    ys = [index[y] for y in labels]

    weights = [[0.0] * k for _ in vocab]
    grad_sq = [[1e-8] * k for _ in vocab]
    bias = [0.0] * k
    bias_sq = [1e-8] * k
    rng = random.Random(seed)
    order = list(range(len(rows)))
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            x = rows[i]
            logits = bias[:]
            for j, v in x:
                w = weights[j]
                for c in range(k):
                    logits[c] += w[c] * v
            probs = softmax(logits)
            probs[ys[i]] -= 1.0
            for c in range(k):
                g = probs[c]
                bias_sq[c] += g * g
                bias[c] -= learning_rate * g / math.sqrt(bias_sq[c])
            for j, v in x:
                w, s = weights[j], grad_sq[j]
                for c in range(k):
                    g = probs[c] * v + l2 * w[c]
                    s[c] += g * g
                    w[c] -= learning_rate * g / math.sqrt(s[c])
    table = {
        name: tuple(round(x, DECIMALS) for x in weights[i])
        for i, name in enumerate(vocab)
        if max(abs(x) for x in weights[i]) >= PRUNE_BELOW
    }
    return Model(roles, tuple(round(b, DECIMALS) for b in bias), table)


def model_json(model: Model) -> str:
    """The canonical serialisation (sorted keys, compact) that the shipped file holds."""
    data = {
        "feature_version": FEATURE_VERSION,
        "roles": list(model.roles),
        "bias": list(model.bias),
        "weights": {k: list(v) for k, v in model.weights.items()},
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def evaluate(model: Model, rows: Sequence[dict]) -> float:
    """Accuracy of the classifier alone (argmax, no thresholds) on labelled rows."""
    if not rows:
        return 0.0
    hits = 0
    for row in rows:
        probs = softmax(model.logits(featurize(row["text"])))
        hits += model.roles[probs.index(max(probs))] == row["role"]
    return hits / len(rows)


def train_and_write(data: Path = DATA_PATH, out: Path = MODEL_PATH) -> tuple[Model, list[dict]]:
    """Train on the TRAIN split of `data` and write the model file to `out`; returns the model and all rows."""
    rows = load_rows(data)
    train = [r for r in rows if r["split"] == "train"]
    model = fit([r["text"] for r in train], [r["role"] for r in train])
    out.write_text(model_json(model), encoding="utf-8")
    return model, rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_PATH)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    model, rows = train_and_write(args.data, args.out)
    train = [r for r in rows if r["split"] == "train"]
    heldout = [r for r in rows if r["split"] == "heldout"]
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1024:.0f} KiB, {len(model.weights)} features)")
    print(f"classifier train accuracy:    {evaluate(model, train):.3f} ({len(train)} prompts)")
    print(f"classifier held-out accuracy: {evaluate(model, heldout):.3f} ({len(heldout)} prompts)")


if __name__ == "__main__":
    main()
