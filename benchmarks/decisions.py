"""Benchmark: decisions stored as they are made, at N = 1,000,000.

1. ``autosave_overhead``: 3,000 single-sample decisions with a SQLite store against the same
   decisions kept in memory only, ``(with / without) - 1`` (target <= 1.0). Both are timed in
   ``--rounds`` paired rounds (in memory, then SQLite, each on a fresh log) and the medians
   compared, so a busy machine slows both alike. ``ms_per_decision`` is the SQLite median.
2. ``lost``: two processes each write 1,500 decisions into one SQLite store at the same time;
   the decisions missing afterwards (target 0).
3. ``reopen_s``: opening a store of 3,000 steps at N = 1,000,000 (target <= 0.5 s), median of
   ``--rounds``.
4. ``bulk_store_s`` and ``bulk_reopen_s``: one decision step over all N samples (a per-sample
   score, one action) stored, then the store reopened (target: each well under 1 s), median of
   ``--rounds``; a bulk step is one row of binary arrays (``workbench.decisions.store``).
5. The same against PostgreSQL (a throwaway server from ``tests/_postgres.py``) when the
   server binaries are installed: reported, no target.

Run: ``.venv/bin/python benchmarks/decisions.py [--n 1000000] [--decisions 3000] [--rounds 5]
[--no-postgres]``. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.decisions.log import DecisionLog

HERE = Path(__file__).resolve().parent
CLASSES = [f"class {k}" for k in range(10)]

WRITER = """
import sys
import numpy as np
from workbench.decisions.log import DecisionLog
n, count, start, user = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
where = {"url": sys.argv[5]} if sys.argv[5].startswith("postgresql") else {"path": sys.argv[5]}
log = DecisionLog(n, [f"class {k}" for k in range(10)], user=user, busy_timeout=120,
                  table_prefix=sys.argv[6], **where)
print("ready", flush=True)
sys.stdin.readline()
for i in range(start, start + count):
    log.decide(i, "remove" if i % 2 else "keep", score=0.5, detector="bench")
print("done", flush=True)
"""


def _decide_all(log: DecisionLog, indices: np.ndarray) -> float:
    t = time.perf_counter()
    for i in indices.tolist():
        log.decide(i, "remove", score=0.5, detector="bench", threshold=("score", 0.5))
    return time.perf_counter() - t


def overhead(n: int, count: int, rounds: int, store) -> dict:
    """Median seconds for ``count`` decisions in memory and with ``store(k)`` (a dict of
    DecisionLog options for round k)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CLASSES), n)
    indices = rng.choice(n, count, replace=False)
    mem, stored = [], []
    for k in range(rounds):
        mem.append(_decide_all(DecisionLog(n, CLASSES, labels=labels), indices))
        log = DecisionLog(n, CLASSES, labels=labels, **store(k))
        stored.append(_decide_all(log, indices))
        log.close()
    m, s = statistics.median(mem), statistics.median(stored)
    return {
        "autosave_overhead": round(s / m - 1, 3),
        "ms_per_decision": round(1000 * s / count, 4),
        "ms_per_decision_in_memory": round(1000 * m / count, 4),
        "in_memory_s": [round(t, 3) for t in mem],
        "with_store_s": [round(t, 3) for t in stored],
    }


def concurrent(n: int, per_process: int, where: str, prefix: str) -> dict:
    DecisionLog(n, CLASSES, busy_timeout=120, table_prefix=prefix,
                **({"url": where} if where.startswith("postgresql") else {"path": where})).close()  # fmt: skip
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(n),
                str(per_process),
                str(start),
                user,
                where,
                prefix,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for user, start in (("ada", 0), ("bob", per_process))
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    t = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - t
    log = DecisionLog(n, CLASSES, table_prefix=prefix,
                      **({"url": where} if where.startswith("postgresql") else {"path": where}))  # fmt: skip
    stored = set(log.log["index"].tolist())
    log.close()
    lost = 2 * per_process - len(stored & set(range(2 * per_process)))
    return {"lost": int(lost), "exit_codes": codes, "concurrent_s": round(seconds, 3)}


