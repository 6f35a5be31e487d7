"""The work one Dask task does on one shard (or one group of classes), importing numpy and
:mod:`workbench.core` only: a worker never loads torch, so its memory stays with the data.

N samples in S shards, K classes. Positions are global (the shard's offset plus the row).
Every function here is the per-shard half of a step of :mod:`workbench.sharded.engine`, which
reduces their small results. The arithmetic is the in-memory engine's
(:mod:`workbench.analysis.statistics`, :mod:`workbench.analysis.detectors.pred_probs`), in the
same dtype and order, so the masks agree bit for bit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from workbench.core import chunks
from workbench.sharded.sources import check_prob_block, load_shard

SLACK = 1e-6  # = workbench.analysis.statistics.SLACK (close-call head start)

#: A worker above this share of its memory limit returns its freed heap memory to the system
#: after each per-shard task (:func:`release_if_high`).
RELEASE_ABOVE = 0.6


def release_if_high(fraction: float = RELEASE_ABOVE) -> None:
    """After a per-shard task: when this process is a Dask worker whose resident memory is above
    ``fraction`` of its memory limit, return its freed heap memory to the system (glibc's
    ``malloc_trim``). :func:`workbench.sharded.local_cluster`'s workers keep what they free for
    the next task (``WORKER_MALLOC``); one worker holding many shards' state (a one-worker
    cluster) must not let that reach Dask's pause threshold (80% of the limit), where a lone
    worker would wait forever. Nothing outside a worker, without a limit, or without glibc."""
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ImportError, ValueError, AttributeError):
        return
    if not limit:
        return
    import psutil

    if psutil.Process().memory_info().rss > fraction * limit:
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # pragma: no cover - not glibc
            pass


# --- pass 1: row summaries -----------------------------------------------------------------------
def shard_stats(source, name: str, offset: int, k: int, check: bool = True) -> dict:
    """Read and check one shard; its row summaries, class counts and class-sorted order.

    Kept on the worker for the later passes; the class pieces go to the threshold groups.
    """
    t0 = time.perf_counter()
    d = load_shard(source, name, k, check=check, check_rows=False)
    y, p = d.labels, d.pred_probs
    # One read of each block: its values checked, then summarised while it is in the cache.
    rows, summarise = chunks.row_stats_kernel(p, y)
    for sl in chunks.iter_slices(len(y), chunks.chunk_rows(k, p.dtype.itemsize)):
        if check:
            check_prob_block(p[sl], sl.start, name, d.ids)
        summarise(sl)
    if k < 1 << 31:  # class indices kept as int32: less memory held between passes
        rows.argmax, rows.other = rows.argmax.astype(np.int32), rows.other.astype(np.int32)
    counts = np.bincount(y, minlength=k)
    order = np.argsort(y.astype(np.uint16 if k <= 1 << 16 else np.uint32), kind="stable")
    order = order.astype(np.int32) if len(y) < 1 << 31 else order
    bounds = np.concatenate([[0], np.cumsum(counts)])
    ids = d.ids if d.ids is not None else None
    release_if_high()
    return {
        "n": len(y), "offset": offset, "labels": y, "rows": rows, "counts": counts,
        "order": order, "bounds": bounds, "given_sorted": rows.given[order], "ids": ids,
        "dtype": p.dtype.str, "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def summary_of(res: dict) -> dict:
    """The small part of a pass-1 result the client needs."""
    return {"n": res["n"], "counts": res["counts"], "dtype": res["dtype"],
            "seconds": res["seconds"]}  # fmt: skip


def pick(res: dict, key: str):
    """One entry of a task's result (runs where the result lives)."""
    return res[key]


def class_pieces(res: dict, a: int, b: int):
    """Classes ``a..b-1`` of one shard: (bounds relative to the first, given probabilities in
    class-then-row order, global positions), for the threshold group of those classes."""
    bounds, lo, hi = res["bounds"], res["bounds"][a], res["bounds"][b]
    pos = res["order"][lo:hi].astype(np.int64) + res["offset"]
    return bounds[a : b + 1] - lo, res["given_sorted"][lo:hi], pos


