"""Cross-validated probabilities: our fold-batched probe against scikit-learn, in one run.

Data: a seeded Gaussian mixture, 100,000 samples × 256 features, 10 classes, 20% symmetric
label noise (the true labels are known). Both sides produce 5-fold out-of-fold probabilities:

- ours: ``workbench.compute.cross_val_probs`` (linear probe, defaults) **while recording**
  per-epoch trajectories;
- reference: ``sklearn.model_selection.cross_val_predict(LogisticRegression(), cv=5,
  method="predict_proba")``.

Reported: median wall time of each (runs interleaved), accuracy of the argmax of the
probabilities against the TRUE labels, the recorder's overhead and the memory of the
trajectories. The overhead is the median, over ``--pairs`` back-to-back pairs of trainings
with and without recording (their order alternating), of the ratio of their median epoch
times: pairs share the machine's state, so a machine that speeds up or slows down between
pairs does not count as overhead. The last line is one JSON object.

Run: ``.venv/bin/python benchmarks/probe.py [--runs 3] [--pairs 8] [--n 100000]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np


def gaussian_mixture(n: int, d: int, k: int, noise: float, seed: int = 0):
    """Features, noisy labels and true labels; class means ~ N(0, 0.2²) per dimension."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 0.2, (k, d))
    true = rng.integers(0, k, n)
    x = (means[true] + rng.normal(size=(n, d))).astype(np.float32)
    given = true.copy()
    flip = rng.random(n) < noise
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return x, given, true


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of both sides")
    parser.add_argument("--pairs", type=int, default=8, help="trainings with and without recording")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit both sides to this many CPU threads (default: as set up)",
    )
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)

    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from workbench.compute import cross_val_probs

    if args.threads:
        torch.set_num_threads(args.threads)
    x, y, true = gaussian_mixture(args.n, args.d, args.k, args.noise)
    print(f"data: N={args.n} D={args.d} K={args.k}, {args.noise:.0%} symmetric noise "
          f"(actual {np.mean(y != true):.3f}); torch threads {torch.get_num_threads()}")  # fmt: skip

    def ours(record: bool):
        t0, c0 = time.perf_counter(), time.process_time()
        res = cross_val_probs(x, y, seed=0, device=args.device, record=record, progress=False)
        # CPU seconds of the training loop alone (steadier than wall time on a shared machine)
        cpu = time.process_time() - c0 - res.timings["prepare"] - res.timings["predict"]
        return time.perf_counter() - t0, res, cpu

    def sklearn():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            p = cross_val_predict(LogisticRegression(), x, y, cv=5, method="predict_proba")
        return time.perf_counter() - t0, p

    # warm-up: imports, thread pools, first-call allocations (small subset, both sides)
    cross_val_probs(x[:2000], y[:2000], epochs=1, progress=False, device=args.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        LogisticRegression(max_iter=5).fit(x[:2000], y[:2000])

    t_ours, t_sk, ratios, cpu_ratios, epochs_rec, epochs_plain = [], [], [], [], [], []
    res = p_sk = None
    for run in range(max(args.runs, args.pairs)):
        pair = {}
        for record in (True, False) if run % 2 == 0 else (False, True):
            pair[record] = ours(record)
        (dt, res, cpu), (dt_plain, res_plain, cpu_plain) = pair[True], pair[False]
        epochs_rec += res.timings["epochs"]
        epochs_plain += res_plain.timings["epochs"]
        ratios.append(_median_epoch(res) / _median_epoch(res_plain))
        cpu_ratios.append(cpu / cpu_plain)
        if run >= args.runs:
            continue
        t_ours.append(dt)
        dt_sk, p_sk = sklearn()
        t_sk.append(dt_sk)
        print(f"run {run + 1}: ours {dt:.2f} s (recording; {dt_plain:.2f} s without), "
              f"scikit-learn {dt_sk:.2f} s")  # fmt: skip

    acc = float(np.mean(res.pred_probs.argmax(1) == true))
    acc_sk = float(np.mean(p_sk.argmax(1) == true))
    agree = float(np.mean(res.pred_probs.argmax(1) == p_sk.argmax(1)))
    overhead = statistics.median(ratios) - 1
    overhead_cpu = statistics.median(cpu_ratios) - 1
    epoch_ms = 1e3 * statistics.median(epochs_plain)
    extra_ms = 1e3 * (statistics.median(epochs_rec) - statistics.median(epochs_plain))
    traj_mb = sum(v.nbytes for v in res.trajectories.values()) / 1e6
    med, med_sk = statistics.median(t_ours), statistics.median(t_sk)
    print(f"ours: {med:.2f} s median, accuracy vs true labels {acc:.4f}, "
          f"{res.epochs} epochs on {res.device}, timings {_fmt(res.timings)}")  # fmt: skip
    print(f"scikit-learn: {med_sk:.2f} s median, accuracy vs true labels {acc_sk:.4f}")
    print(f"argmax agreement {agree:.4f}; recorder overhead {overhead:+.1%} per epoch "
          f"(wall, median of {len(ratios)} pairs; {extra_ms:+.1f} ms on {epoch_ms:.0f} ms), "
          f"{overhead_cpu:+.1%} (CPU time of training); "
          f"trajectories {traj_mb:.1f} MB ({', '.join(sorted(res.trajectories))})")  # fmt: skip
    print(json.dumps({
        "speedup_vs_sklearn": round(med_sk / med, 2),
        "time_s": round(med, 3),
        "time_sklearn_s": round(med_sk, 3),
        "acc": round(acc, 4),
        "acc_sklearn": round(acc_sk, 4),
        "recorder_overhead": round(overhead, 4),
        "recorder_overhead_cpu": round(overhead_cpu, 4),
        "recorder_ms_per_epoch": round(extra_ms, 2),
        "epoch_ms": round(epoch_ms, 1),
        "trajectory_mb": round(traj_mb, 2),
        "device": res.device,
        "n": args.n, "d": args.d, "k": args.k, "runs": args.runs, "pairs": len(ratios),
        "threads": torch.get_num_threads(),
    }))  # fmt: skip


def _median_epoch(result) -> float:
    return statistics.median(result.timings["epochs"])


def _fmt(timings: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in timings.items() if k != "epochs")


if __name__ == "__main__":
    main()
