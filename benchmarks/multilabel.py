"""Benchmark: multi-label confident learning and label-quality scores against cleanlab 2.9.

Run ``.venv/bin/python benchmarks/multilabel.py [--n 100000] [--k 100] [--repeats 3]``.

Data: N samples, K classes with prevalences U(0.01, 0.2); the true label sets are drawn per
class, then 1% of the (sample, class) annotations are flipped (missing or extra labels).
``pred_probs`` is the sigmoid of Gaussian logits centred at +/-2.5 on the true sets, float64.
Both sides take the labels as N lists of class indices (cleanlab's format), in the same
process, one after the other: cleanlab 2.9's ``multilabel_classification.filter.
find_label_issues`` with default settings (its worker pool over classes) against
``workbench.analysis.multilabel.find_label_issues``; the median wall time of ``--repeats`` runs
each. The masks are compared element by element, and our ``label_noise_scores`` against
``1 - multilabel_classification.rank.get_label_quality_scores``.

The last line printed is one JSON object with the figures (``speedup_vs_cleanlab``,
``same_mask``, ``max_score_diff``).

``--dawid-skene`` times the annotator model instead: ``per_class_dawid_skene`` (every class in
one EM) against the single-label ``dawid_skene`` run class by class, on ``--annotators``
annotators' label sets of the same data (annotator j flips 5% to 30% of the annotations, 10% of
the sets missing), e.g. ``--dawid-skene --n 2000 --k 1000``; the JSON line then holds both
times and the largest difference of the posteriors and confusions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_data(n: int, k: int, seed: int, flip: float = 0.01):
    """Label sets (lists), true sets (N, K) bool and float64 pred_probs (module docstring)."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.01, 0.2, k)
    true = rng.random((n, k)) < prevalence
    given = true ^ (rng.random((n, k)) < flip)
    logits = np.where(true, 2.5, -2.5) + rng.normal(0.0, 1.2, (n, k))
    pred_probs = 1.0 / (1.0 + np.exp(-logits))
    labels = [np.flatnonzero(row).tolist() for row in given]
    return labels, given, true, pred_probs


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def dawid_skene_timing(true: np.ndarray, m: int, seed: int, repeats: int) -> dict:
    """per_class_dawid_skene against dawid_skene class by class (module docstring)."""
    from workbench.analysis.detectors.annotators import dawid_skene
    from workbench.analysis.detectors.multilabel import per_class_dawid_skene

    rng = np.random.default_rng(seed + 1)
    flips = np.linspace(0.05, 0.3, m)
    votes = np.stack([true ^ (rng.random(true.shape) < f) for f in flips], axis=1)
    votes = votes.astype(np.int8)
    votes[rng.random((len(true), m)) < 0.1] = -1
    k = true.shape[1]
    ours_s, fit = timed(lambda: per_class_dawid_skene(votes), repeats)
    loop_s, loop = timed(
        lambda: [dawid_skene(votes[:, :, c].astype(np.int64), 2) for c in range(k)], 1
    )
    print(f"Dawid-Skene, {m} annotators: every class at once {ours_s:.3f} s, class by class "
          f"{loop_s:.3f} s")  # fmt: skip
    return {
        "n": len(true),
        "k": k,
        "annotators": m,
        "per_class_dawid_skene_s": round(ours_s, 4),
        "class_by_class_s": round(loop_s, 4),
        "speedup": round(loop_s / ours_s, 1),
        "same_n_iter": all(f.n_iter == it for f, it in zip(loop, fit.n_iter, strict=True)),
        "max_posterior_diff": float(
            max(np.abs(f.posterior[:, 1] - fit.posterior[:, c]).max() for c, f in enumerate(loop))
        ),
        "max_confusion_diff": float(
            max(np.abs(f.confusion - fit.confusion[c]).max() for c, f in enumerate(loop))
        ),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cleanlab-repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dawid-skene", action="store_true")
    parser.add_argument("--annotators", type=int, default=3)
    args = parser.parse_args(argv)
    if args.dawid_skene:
        _, _, true, _ = make_data(args.n, args.k, args.seed)
        result = dawid_skene_timing(true, args.annotators, args.seed, args.repeats)
        print(json.dumps(result))
        return result

    from cleanlab.multilabel_classification.filter import find_label_issues as cl_find
    from cleanlab.multilabel_classification.rank import get_label_quality_scores as cl_scores

    from workbench.analysis.multilabel import find_label_issues, label_noise_scores

    labels, given, true, pred_probs = make_data(args.n, args.k, args.seed)
    print(f"data: N={args.n} K={args.k}, {int((given != true).sum())} annotations flipped")
    ours_s, ours = timed(lambda: find_label_issues(labels, pred_probs), args.repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_s, ref = timed(lambda: cl_find(labels, pred_probs), args.cleanlab_repeats)
    print(f"find_label_issues: workbench {ours_s:.3f} s, cleanlab {ref_s:.3f} s")
    score_s, scores = timed(lambda: label_noise_scores(labels, pred_probs), args.repeats)
    ref_score_s, ref_quality = timed(lambda: cl_scores(labels, pred_probs), 1)
    print(f"label quality scores: workbench {score_s:.3f} s, cleanlab {ref_score_s:.3f} s")
    wrong = given != true
    flagged = np.asarray(ours)
    result = {
        "n": args.n,
        "k": args.k,
        "workbench_s": round(ours_s, 4),
        "cleanlab_s": round(ref_s, 4),
        "speedup_vs_cleanlab": round(ref_s / ours_s, 2),
        "same_mask": bool(np.array_equal(ours, ref)),
        "n_flagged": int(flagged.sum()),
        "precision": round(float(wrong.any(axis=1)[flagged].mean()), 4) if flagged.any() else None,
        "scores_workbench_s": round(score_s, 4),
        "scores_cleanlab_s": round(ref_score_s, 4),
        "scores_speedup_vs_cleanlab": round(ref_score_s / score_s, 2),
        "max_score_diff": float(np.max(np.abs((1.0 - scores) - ref_quality))),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
