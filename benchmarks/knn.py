"""Benchmark: our exact cosine kNN graph against scikit-learn's, at 50,000 x 256, k = 10.

The reference is what cleanlab's Datalab runs to build its kNN graph:
``NearestNeighbors(n_neighbors=k, metric="cosine").fit(X).kneighbors()`` (no query: each sample's
neighbours without itself, scikit-learn's brute force). Ours is
``workbench.compute.knn.knn_graph(X, k, metric="cosine")`` on the session device (the CPU here).

Both sides run in the same invocation, each in its own subprocess so that its peak memory is
its own: the subprocess builds the same seeded Gaussian mixture (float32), notes its resident
memory, runs the search (ours ``--repeat`` times, median reported; scikit-learn
``--sklearn-repeat`` times, once by default because it takes about a minute), and reports the
process's peak resident memory (``ru_maxrss``) and the growth over the memory held before the
search. The parent then checks the neighbours: the fraction of rows whose neighbour sets are
identical, and for every other row that the two sets only swap equidistant points (their
sorted exact float64 distances agree within ``--tie-tol``).

Each side also reports its CPU time (user + system): on a machine shared with other work, wall
times swing with the load while CPU time does not, so ``cpu_time_ratio`` is the steadier figure
there. ``--threads T`` runs both sides on T threads (torch, OpenMP and BLAS), which also makes
them less sensitive to a busy machine; by default both use every core.

Run: ``.venv/bin/python benchmarks/knn.py [--n 50000] [--d 256] [--k 10] [--repeat 3]
[--threads T]``. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_data(n: int, d: int, classes: int = 20, seed: int = 0) -> np.ndarray:
    """Seeded Gaussian mixture in float32: ``classes`` centres, unit noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.35, size=(classes, d))
    labels = rng.integers(0, classes, n)
    x = centres[labels] + rng.normal(scale=1.0 / np.sqrt(d), size=(n, d)) * 2.0
    return x.astype(np.float32)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(side: str, args) -> None:
    """One side of the comparison, in its own process; writes its neighbours to ``args.out``."""
    x = make_data(args.n, args.d, seed=args.seed)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if side == "ours":
        from workbench.compute.knn import knn_graph

        def run():
            g = knn_graph(x, args.k, metric="cosine", progress=False)
            return g.indices, g.distances, g.device

        repeat = args.repeat
    else:
        from sklearn.neighbors import NearestNeighbors

        def run():
            nn = NearestNeighbors(n_neighbors=args.k, metric="cosine").fit(x)
            dist, ind = nn.kneighbors()
            return ind, dist, "cpu (scikit-learn)"

        repeat = args.sklearn_repeat
    rss_before = _rss_mb()
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _cpu_s()
        ind, dist, device = run()
        times.append(time.perf_counter() - t0)
        cpu.append(_cpu_s() - c0)
    np.savez(args.out, indices=ind, distances=dist)
    print(
        json.dumps(
            {
                "times_s": times,
                "cpu_s": cpu,
                "device": device,
                "rss_before_mb": round(rss_before, 1),
                "peak_rss_mb": round(_peak_mb(), 1),
                "growth_mb": round(_peak_mb() - rss_before, 1),
            }
        )
    )