def reopen(n: int, count: int, rounds: int, where: dict) -> dict:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, len(CLASSES), n)
    log = DecisionLog(n, CLASSES, labels=labels, **where)
    for i in rng.choice(n, count, replace=False).tolist():
        log.decide(i, "remove", score=0.5, detector="bench")
    log.close()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        again = DecisionLog(n, CLASSES, labels=labels, **where)
        times.append(time.perf_counter() - t)
        assert len(again) == count
        again.close()
    return {
        "reopen_s": round(statistics.median(times), 3),
        "reopen_runs_s": [round(t, 3) for t in times],
    }


def bulk(n: int, rounds: int, where) -> dict:
    """Median seconds to store one step over all ``n`` samples and to reopen its store;
    ``where(k)``: DecisionLog options of a fresh store for round k."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, len(CLASSES), n)
    scores = rng.random(n)
    every = np.arange(n)
    store, reopen_s = [], []
    for k in range(rounds):
        log = DecisionLog(n, CLASSES, labels=labels, **where(k))
        t = time.perf_counter()
        log.decide(every, "remove", score=scores, detector="bench", threshold=("score", 0.5))
        store.append(time.perf_counter() - t)
        log.close()
        t = time.perf_counter()
        again = DecisionLog(n, CLASSES, labels=labels, **where(k))
        reopen_s.append(time.perf_counter() - t)
        assert len(again) == n and again.counts()["remove"] == n
        again.close()
    return {
        "bulk_store_s": round(statistics.median(store), 3),
        "bulk_reopen_s": round(statistics.median(reopen_s), 3),
        "bulk_store_runs_s": [round(t, 3) for t in store],
        "bulk_reopen_runs_s": [round(t, 3) for t in reopen_s],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--decisions", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    out: dict = {"n": args.n, "decisions": args.decisions, "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sqlite = overhead(args.n, args.decisions, args.rounds,
                          lambda k: {"path": folder / f"overhead{k}.db"})  # fmt: skip
        sqlite.update(concurrent(args.n, args.decisions // 2, str(folder / "two.db"), "wb_"))
        sqlite.update(reopen(args.n, args.decisions, args.rounds, {"path": folder / "big.db"}))
        sqlite.update(bulk(args.n, args.rounds, lambda k: {"path": folder / f"bulk{k}.db"}))
        out["sqlite"] = sqlite
        print("sqlite", json.dumps(sqlite), flush=True)
    out["targets_met"] = {
        "autosave_overhead<=1.0": sqlite["autosave_overhead"] <= 1.0,
        "lost==0": sqlite["lost"] == 0,
        "reopen_s<=0.5": sqlite["reopen_s"] <= 0.5,
        "bulk_store_s<1": sqlite["bulk_store_s"] < 1.0,
        "bulk_reopen_s<1": sqlite["bulk_reopen_s"] < 1.0,
    }
    if not args.no_postgres:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from _postgres import postgres_server, why_unavailable

        reason = why_unavailable()
        if reason is not None:
            out["postgres"] = {"skipped": reason}
        else:
            with postgres_server() as server:
                pg = overhead(args.n, args.decisions, args.rounds,
                              lambda k: {"url": server.url, "table_prefix": f"o{k}_"})  # fmt: skip
                pg.update(concurrent(args.n, args.decisions // 2, server.url, "c_"))
                pg.update(reopen(args.n, args.decisions, args.rounds,
                                 {"url": server.url, "table_prefix": "r_"}))  # fmt: skip
                pg.update(bulk(args.n, args.rounds,
                               lambda k: {"url": server.url, "table_prefix": f"b{k}_"}))  # fmt: skip
                out["postgres"] = pg
                print("postgres", json.dumps(pg), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