def class_group(pieces: list, a: int, b: int) -> dict:
    """Concatenate classes ``a..b-1`` over all shards (in shard order: global index order) and
    take each class's mean given probability with numpy's summation, as the in-memory
    ``thresholds_from_sorted`` does on the same contiguous array. Raw means (float64 holding
    the input-dtype value exactly), NaN for a class with no sample."""
    given, index, means = [], [], np.full(b - a, np.nan)
    for c in range(b - a):
        vals = [g[bd[c] : bd[c + 1]] for bd, g, _ in pieces]
        pos = [q[bd[c] : bd[c + 1]] for bd, _, q in pieces]
        v = np.concatenate(vals) if vals else np.empty(0)
        given.append(v)
        index.append(np.concatenate(pos) if pos else np.empty(0, np.int64))
        if len(v):
            means[c] = np.mean(v)
    return {"means": means, "given": given, "index": index}


def class_sizes(group: dict) -> np.ndarray:
    return np.array([len(v) for v in group["given"]], np.int64)


# --- pass 2: confident joint ---------------------------------------------------------------------
def close_call(labels, rows: chunks.RowStats) -> np.ndarray:
    """Boolean (n,): the given label is the prediction once it gets a 1e-6 head start (the
    rule of ``workbench.analysis.statistics.Statistics.close_call``)."""
    y, a, m = labels, rows.argmax, rows.max
    boosted = rows.given + rows.given.dtype.type(SLACK)
    return (a == y) | ((a < y) & (boosted > m)) | ((a > y) & (boosted >= m))


