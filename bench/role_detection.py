"""Role detection: accuracy on the labelled prompts and the cost of each tier.

    .venv/bin/python bench/role_detection.py [--repeats 20]

Prints accuracy per role, the confusion matrix (rows = labelled role, columns = detected), the held-out
accuracy, the accuracy on prompts written after the detector was tuned (`role_prompts_unseen.jsonl`), which
tier decided, and p50/p99 latency in milliseconds of the fast path, of the classifier, and of the whole
`detect_role` call (scaffolding stripping included) over every prompt, repeated. Requests are built the way
the tests build them: prompts tagged with an agent wrapper go through that agent's request shape.
Targets: fast path < 0.3 ms p99, classifier < 5 ms p99. Timed with the garbage collector paused, as timeit does.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prompts.detection import ROLES, classifier, detect_role, fast_path  # noqa: E402
from prompts.detection.train import load_rows  # noqa: E402
from tests.prompts.agent_wrappers import wrap  # noqa: E402

DATA = ROOT / "tests" / "prompts" / "data" / "role_prompts.jsonl"
UNSEEN = ROOT / "tests" / "prompts" / "data" / "role_prompts_unseen.jsonl"  # never used for training or tuning


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return p50 * 1000, p99 * 1000


def _time(fn: Callable[[], object], repeats: int) -> list[float]:
    # Like timeit: the collector is off while timing, so a pause it takes elsewhere is not billed to this call.
    out = []
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Role detection accuracy and latency.")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per prompt and tier")
    args = parser.parse_args(argv)

    rows = load_rows(DATA)
    classifier.load_model()  # the one-off file read is not what a request pays
    confusion: Counter[tuple[str, str]] = Counter()
    sources: Counter[str] = Counter()
    hits = {"train": [0, 0], "heldout": [0, 0]}
    held_by_role: Counter[tuple[str, bool]] = Counter()
    requests = []
    for row in rows:
        req = wrap(row["text"], row["wrap"])
        requests.append(req)
        got = detect_role(req.messages, req.system)
        confusion[(row["role"], got.role)] += 1
        sources[got.source] += 1
        hits[row["split"]][0] += got.role == row["role"]
        hits[row["split"]][1] += 1
        if row["split"] == "heldout":
            held_by_role[(row["role"], got.role == row["role"])] += 1

    total = sum(confusion.values())
    correct = sum(n for (want, got), n in confusion.items() if want == got)
    print(f"prompts: {total}   accuracy: {correct / total:.3f}")
    for split, (ok, n) in hits.items():
        print(f"  {split:<8} {ok / n:.3f} ({ok}/{n})")
    print("decided by: " + ", ".join(f"{k} {v}" for k, v in sources.most_common()))
    print("\naccuracy per role (all / held-out):")
    for role in ROLES:
        n = sum(v for (want, _), v in confusion.items() if want == role)
        held_ok, held_n = held_by_role[(role, True)], held_by_role[(role, True)] + held_by_role[(role, False)]
        print(
            f"  {role:<15} {confusion[(role, role)] / n:.3f} ({confusion[(role, role)]}/{n})"
            f"   {held_ok / held_n:.3f} ({held_ok}/{held_n})"
        )

    unseen = load_rows(UNSEEN)
    unseen_right = Counter()
    for row in unseen:
        req = wrap(row["text"], row["wrap"])
        unseen_right[row["role"]] += detect_role(req.messages, req.system).role == row["role"]
    print(f"\nunseen prompts (written after tuning, never trained on): "
          f"{sum(unseen_right.values()) / len(unseen):.3f} ({sum(unseen_right.values())}/{len(unseen)}); per role: "
          + ", ".join(f"{role} {unseen_right[role]}/{sum(r['role'] == role for r in unseen)}" for role in ROLES))

    short = {r: r[:6] for r in ROLES}
    print("\nconfusion matrix (rows: labelled, columns: detected):")
    print(" " * 16 + " ".join(f"{short[r]:>6}" for r in ROLES))
    for want in ROLES:
        print(f"  {want:<14}" + " ".join(f"{confusion[(want, got)]:>6}" for got in ROLES))

    texts = [row["text"] for row in rows]
    table = fast_path.compile_rules(fast_path.DEFAULT_RULES)
    fp, clf, full = [], [], []
    for text, req in zip(texts, requests, strict=True):
        fp += _time(lambda t=text: fast_path.score(t, table), args.repeats)
        clf += _time(lambda t=text: classifier.predict_proba(t), args.repeats)
        full += _time(lambda r=req: detect_role(r.messages, r.system), args.repeats)
    print(f"\nlatency over {len(texts)} prompts x {args.repeats} calls (ms):")
    for name, samples, target in (("fast path", fp, 0.3), ("classifier", clf, 5.0), ("detect_role", full, None)):
        p50, p99 = _percentiles(samples)
        verdict = "" if target is None else f"   target p99 < {target} ms: {'ok' if p99 < target else 'MISSED'}"
        print(f"  {name:<12} p50 {p50:.3f}   p99 {p99:.3f}{verdict}")


if __name__ == "__main__":
    main()