def _spawn(side: str, args, out: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--out", out]
    for name in ("n", "d", "k", "repeat", "sklearn_repeat", "seed", "threads"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    env = dict(os.environ)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _exact_cosine(x: np.ndarray, rows: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
    a = x[rows].astype(np.float64)
    b = x[nbrs].astype(np.float64)
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    b /= np.linalg.norm(b, axis=-1, keepdims=True)
    return 1.0 - np.einsum("rd,rkd->rk", a, b)


def compare(x, ours: dict, ref: dict, tie_tol: float) -> dict:
    """Identical neighbour sets per row, and for the other rows whether they are ties."""
    same = (np.sort(ours["indices"], axis=1) == np.sort(ref["indices"], axis=1)).all(axis=1)
    differ = np.flatnonzero(~same)
    gap = 0.0
    if differ.size:
        d_ours = np.sort(_exact_cosine(x, differ, ours["indices"][differ]), axis=1)
        d_ref = np.sort(_exact_cosine(x, differ, ref["indices"][differ]), axis=1)
        gap = float(np.abs(d_ours - d_ref).max())
    return {
        "identical_rows": float(same.mean()),
        "rows_differing": int(differ.size),
        "max_tie_gap": gap,
        "differences_are_ties": bool(gap <= tie_tol),
        "max_distance_diff": float(np.abs(ours["distances"] - ref["distances"]).max()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3, help="runs of ours (median reported)")
    p.add_argument("--sklearn-repeat", type=int, default=1, help="runs of scikit-learn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tie-tol", type=float, default=1e-5)
    p.add_argument(
        "--threads", type=int, default=0, help="threads for both sides (default: all cores)"
    )
    p.add_argument("--worker", choices=["ours", "sklearn"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        runs, graphs = {}, {}
        for side in ("ours", "sklearn"):
            out = os.path.join(tmp, f"{side}.npz")
            runs[side] = _spawn(side, args, out)
            with np.load(out) as f:
                graphs[side] = {"indices": f["indices"], "distances": f["distances"]}
            times = ", ".join(f"{t:.2f}" for t in runs[side]["times_s"])
            cpu = ", ".join(f"{t:.2f}" for t in runs[side]["cpu_s"])
            print(
                f"{side:8s} times [{times}] s (CPU [{cpu}] s), "
                f"peak RSS {runs[side]['peak_rss_mb']} MB "
                f"(+{runs[side]['growth_mb']} MB over the data), device {runs[side]['device']}"
            )
    check = compare(
        make_data(args.n, args.d, seed=args.seed), graphs["ours"], graphs["sklearn"], args.tie_tol
    )
    ours_s = statistics.median(runs["ours"]["times_s"])
    sk_s = statistics.median(runs["sklearn"]["times_s"])
    ours_cpu = statistics.median(runs["ours"]["cpu_s"])
    sk_cpu = statistics.median(runs["sklearn"]["cpu_s"])
    print(
        f"identical neighbour sets in {check['identical_rows']:.4%} of rows; the "
        f"{check['rows_differing']} other rows swap points at equal distance (largest gap "
        f"{check['max_tie_gap']:.2e} <= {args.tie_tol:g}: {check['differences_are_ties']}); "
        f"distances differ by at most {check['max_distance_diff']:.2e}"
    )
    print(f"speedup {sk_s / ours_s:.2f}x (median ours {ours_s:.2f} s, scikit-learn {sk_s:.2f} s)")
    print(
        json.dumps(
            {
                "n": args.n,
                "d": args.d,
                "k": args.k,
                "metric": "cosine",
                "speedup_vs_sklearn": round(sk_s / ours_s, 2),
                "same_neighbors": check["differences_are_ties"],
                "identical_rows": round(check["identical_rows"], 6),
                "rows_differing": check["rows_differing"],
                "max_tie_gap": check["max_tie_gap"],
                "max_distance_diff": check["max_distance_diff"],
                "ours_s": round(ours_s, 3),
                "sklearn_s": round(sk_s, 3),
                "ours_runs_s": [round(t, 3) for t in runs["ours"]["times_s"]],
                "sklearn_runs_s": [round(t, 3) for t in runs["sklearn"]["times_s"]],
                "cpu_s_ours": round(ours_cpu, 3),
                "cpu_s_sklearn": round(sk_cpu, 3),
                "cpu_time_ratio": round(sk_cpu / ours_cpu, 2),
                "threads": args.threads or os.cpu_count(),
                "peak_rss_mb_ours": runs["ours"]["peak_rss_mb"],
                "peak_rss_mb_sklearn": runs["sklearn"]["peak_rss_mb"],
                "rss_growth_mb_ours": runs["ours"]["growth_mb"],
                "rss_growth_mb_sklearn": runs["sklearn"]["growth_mb"],
                "device": runs["ours"]["device"],
            }
        )
    )


if __name__ == "__main__":
    main()
