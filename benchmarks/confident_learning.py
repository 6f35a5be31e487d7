"""Benchmark: workbench's find_label_issues against cleanlab's, same data, same run.

Run ``.venv/bin/python benchmarks/confident_learning.py [--n 1000000] [--k 100]``.

Data: N samples of K classes with a known true label (class prior Dirichlet(5)); 10% of the
given labels are flipped, 80% of flips to one of three look-alike classes of the true class.
``pred_probs`` is the softmax of Gaussian logits with a bump of U(1, 7) at the true class and
U(0, 3) at its first look-alike (a ~70% accurate, overconfident-on-look-alikes model), float32.

Each side (ours, cleanlab with default settings and default ``n_jobs``) runs in its own
subprocess on the same .npy files, ``--repeats`` times; we report the median wall time. Memory:
the subprocess reads its RSS after imports (before loading the inputs), then after the runs
its peak RSS (``getrusage`` of itself and of its children, e.g. cleanlab's worker pool, the
larger of the two); ``peak_rss_mb`` is peak − RSS before loading − the input size, i.e. the
extra memory the call needed. Both masks are saved and compared element by element.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

side, folder, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
if side == "ours":
    sys.path.insert(0, {root!r})
    from workbench.analysis.detectors.pred_probs import find_label_issues
    run = lambda y, p: find_label_issues(y, p, device="cpu")
else:
    from cleanlab.filter import find_label_issues
    run = lambda y, p: find_label_issues(y, p)
base = rss_mb()
labels = np.load(folder + "/labels.npy")
pred_probs = np.load(folder + "/pred_probs.npy")
input_mb = (labels.nbytes + pred_probs.nbytes) / 2**20
times = []
before = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(repeats):
    t0 = time.perf_counter()
    mask = run(labels, pred_probs)
    times.append(time.perf_counter() - t0)
np.save(folder + "/mask_" + side + ".npy", mask)
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
cpu = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
used = (cpu.ru_utime + cpu.ru_stime - before.ru_utime - before.ru_stime
        + kids.ru_utime + kids.ru_stime)
print(json.dumps({"times": times, "peak_rss_mb": peak - base - input_mb,
                  "cpu_s": used / repeats,
                  "n_flagged": int(np.asarray(mask).sum())}))
"""


def make_data(n: int, k: int, seed: int, noise: float = 0.1):
    """Labels, true labels and float32 pred_probs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.full(k, 5.0))
    true = rng.choice(k, size=n, p=prior)
    alike = np.stack([rng.choice(np.delete(np.arange(k), i), 3, replace=False) for i in range(k)])
    flip = rng.random(n) < noise
    pick = np.where(rng.random(n) < 0.8, alike[true, rng.integers(0, 3, n)], rng.integers(0, k, n))
    labels = np.where(flip & (pick != true), pick, true)
    probs = np.empty((n, k), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        m, rows = stop - start, np.arange(stop - start)
        logits = rng.standard_normal((m, k), dtype=np.float32)
        logits[rows, true[start:stop]] += rng.uniform(1.0, 7.0, m).astype(np.float32)
        logits[rows, alike[true[start:stop], 0]] += rng.uniform(0.0, 3.0, m).astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        probs[start:stop] = logits
    return labels, true, probs


def run_side(side: str, folder: str, repeats: int) -> dict:
    code = CHILD.replace("{root!r}", repr(str(ROOT)))
    out = subprocess.run(
        [sys.executable, "-c", code, side, folder, str(repeats)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    labels, true, probs = make_data(args.n, args.k, args.seed)
    print(f"data: N={args.n} K={args.k}, {100 * np.mean(labels != true):.1f}% labels flipped, "
          f"model accuracy {100 * np.mean(probs.argmax(1) == true):.1f}% "
          f"({time.perf_counter() - t0:.1f} s to generate)")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "labels.npy"), labels)
        np.save(os.path.join(folder, "pred_probs.npy"), probs)
        del probs
        ours = run_side("ours", folder, args.repeats)
        ref = run_side("cleanlab", folder, args.repeats)
        mask_ours = np.load(os.path.join(folder, "mask_ours.npy"))
        mask_ref = np.load(os.path.join(folder, "mask_cleanlab.npy"))
    same = bool(np.array_equal(mask_ours, mask_ref))
    ours_s, ref_s = float(np.median(ours["times"])), float(np.median(ref["times"]))
    flagged = mask_ours.astype(bool)
    print(f"{'':10s} {'median s':>9s} {'cpu s/run':>10s} {'extra MB':>9s}  runs (s)")
    for name, r, med in (("workbench", ours, ours_s), ("cleanlab", ref, ref_s)):
        runs = " ".join(f"{t:.2f}" for t in r["times"])
        print(f"{name:10s} {med:9.3f} {r['cpu_s']:10.2f} {r['peak_rss_mb']:9.0f}  {runs}")
    print(
        f"same mask: {same} ({int(flagged.sum())} flagged, "
        f"precision vs known flips {np.mean(labels[flagged] != true[flagged]):.3f})"
    )
    print(f"speedup: {ref_s / ours_s:.1f}x")
    result = {
        "n": args.n,
        "k": args.k,
        "speedup_vs_cleanlab": round(ref_s / ours_s, 2),
        "same_mask": same,
        "ours_s": round(ours_s, 4),
        "cleanlab_s": round(ref_s, 4),
        "ours_cpu_s": round(ours["cpu_s"], 3),
        "cleanlab_cpu_s": round(ref["cpu_s"], 3),
        "peak_rss_mb_ours": round(ours["peak_rss_mb"], 1),
        "peak_rss_mb_cleanlab": round(ref["peak_rss_mb"], 1),
        "n_flagged": int(flagged.sum()),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