def shard_joint(source, res: dict, thresholds: np.ndarray, name: str, k: int) -> dict:
    """Confident-joint class of every row (``chunks.confident_classes`` with the thresholds
    minus the slack), the close calls, and the shard's (true * K + given) cell counts."""
    t0 = time.perf_counter()
    p = load_shard(source, name, k, check=False).pred_probs
    y, rows = res["labels"], res["rows"]
    counted, guess = chunks.confident_classes(p, y, rows, thresholds, workers=1)
    guess = guess.astype(np.int32) if k < 1 << 31 else guess
    close = close_call(y, rows)
    off = counted & (guess != y)
    cells = np.bincount(np.where(counted, guess.astype(np.int64) * k + y, k * k),
                        minlength=k * k + 1)[:-1]  # fmt: skip
    release_if_high()
    return {
        "counted": counted, "guess": guess, "close": close, "cells": cells,
        "n_errors": int(np.count_nonzero(off & ~close)), "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def add(*parts):
    """Sum of the parts (one node of a tree reduction)."""
    total = parts[0].copy() if isinstance(parts[0], np.ndarray) else parts[0]
    for part in parts[1:]:
        total = total + part
    return total


# --- prune by class (per class group) ------------------------------------------------------------
def prune_by_class_group(group: dict, n_flag: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Per class of the group: flag the ``n_flag`` samples with the lowest given probability
    (ties straddling the cut: numpy's sort order over the class, as the in-memory engine).
    Returns sorted global positions."""
    out = []
    for c, (vals, idx) in enumerate(zip(group["given"], group["index"], strict=True)):
        n = int(n_flag[c])
        if not eligible[c] or n < 1:
            continue
        if n >= len(vals):
            out.append(idx)
            continue
        cut = np.partition(vals, n - 1)[n - 1]
        below = vals <= cut
        if np.count_nonzero(below) == n:
            out.append(idx[below])
        else:
            out.append(idx[np.argsort(vals)[:n]])
    return np.sort(np.concatenate(out)) if out else np.empty(0, np.int64)


def whole_classes(group: dict, classes) -> np.ndarray:
    """Global positions of every sample of the given classes (group-relative)."""
    parts = [group["index"][c] for c in classes]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


# --- prune by noise rate (per shard: ranked probes, then every margin above a floor) ------------
def _class_runs(cells: np.ndarray):
    """(class, first, end) of each run of ``cells`` (C, >=1) sorted by their class column 0."""
    if len(cells) and (np.diff(cells[:, 0]) < 0).any():
        raise ValueError("cells must be sorted by class.")
    classes, starts = np.unique(cells[:, 0], return_index=True)
    return zip(classes, starts, np.r_[starts[1:], len(cells)], strict=True)


def shard_probes(source, res: dict, cells: np.ndarray, ranks: np.ndarray, name: str, k: int):
    """For each requested cell (given class ``cells[i, 0]``, column ``j = cells[i, 1]``): the
    ``ranks[i, q]``-th largest margin ``p[j] - p[given]`` among the shard's samples given that
    class (``ranks`` (C, P) ascending along a row, 1 <= rank <= the class's rows in the shard).

    As in the in-memory engine, margins are first computed only for the candidates with the
    largest best-other margin ``g = max_{j != given} p[j] - p[given]`` (every margin of a sample
    is at most its ``g``, also after rounding): a column whose deepest probe reaches the
    candidates' cut is exact; the others are computed over the whole class.

    Returns ``(C, P)`` values in the input dtype (the engine's lower bounds on each cell's cut,
    :func:`workbench.sharded.engine.probe_floors`, come from them).
    """
    p = load_shard(source, name, k, check=False).pred_probs
    bounds, order, given = res["bounds"], res["order"], res["given_sorted"]
    other_max = res["rows"].other_max
    out = np.empty(ranks.shape, p.dtype)
    for cls, a, b in _class_runs(cells):
        lo, hi = bounds[cls], bounds[cls + 1]
        out[a:b] = _ranked(p, order[lo:hi], given[lo:hi], other_max, cells[a:b, 1], ranks[a:b])
    release_if_high()
    return out


def _descending_top(margins, depth) -> np.ndarray:
    """The ``depth`` largest values of every row of ``margins`` (C, n), largest first."""
    n = margins.shape[1]
    top = np.partition(margins, n - depth, axis=1)[:, n - depth :] if depth < n else margins
    return np.sort(top, axis=1)[:, ::-1]


def _ranked(p, pos, sk, other_max, cols, ranks) -> np.ndarray:
    """:func:`shard_probes` for one class: ``(len(cols), P)`` ranked margins."""
    n_k, deepest = len(pos), ranks[:, -1]
    out = np.empty(ranks.shape, p.dtype)
    todo = np.ones(len(cols), bool)
    size = min(n_k, int(1.5 * deepest.sum()) + 64)
    if size < n_k:
        g = np.take(other_max, pos) - sk
        gcut = np.partition(g, n_k - size)[n_k - size]
        cand = np.flatnonzero(g >= gcut)
        fit = np.flatnonzero(deepest <= len(cand))
        if fit.size:
            margins = _margins(p, pos[cand], sk[cand], cols[fit])
            top = _descending_top(margins, int(deepest[fit].max()))
            vals = np.take_along_axis(top, ranks[fit] - 1, axis=1)
            # Exact where the deepest probe reaches the candidates' cut: every other sample's
            # margins are below it.
            ok = vals[:, -1] >= gcut
            out[fit[ok]] = vals[ok]
            todo[fit[ok]] = False
    if todo.any():
        top = _descending_top(_margins(p, pos, sk, cols[todo]), int(deepest[todo].max()))
        out[todo] = np.take_along_axis(top, ranks[todo] - 1, axis=1)
    return out


def shard_above(source, res: dict, cells: np.ndarray, floors: np.ndarray, name: str, k: int,
                cell_ids: np.ndarray | None = None):  # fmt: skip
    """For each requested cell (given class ``cells[i, 0]``, column ``cells[i, 1]``): every
    margin ``p[j] - p[given]`` of the shard's samples given that class at or above
    ``floors[i]``, with its global position.

    Returns ``{"lengths": (C,), "values", "positions", "keys"}``, the entries of cell ``i``
    being the ``lengths[i]`` after those of the cells before it; ``keys`` (float32 input
    only, else None): :func:`cell_value_keys` of (``cell_ids[i]``, value), sorted. The engine
    gathers only the keys (to find each cell's exact cut); the positions stay on the worker
    for :func:`shard_outputs`.
    """
    p = load_shard(source, name, k, check=False).pred_probs
    bounds, order, given = res["bounds"], res["order"], res["given_sorted"]
    other_max = res["rows"].other_max
    lengths = np.zeros(len(cells), np.int64)
    vals_out, pos_out = [], []
    for cls, a, b in _class_runs(cells):
        lo, hi = bounds[cls], bounds[cls + 1]
        pos, sk = order[lo:hi], given[lo:hi]
        vals, rows, lengths[a:b] = _above(p, pos, sk, other_max, cells[a:b, 1], floors[a:b])
        vals_out.append(vals)
        pos_out.append(pos[rows])
    values = np.concatenate(vals_out) if vals_out else np.empty(0, p.dtype)
    positions = (np.concatenate(pos_out).astype(np.int64) + res["offset"] if pos_out
                 else np.empty(0, np.int64))  # fmt: skip
    keys = None
    if values.dtype == np.float32:
        ids = np.arange(len(cells)) if cell_ids is None else np.asarray(cell_ids)
        keys = np.sort(cell_value_keys(np.repeat(ids, lengths), values))
    release_if_high()
    return {"lengths": lengths, "values": values, "positions": positions, "keys": keys}


def cell_value_keys(cells, values) -> np.ndarray:
    """uint64 keys ordering by cell, then float32 value largest first (equal values, and
    -0.0 after 0.0, in no particular order); :func:`key_values` reads the values back."""
    bits = values.astype(np.float32, copy=False).view(np.uint32)
    # Order-preserving map of float32 bits to uint32 (negatives: all bits flipped; positives:
    # the sign bit set), then complemented so that the largest value comes first.
    ordered = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31))
    return (np.asarray(cells).astype(np.uint64) << np.uint64(32)) | (~ordered).astype(np.uint64)


def key_values(keys) -> np.ndarray:
    """The float32 values (as float64) of keys made by :func:`cell_value_keys`."""
    ordered = ~(np.asarray(keys) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    bits = np.where(ordered >> 31, ordered & np.uint32(0x7FFFFFFF), ~ordered)
    return bits.view(np.float32).astype(np.float64)


def above_cuts(above: dict, cuts: np.ndarray) -> np.ndarray:
    """Global positions of the entries of :func:`shard_above` at or above their cell's cut
    (``cuts`` (C,), +inf for a cell flagged otherwise)."""
    cell = np.repeat(np.arange(len(above["lengths"])), above["lengths"])
    return above["positions"][above["values"] >= cuts[cell]]


def _margins(p, pos, sk, cols) -> np.ndarray:
    """Margins ``p[pos, cols[i]] - sk`` as a C-ordered (len(cols), len(pos)) block."""
    margins = np.take(p, pos, axis=0).T[cols]
    margins -= sk
    return margins


def _above(p, pos, sk, other_max, cols, floors):
    """Margins ``p[pos, cols[i]] - sk`` at or above ``floors[i]``: ``(values, rows, lengths)``,
    column after column, rows (indexing ``pos``) ascending within a column."""
    low = floors.min()
    if np.isfinite(low):  # no margin of a row exceeds its best-other margin g
        cand = np.flatnonzero(np.take(other_max, pos) - sk >= low)
    else:
        cand = np.arange(len(pos))
    margins = _margins(p, pos[cand], sk[cand], cols)
    flat = np.flatnonzero(margins >= floors[:, None])
    col, row = np.divmod(flat, margins.shape[1])
    lengths = np.bincount(col, minlength=len(margins))
    return margins.reshape(-1)[flat], cand[row], lengths


def shard_column(source, res: dict, cls: int, j: int, name: str, k: int):
    """Margins ``p[j] - p[cls]`` of every sample given ``cls`` in the shard (row order) with
    their global positions: one column of a tied cell, ranked whole by the engine."""
    p = load_shard(source, name, k, check=False).pred_probs
    lo, hi = res["bounds"][cls], res["bounds"][cls + 1]
    pos = res["order"][lo:hi]
    return p[pos, j] - res["given_sorted"][lo:hi], pos.astype(np.int64) + res["offset"]


# --- the per-sample outputs ----------------------------------------------------------------------
def shard_dynamics(source, labels: np.ndarray, n_classes: int) -> dict:
    """Training-dynamics noise scores of one shard (higher = more likely mislabeled), from the
    public functions of :mod:`workbench.analysis.detectors.trajectories` (imported here only:
    a shard with trajectories brings torch into its worker): ``aum`` = -AUM,
    ``forgetting_events``, ``first_learned_epoch`` = epoch / E, ``datamap_confidence`` =
    1 - mean given-label probability, ``datamap_variability`` (ambiguity, not an error score)."""
    read = getattr(source, "read_trajectories", None)
    traj = read() if read is not None else {}
    if not traj:
        return {}
    from workbench.analysis.detectors import trajectories as tr

    out = {}
    for kind, arr in traj.items():
        if arr.shape[0] != len(labels) or arr.ndim != 2:
            raise ValueError(
                f"shard {getattr(source, 'name', '?')!r}: trajectory {kind!r} must have shape "
                f"({len(labels)}, E), found {arr.shape}."
            )
    if "margin" in traj:
        out["aum"] = -tr.area_under_margin(np.asarray(traj["margin"]))
    if "predicted" in traj:
        pred = np.asarray(traj["predicted"])
        out["forgetting_events"] = tr.forgetting_events(pred, labels).astype(np.float64)
        out["first_learned_epoch"] = tr.first_learned_epoch(pred, labels) / pred.shape[1]
    if "given_prob" in traj:
        conf, var = tr.datamap_statistics(np.asarray(traj["given_prob"]))
        out["datamap_confidence"], out["datamap_variability"] = 1.0 - conf, var
    return out


def shard_outputs(
    res: dict, res2: dict, flagged: dict, primary: str, folder: str | None, part: str,
    class_names, with_masks: bool, source=None, low: dict | None = None,
    extra: dict | None = None, rate=None,
) -> dict:  # fmt: skip
    """Masks of every rule for one shard, the per-sample scores and suggested labels; writes
    ``<folder>/part-<part>.parquet`` keyed by id. ``flagged`` maps a rule to the shard's
    flagged global positions (sorted); ``rate`` = (a :func:`shard_above` result, its cells'
    cuts) adds the entries at or above their cut to ``prune_by_noise_rate``; ``low`` the
    ``low_*`` rules' masks (n,) (not limited by the close calls, as in memory); ``extra`` more
    columns (n,) of the other detectors (:mod:`workbench.sharded.detectors`)."""
    n, offset = res["n"], res["offset"]
    y, rows = res["labels"], res["rows"]
    keep = ~res2["close"]
    masks = {}
    for rule, idx in flagged.items():
        m = np.zeros(n, bool)
        m[np.asarray(idx, np.int64) - offset] = True
        if rule == "prune_by_noise_rate" and rate is not None:
            m[above_cuts(*rate) - offset] = True
        masks[rule] = m & keep
    off = res2["counted"] & (res2["guess"] != y)
    masks["confident_learning"] = off & keep
    masks["predicted_neq_given"] = (rows.argmax != y) & keep
    if "prune_by_class" in masks and "prune_by_noise_rate" in masks:
        masks["both"] = masks["prune_by_class"] & masks["prune_by_noise_rate"]
    masks.update(low or {})
    # Noise scores (higher = more suspicious), the in-memory arithmetic and dtype.
    margin = 1.0 - ((rows.given - rows.other_max + 1) / 2).astype(np.float64)
    self_conf = 1.0 - rows.given.astype(np.float64)
    flags = masks[primary]
    suggested = rows.argmax.astype(np.int64)
    swap = flags & (suggested == y)
    suggested[swap] = rows.other[swap]
    suggested[off] = res2["guess"][off]
    positions = np.arange(offset, offset + n, dtype=np.int64)
    ids = res["ids"] if res["ids"] is not None else positions
    frame = {
        "id": ids, "position": positions, "label": y, "suggested_label": suggested,
        "score": margin + flags, "normalized_margin": margin, "self_confidence": self_conf,
    }  # fmt: skip
    for rule in sorted(masks):
        frame[f"flag_{rule}"] = masks[rule]
    dynamics = shard_dynamics(source, y, len(res["counts"])) if source is not None else {}
    frame |= dynamics
    frame |= extra or {}
    n_rules = np.zeros(n, np.int8)
    for m in masks.values():
        n_rules += m
    frame["n_flagging_rules"] = n_rules
    if class_names is not None:
        names = np.asarray(class_names, dtype=object)
        frame["label_name"] = names[y]
        frame["suggested_label_name"] = names[suggested]
    if folder is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from workbench.core.atomic import atomic_file

        table = pa.table(frame)
        # Dictionary pages only for the class names: on unique floats and ids pyarrow builds a
        # dictionary, finds it too large and falls back, at 3x the cost of the whole write.
        words = [c for c in ("label_name", "suggested_label_name") if c in frame]
        with atomic_file(Path(folder) / f"part-{part}.parquet", make_folder=True) as f:
            pq.write_table(table, f, use_dictionary=words or False)
    release_if_high()
    out = {
        "counts": {r: int(np.count_nonzero(m)) for r, m in masks.items()},
        "by_class": np.bincount(y[flags], minlength=len(res["counts"])),
    }
    if with_masks:
        out["masks"] = {r: np.flatnonzero(m) + offset for r, m in masks.items()}
        out["scores"] = margin
        out["dynamics"] = dynamics
    return out


def shard_rows(source, res: dict, positions: np.ndarray, name: str, k: int):
    """``pred_probs`` rows at the given global positions of one shard (for a bounded view)."""
    p = load_shard(source, name, k, check=False).pred_probs
    local = np.asarray(positions, np.int64) - res["offset"]
    return np.take(p, local, axis=0)


def write_npy_part(source, name: str, k: int, folder: str, part: str) -> int:
    """Read one shard and write it as ``labels-<part>.npy`` / ``pred_probs-<part>.npy`` (and
    ``ids-<part>.npy``) in ``folder``, each file atomically; returns the rows written."""
    from workbench.core.atomic import atomic_file

    d = load_shard(source, name, k, check=False)
    arrays = {"labels": d.labels, "pred_probs": d.pred_probs}
    if d.ids is not None:
        arrays["ids"] = np.asarray(d.ids)
    for key, arr in arrays.items():
        with atomic_file(Path(folder) / f"{key}-{part}.npy") as f:
            np.save(f, arr, allow_pickle=False)
    return len(d.labels)


# --- views and decisions -------------------------------------------------------------------------
def view_part(path: str, rule: str, rates: np.ndarray, seed: int, index: int):
    """One shard's rows of a bounded view: every row flagged by ``rule`` plus each unflagged
    row of class ``k`` with probability ``rates[k]`` (``default_rng([seed, index])``);
    ``weight`` = the samples of the shard each row stands for."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    flag = table.column(f"flag_{rule}").to_numpy()
    label = table.column("label").to_numpy()
    rng = np.random.default_rng([seed, index])
    keep = flag | (rng.random(len(label)) < rates[label])
    out = table.filter(keep).to_pandas()  # only the kept rows become pandas
    rate = rates[out["label"].to_numpy()]
    out["weight"] = np.where(out[f"flag_{rule}"].to_numpy(), 1.0,
                             1.0 / np.where(rate > 0, rate, 1.0))  # fmt: skip
    return out


def label_frame(source, name: str, offset: int, k: int):
    """``id, position, label`` of one shard (ids in their own dtype; positions when the shard
    has none)."""
    import pandas as pd

    d = load_shard(source, name, k, check=False)
    pos = np.arange(offset, offset + len(d.labels), dtype=np.int64)
    ids = np.asarray(d.ids) if d.ids is not None else pos
    return pd.DataFrame({"id": ids, "position": pos, "label": d.labels})


def clean_part(source, name: str, offset: int, k: int, decisions, folder: str, part: str):
    """One shard's side of the broadcast join: its ``id, position, label`` merged (left join
    by id) with the whole ``decisions`` table (``id, action, new_label``, small), written by
    :func:`write_clean_part`. Ids are compared in the shard's id dtype when the decisions'
    ids convert to it exactly, as Python objects otherwise."""
    frame = label_frame(source, name, offset, k)
    dec = decisions
    kind = frame["id"].dtype.kind
    if kind in "iu" and dec["id"].dtype.kind not in "iu":
        as_int = _as_int_ids(dec["id"])
        dec = dec.assign(id=as_int) if as_int is not None else dec
    if frame["id"].dtype != dec["id"].dtype:
        frame, dec = frame.astype({"id": object}), dec.astype({"id": object})
    return write_clean_part(frame.merge(dec, on="id", how="left"), folder, part)


def _as_int_ids(ids):
    """The ids as int64 when every one is an integer value (3, 3.0, numpy ints), else None."""
    try:
        arr = np.asarray(ids)
        as_int = arr.astype(np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    if arr.dtype.kind not in "iufb" and not all(isinstance(x, (int, np.integer)) for x in arr):
        return None
    return as_int if np.array_equal(as_int, arr) else None


def write_clean_part(frame, folder: str, part: str) -> dict:
    """Apply the joined decisions of one shard and write ``<folder>/part-<part>.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.core.atomic import atomic_file

    action = frame["action"].fillna("").to_numpy(dtype=object)
    removed = action == "remove"
    relabel = action == "relabel"
    label = frame["label"].to_numpy().copy()
    label[relabel] = frame["new_label"].to_numpy()[relabel].astype(np.int64)
    out = frame.assign(given_label=frame["label"], label=label, action=action)
    out = out.loc[~removed, ["id", "position", "label", "given_label", "action"]]
    out = out.sort_values("position", kind="stable")
    if out["id"].dtype == object:  # mixed Python objects: written as their text
        out = out.astype({"id": str})
    table = pa.Table.from_pandas(out, preserve_index=False)
    with atomic_file(Path(folder) / f"part-{part}.parquet", make_folder=True) as f:
        pq.write_table(table, f)
    return {"kept": int(len(out)), "removed": int(removed.sum()),
            "relabelled": int(relabel.sum()), "matched": int((action != "").sum())}  # fmt: skip
