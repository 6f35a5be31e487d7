"""Confident learning over shards on Dask, with the masks of the in-memory engine.

N samples in S shards, K classes; ``pred_probs`` out-of-sample. The steps follow the in-memory
engine (:mod:`workbench.analysis.statistics`, then the per-sample pass of
:func:`workbench.analysis.detectors.pred_probs.find_label_issues`), each split into per-shard
tasks and small reductions (the per-shard halves are in :mod:`workbench.sharded._tasks`):

1. **row summaries** per shard (given-label probability, argmax, best other class), checked
   while read; class counts by a tree reduction;
2. **per-class thresholds**: each class's given probabilities gathered from all shards in
   order (4 bytes a sample, in G class groups) and averaged with numpy's own summation, so
   every threshold is the in-memory one to the last bit;
3. **confident joint** per shard (the thresholds broadcast), summed by a tree reduction;
   calibration and the prune counts (K×K) on the client with the public
   :func:`~workbench.analysis.statistics.calibrate_joint` and
   :func:`~workbench.analysis.statistics.keep_at_least`;
4. **prune by class** in the class groups (the class's values in index order: same cut, same
   tie order); **prune by noise rate** as per-shard top-m per (given, true) cell, merged: a cell
   whose shards each returned all their candidates above the merged cut is exact; the others
   ask the shards that may hide some for more (at most once more); a cell whose cut is tied
   ranks its whole column with numpy's sort, exactly as the in-memory engine;
5. **per-sample outputs** per shard: the mask of every ``filter_by``, noise scores (higher =
   more likely mislabeled), suggested labels, written as Parquet parts keyed by id.

Results: :class:`ShardedAuditResult`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.analysis.statistics import (
    FILTERS,
    MIN_THRESHOLD,
    MISSING_THRESHOLD,
    SLACK,
    calibrate_joint,
    keep_at_least,
    set_removals,
)
from workbench.sharded import _tasks
from workbench.sharded.cluster import DEFAULT_MEMORY_LIMIT, cluster_client, wait_for
from workbench.sharded.dataset import ShardedDataset
from workbench.sharded.detectors import run_sharded_detectors
from workbench.sharded.reductions import submit, tree_sum

__all__ = ["FILTER_BYS", "ShardedAuditResult", "audit_sharded", "find_label_issues_sharded"]

#: The ``filter_by`` rules computed over shards: confident learning (the ``cl_*`` detectors)
#: and the ``low_*`` rules (the ``self_confidence`` / ``normalized_margin`` detectors' flags,
#: :mod:`workbench.sharded.detectors`).
FILTER_BYS = FILTERS
DETECTOR_OF = {
    "prune_by_noise_rate": "cl_prune_by_noise_rate",
    "prune_by_class": "cl_prune_by_class",
    "both": "cl_both",
    "confident_learning": "cl_confident_learning",
    "predicted_neq_given": "cl_predicted_neq_given",
    "low_normalized_margin": "normalized_margin",
    "low_self_confidence": "self_confidence",
}


def filter_by_of(primary: str | None) -> str:
    """The ``filter_by`` behind a detector name (``"cl_both"`` -> ``"both"``); None gives
    ``"prune_by_noise_rate"``. Raises ``ValueError`` for a detector that does not run on shards."""
    if primary is None:
        return "prune_by_noise_rate"
    for rule, name in DETECTOR_OF.items():
        if primary in (rule, name):
            return rule
    raise ValueError(
        f"primary={primary!r} does not run on a sharded dataset; choose from "
        f"{sorted(DETECTOR_OF.values())}."
    )


@dataclass
class ShardedAuditResult:
    """What a sharded audit found; the per-sample tables are Parquet parts in ``folder``.

    Attributes
    ----------
    n_samples, n_classes, n_shards : int
    counts : ndarray (K,)
        Samples per given label.
    thresholds : ndarray (K,)
        Per-class confident thresholds.
    confident_joint : ndarray (K, K), int
        Calibrated confident joint, rows = given label.
    estimated_num_errors : int
    flagged : dict
        Flagged samples per ``filter_by``.
    primary : str
        The ``filter_by`` whose flags make ``flag`` / ``score`` / suggested labels.
    folder : Path or None
        ``<folder>/scores/part-*.parquet``: one row per sample, keyed by ``id``;
        ``<folder>/summary.json``: counts, thresholds, confident joint, timings.
    timings : dict
        Seconds per step (``detectors``: the wait for the detectors beyond the prune steps,
        which run beside them); ``shard_seconds``: seconds of pass 1 per shard.
    masks : dict or None
        Flagged global positions per rule (only with ``collect_masks=True``).
    dynamics : dict or None
        Training-dynamics noise scores (N,) by name, when every shard carries trajectories
        (only with ``collect_masks=True``; always in the Parquet parts).
    detectors : dict
        The detectors beyond the ``filter_by`` rules that the inputs allowed (annotator and
        kNN detectors, :mod:`workbench.sharded.detectors`): name ->
        :class:`~workbench.sharded.detectors.ShardedDetectorResult` (whole-dataset numbers;
        per-sample arrays only with ``collect_masks=True``; always the Parquet columns
        ``<name>``, ``flag_<name>``, ``suggested_<name>``).
    unavailable : dict
        Detectors that did not run, and why (their input is missing).
    """

    n_samples: int
    n_classes: int
    n_shards: int
    counts: np.ndarray
    thresholds: np.ndarray
    confident_joint: np.ndarray
    estimated_num_errors: int
    flagged: dict
    flagged_by_class: np.ndarray
    primary: str
    folder: Path | None
    class_names: list | None = None
    timings: dict = field(default_factory=dict)
    shard_seconds: list = field(default_factory=list)
    masks: dict | None = None
    scores: np.ndarray | None = None
    dynamics: dict | None = None
    detectors: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)

    def mask(self, filter_by: str = "prune_by_noise_rate") -> np.ndarray:
        """Boolean (N,) mask of ``filter_by`` (from the collected masks or the Parquet parts)."""
        if filter_by not in FILTER_BYS:
            raise ValueError(f"filter_by must be one of {list(FILTER_BYS)}, found {filter_by!r}.")
        out = np.zeros(self.n_samples, bool)
        if self.masks is not None:
            out[self.masks[filter_by]] = True
            return out
        frame = self.frame(columns=["position", f"flag_{filter_by}"])
        out[frame["position"].to_numpy()] = frame[f"flag_{filter_by}"].to_numpy()
        return out

    def frame(self, columns=None):
        """The whole per-sample table (pandas; all N rows: for a bounded look use
        :meth:`flagged_frame` or :func:`workbench.sharded.bounded_view`)."""
        import pandas as pd

        if self.folder is None:
            raise ValueError("this audit wrote no tables (out=None and collect only).")
        return pd.read_parquet(self.folder / "scores", columns=columns)

    def flagged_frame(self, filter_by: str | None = None):
        """The flagged samples of ``filter_by`` (default the primary rule), most suspicious
        first; reads only those rows' columns shard by shard."""
        import pyarrow.dataset as pads

        rule = filter_by or self.primary
        data = pads.dataset(str(self.folder / "scores"), format="parquet")
        table = data.to_table(filter=pads.field(f"flag_{rule}"))
        return table.to_pandas().sort_values("score", ascending=False, kind="stable")

    def summary(self) -> dict:
        return {
            "n_samples": self.n_samples, "n_classes": self.n_classes, "n_shards": self.n_shards,
            "estimated_num_errors": self.estimated_num_errors, "flagged": dict(self.flagged),
            "primary": self.primary, "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "detectors": {name: r.n_flagged for name, r in self.detectors.items()},
            "unavailable": dict(self.unavailable),
        }  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"ShardedAuditResult(n_samples={self.n_samples:,}, n_shards={self.n_shards}, "
            f"flagged={self.flagged[self.primary]:,} by {self.primary}, "
            f"folder={str(self.folder)!r})"
        )


def _groups(k: int, n_shards: int, n_workers: int = 8) -> list[tuple[int, int]]:
    """Contiguous class ranges for the class-group tasks (S × G small pieces in all): two per
    worker (at most 16, and S × G at most about 4096)."""
    g = max(1, min(k, 16, 2 * max(1, n_workers), max(2, 4096 // max(1, n_shards))))
    bounds = np.linspace(0, k, g + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _check_options(frac_noise, min_examples, primary):
    if isinstance(frac_noise, bool) or not isinstance(frac_noise, (int, float, np.number)):
        raise TypeError(f"frac_noise must be a number in (0, 1], found {frac_noise!r}.")
    if not 0 < frac_noise <= 1:
        raise ValueError(f"frac_noise must lie in (0, 1], found {frac_noise!r}.")
    if (
        isinstance(min_examples, bool)
        or not isinstance(min_examples, (int, np.integer))
        or min_examples < 0
    ):
        raise ValueError(f"min_examples_per_class must be an integer >= 0, found {min_examples!r}.")
    if primary not in FILTER_BYS:
        raise ValueError(f"primary must be one of {list(FILTER_BYS)}, found {primary!r}.")


# --- the audit -------------------------------------------------------------------------------------
def audit_sharded(
    dataset: ShardedDataset,
    *,
    client=None,
    scheduler: str | None = None,
    out=None,
    primary: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    num_to_remove_per_class=None,
    n_workers: int | None = None,
    memory_limit=DEFAULT_MEMORY_LIMIT,
    processes: bool = True,
    progress: bool = True,
    check: bool = True,
    collect_masks: bool = False,
    verbose: bool = True,
    detectors=None,
    detector_options: dict | None = None,
) -> ShardedAuditResult:
    """Audit a sharded dataset on Dask: confident learning with every ``filter_by`` of
    :data:`FILTER_BYS` (masks identical to the in-memory ``find_label_issues``), noise scores
    and suggested labels, written as Parquet parts keyed by sample id.

    Parameters
    ----------
    dataset : ShardedDataset
    client : distributed.Client, optional
        Run on this cluster. Without ``client`` or ``scheduler`` a ``LocalCluster`` (one worker
        per core, ``memory_limit`` each) starts for the audit and is closed after.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``).
    out : str or Path, optional
        Folder for ``scores/part-*.parquet`` (one per shard) and ``summary.json``; workers write
        there, so on a cluster it must be a path every worker reaches. None writes nothing
        (use ``collect_masks=True`` to get the masks back).
    primary : one of :data:`FILTER_BYS`, default="prune_by_noise_rate"
        The rule behind ``score`` (normalized margin + 1 when flagged) and suggested labels.
    frac_noise, min_examples_per_class, num_to_remove_per_class
        As in ``find_label_issues`` (one int or K ints for the last).
    progress : bool
        Dask's progress bar in a notebook, tqdm in a terminal.
    check : bool, default=True
        Check every shard as it is read (errors name the shard and row).
    collect_masks : bool, default=False
        Also return each rule's flagged positions (O(flagged) memory on the client), and the
        other detectors' per-sample arrays.
    detectors : sequence of str, optional
        Which of the detectors beyond the ``filter_by`` rules to run (``annotator_agreement``,
        ``dawid_skene``, ``knn_disagreement``, ``knn_outlier``); default: every one the
        shards' inputs allow (``annotators``, ``features``: :mod:`workbench.sharded.extras`).
    detector_options : dict, optional
        Their options by input: ``{"features": {"k": 5}, "annotators": {"threshold": 0.4}}``.

    Returns
    -------
    ShardedAuditResult
    """
    if not isinstance(dataset, ShardedDataset):
        raise TypeError(
            f"dataset must be a workbench.sharded.ShardedDataset, found {type(dataset).__name__}."
        )
    _check_options(frac_noise, min_examples_per_class, primary)
    remove = None
    if num_to_remove_per_class is not None:
        k = dataset.n_classes
        remove = np.asarray(num_to_remove_per_class)
        if remove.ndim == 0 and remove.dtype.kind in "iu":  # one count for every class
            remove = np.full(k, remove, dtype=np.int64)
        if remove.shape != (k,) or remove.dtype.kind not in "iu" or (remove < 0).any():
            raise ValueError(
                f"num_to_remove_per_class must be an integer >= 0 or hold K={k} integers "
                f">= 0, found {num_to_remove_per_class!r}."
            )
    folder = Path(out) if out is not None else None
    if folder is not None and folder.exists() and not folder.is_dir():
        raise ValueError(f"out must be a folder, found the file {str(folder)!r}.")
    with cluster_client(
        client, scheduler=scheduler, n_workers=n_workers, memory_limit=memory_limit,
        processes=processes, verbose=verbose,
    ) as c:  # fmt: skip
        return _audit(
            c, dataset, folder, primary, float(frac_noise), int(min_examples_per_class),
            progress, check, collect_masks, remove, detectors, detector_options,
        )  # fmt: skip


def find_label_issues_sharded(
    dataset: ShardedDataset, *, filter_by: str = "prune_by_noise_rate", client=None, **kwargs
) -> np.ndarray:
    """Boolean mask (N,) of ``filter_by`` over a sharded dataset: equal to
    ``workbench.analysis.detectors.pred_probs.find_label_issues`` on the concatenated shards
    (and so to cleanlab 2.9's). Holds O(N) booleans on the client: for tests and moderate N."""
    res = audit_sharded(dataset, client=client, collect_masks=True, primary=filter_by, **kwargs)
    return res.mask(filter_by)


def _audit(c, ds, folder, primary, frac_noise, min_examples, progress, check, collect, remove,
           detectors=None, detector_options=None):  # fmt: skip
    timings: dict[str, float] = {}
    t0 = t = time.perf_counter()
    k, n_shards = ds.n_classes, ds.n_shards

    def lap(name):
        nonlocal t
        now = time.perf_counter()
        timings[name] = now - t
        t = now

    # 1. row summaries, checked as read
    r1 = [
        submit(c, _tasks.shard_stats, inp, name, int(off), k, check)
        for inp, name, off in zip(ds.inputs, ds.names, ds.offsets[:-1], strict=True)
    ]
    wait_for(r1, progress=progress, desc="read + row summaries")
    info = c.gather([c.submit(_tasks.summary_of, r) for r in r1])
    shard_counts = np.vstack([i["counts"] for i in info])
    for i, (got, want) in enumerate(zip((x["n"] for x in info), ds.lengths, strict=True)):
        if got != want:
            raise ValueError(f"shard {ds.names[i]!r} has {got} rows, {want} were expected.")
    dtypes = {i["dtype"] for i in info}
    if len(dtypes) > 1:
        raise ValueError(f"shards disagree on the pred_probs dtype: {sorted(dtypes)}.")
    dtype = np.dtype(dtypes.pop())
    counts = shard_counts.sum(axis=0)
    lap("row_summaries")

    # 2. thresholds from the class groups
    groups = _groups(k, n_shards, len(c.scheduler_info().get("workers", {})))
    grp = [
        c.submit(_tasks.class_group, [c.submit(_tasks.class_pieces, r, a, b) for r in r1], a, b)
        for a, b in groups
    ]
    means = np.concatenate(c.gather([c.submit(_tasks.pick, g, "means") for g in grp]))
    missing = np.isnan(means)
    thresholds = np.array(
        np.where(missing, MISSING_THRESHOLD, means), dtype=np.float64 if missing.any() else dtype
    )
    thresholds = np.clip(thresholds, MIN_THRESHOLD, None)
    lap("thresholds")

    # 3. confident joint
    r2 = [
        submit(c, _tasks.shard_joint, inp, r, thresholds - SLACK, name, k)
        for inp, r, name in zip(ds.inputs, r1, ds.names, strict=True)
    ]
    wait_for(r2, progress=progress, desc="confident joint")
    cells = tree_sum(c, [c.submit(_tasks.pick, r, "cells") for r in r2]).result()
    n_errors = int(sum(c.gather([c.submit(_tasks.pick, r, "n_errors") for r in r2])))
    joint = cells.reshape(k, k).T  # rows = given, column-major as in the in-memory pass
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    calibrated = calibrate_joint(joint, counts)
    prune = keep_at_least(calibrated.T, min_examples, frac_noise)
    if remove is not None:
        prune = set_removals(prune, remove, counts)
    eligible = counts > max(min_examples, 1)
    lap("confident_joint")

    # 3b. the low_* rules and the detectors the inputs allow (workbench.sharded.detectors), in
    # a thread beside the prune steps: their rounds (client, scheduler, workers) overlap.
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, "workbench-sharded-detectors")
    others_f = pool.submit(run_sharded_detectors, c, ds, r1, n_errors, detectors=detectors,
                           options=detector_options)  # fmt: skip
    pool.shutdown(wait=False)

    # 4a. prune by class, in the class groups
    n_flag = counts - np.diagonal(prune)
    by_class_f = [
        c.submit(_tasks.prune_by_class_group, g, n_flag[a:b], eligible[a:b])
        for g, (a, b) in zip(grp, groups, strict=True)
    ]
    by_class = np.sort(np.concatenate(c.gather(by_class_f)))
    lap("prune_by_class")

    # 4b. prune by noise rate: per-shard top-m, merged
    by_rate = _prune_by_noise_rate(c, ds, r1, grp, groups, prune, counts, shard_counts,
                                   eligible, progress)  # fmt: skip
    lap("prune_by_noise_rate")
    others = others_f.result()
    lap("detectors")

    # 5. per-sample outputs
    flagged = {"prune_by_noise_rate": by_rate.positions, "prune_by_class": by_class}
    outs = []
    dynamics = [bool(getattr(inp, "trajectories", ())) if hasattr(type(inp), "read") else False
                for inp in ds.inputs]  # fmt: skip
    for s in range(n_shards):
        lo, hi = ds.offsets[s], ds.offsets[s + 1]
        mine = {rule: idx[np.searchsorted(idx, lo) : np.searchsorted(idx, hi)]
                for rule, idx in flagged.items()}  # fmt: skip
        outs.append(c.submit(
            _tasks.shard_outputs, r1[s], r2[s], mine, primary,
            str(folder / "scores") if folder is not None else None, f"{s:05d}", ds.class_names, collect,
            ds.inputs[s] if dynamics[s] else None, others.low[s], others.columns[s],
            by_rate.per_shard[s], pure=False,
        ))  # fmt: skip
    wait_for(outs, progress=progress, desc="scores + tables")
    parts = c.gather(outs)
    lap("outputs")
    shard_seconds = [i["seconds"] for i in info]
    del r1, r2, grp, outs
    timings["total"] = time.perf_counter() - t0

    rules = list(parts[0]["counts"])
    res = ShardedAuditResult(
        n_samples=ds.n_samples, n_classes=k, n_shards=n_shards, counts=counts,
        thresholds=thresholds, confident_joint=calibrated, estimated_num_errors=n_errors,
        flagged={r: int(sum(p["counts"][r] for p in parts)) for r in rules},
        flagged_by_class=np.sum([p["by_class"] for p in parts], axis=0),
        primary=primary, folder=folder, class_names=ds.class_names, timings=timings,
        shard_seconds=shard_seconds, detectors=others.results, unavailable=others.unavailable,
    )  # fmt: skip
    for found in others.results.values():
        if collect:
            found.collect(c)
        found.columns = []
    if collect:
        res.masks = {r: np.concatenate([p["masks"][r] for p in parts]) for r in rules}
        res.scores = np.concatenate([p["scores"] for p in parts])
        if all(p["dynamics"] for p in parts):
            res.dynamics = {key: np.concatenate([p["dynamics"][key] for p in parts])
                            for key in parts[0]["dynamics"]}  # fmt: skip
    if folder is not None:
        _write_summary(folder, res)
    return res


def _write_summary(folder: Path, res: ShardedAuditResult) -> None:
    from workbench.core.atomic import atomic_file

    doc = res.summary() | {
        "counts": res.counts.tolist(), "thresholds": res.thresholds.tolist(),
        "confident_joint": np.asarray(res.confident_joint).tolist(),
        "flagged_by_class": res.flagged_by_class.tolist(), "class_names": res.class_names,
    }  # fmt: skip
    with atomic_file(folder / "summary.json", "w", make_folder=True) as f:
        json.dump(doc, f, indent=1)


# --- prune by noise rate ---------------------------------------------------------------------------
@dataclass
class RateFlags:
    """Where ``prune_by_noise_rate`` flags, before the close calls: ``positions`` (sorted global
    positions of whole classes and of tied cells' tops) and, per shard, ``(future of its
    shard_above entries, cut per entry cell)`` or None (entries at or above their cut)."""

    positions: np.ndarray
    per_shard: list


def _prune_by_noise_rate(c, ds, r1, grp, groups, prune, counts, shard_counts, eligible, progress):
    """:class:`RateFlags` of ``prune_by_noise_rate``."""
    whole, cell_k, cell_j, cell_n = [], [], [], []
    for cls in np.flatnonzero(eligible):
        need = prune[:, cls].astype(np.int64).copy()
        need[cls] = 0
        cols = np.flatnonzero(need > 0)
        if cols.size == 0:
            continue
        if need.max() >= counts[cls]:  # the whole class goes
            whole.append(int(cls))
            continue
        cell_k += [int(cls)] * len(cols)
        cell_j += cols.tolist()
        cell_n += need[cols].tolist()
    found = []
    for g, (a, b) in zip(grp, groups, strict=True):
        mine = [cls - a for cls in whole if a <= cls < b]
        if mine:
            found.append(c.submit(_tasks.whole_classes, g, mine))
    parts = c.gather(found) if found else []
    per_shard = [None] * len(r1)
    if cell_k:
        tied_parts, per_shard = _top_cells(c, ds, r1, np.array(cell_k), np.array(cell_j),
                                           np.array(cell_n, np.int64), counts, shard_counts,
                                           progress)  # fmt: skip
        parts += tied_parts
    positions = _sorted_unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
    return RateFlags(positions, per_shard)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` by one sort (numpy 2.4's hash-table ``unique`` takes seconds on a
    million integers)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


#: Probes of prune by noise rate: the ranks asked of a shard, as multiples of its expected share
#: of a cell's top. Four probes bound each cut within about 10-20% more values than it keeps.
PROBES = (0.75, 1.0, 1.25, 1.6)


def probe_ranks(need, n_k, n_ks) -> np.ndarray:
    """Ranks (S, C, P) asked of each shard: multiples :data:`PROBES` of its expected share
    ``need * n_ks / n_k`` of each cell's top ``need``, at least 1 and at most ``n_ks`` (0 where
    the shard holds none of the class). The deepest ranks add up to at least ``need``."""
    share = need[None, :] * (n_ks / np.maximum(n_k, 1)[None, :])
    ranks = np.ceil(share[:, :, None] * np.array(PROBES)[None, None, :]).astype(np.int64)
    ranks = np.minimum(np.maximum(ranks, 1), n_ks[:, :, None])
    return np.maximum.accumulate(ranks, axis=2)


def probe_floors(values, ranks, need) -> np.ndarray:
    """Per cell, a lower bound ``L`` of its cut (its ``need``-th largest margin over all shards)
    from every shard's probes: ``values`` (S, C, P) the ``ranks`` (S, C, P)-th largest margins
    (ranks ascending; 0 where a shard sent none).

    A shard whose ``r``-th largest is ``v`` holds at least ``r`` margins >= v, so for any x the
    cell holds at least ``sum_s max{r : v_s(r) >= x}`` margins >= x. ``L`` is the largest probe
    value at which that count reaches ``need``: at least ``need`` margins are >= L, so the cut
    is >= L. -inf where the probes never reach ``need``. Returns (C,) float64.
    """
    s, c, p = values.shape
    step = np.diff(ranks, axis=2, prepend=0).transpose(1, 0, 2).reshape(c, s * p)
    v = values.astype(np.float64).transpose(1, 0, 2).reshape(c, s * p)
    v[step == 0] = -np.inf  # a probe that adds nothing (none of the class, or a repeated rank)
    # Largest first; a shard's probes of equal value stay in rank order (stable sort).
    order = np.argsort(-v, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(step, order, axis=1), axis=1)
    reach = cum >= np.asarray(need)[:, None]
    first = reach.argmax(axis=1)
    at = np.take_along_axis(np.take_along_axis(v, order, axis=1), first[:, None], axis=1)[:, 0]
    return np.where(reach.any(axis=1), at, -np.inf)


def _top_cells(c, ds, r1, kk, jj, need, counts, shard_counts, progress):
    """The flags of every (given ``kk``, true ``jj``) cell's top ``need`` margins, over shards.

    Round 1: each shard sends a few ranked margins of each cell (:func:`probe_ranks`, about
    its expected share of the top): a lower bound ``L`` of each cut (:func:`probe_floors`).
    Round 2: each shard finds every margin at or above ``L`` (about 10-20% more than the cell
    keeps) and sends the values only; the ``need``-th largest of their union is the cell's
    exact cut. The positions stay on the workers: each shard flags its own entries at or above
    the cut while writing its outputs. A cell whose cut is tied with the next value ranks its
    whole column with numpy's sort, exactly as the in-memory engine.

    Returns (positions of the tied cells' tops, per shard (its shard_above future, cut per
    cell it was asked) or None).
    """
    n_shards = len(r1)
    nks = shard_counts[:, kk]  # (S, C)
    cells = np.column_stack([kk, jj])
    asked = {s: np.flatnonzero(nks[s] > 0) for s in range(n_shards)}
    asked = {s: cid for s, cid in asked.items() if cid.size}
    ranks = probe_ranks(need, counts[kk], nks)
    futs = {s: submit(c, _tasks.shard_probes, ds.inputs[s], r1[s], cells[cid], ranks[s, cid],
                       ds.names[s], ds.n_classes) for s, cid in asked.items()}  # fmt: skip
    wait_for(list(futs.values()), progress=progress, desc="prune by noise rate (1)")
    values = np.full(ranks.shape, -np.inf)
    for s, got in zip(futs, c.gather(list(futs.values())), strict=True):
        values[s, asked[s]] = got
    floor = probe_floors(values, ranks, need)
    above = {s: submit(c, _tasks.shard_above, ds.inputs[s], r1[s], cells[cid], floor[cid],
                        ds.names[s], ds.n_classes, cid) for s, cid in asked.items()}  # fmt: skip
    wait_for(list(above.values()), progress=progress, desc="prune by noise rate (2)")
    cnt = np.zeros(len(kk), np.int64)
    lengths = c.gather([c.submit(_tasks.pick, f, "lengths") for f in above.values()])
    for s, got in zip(above, lengths, strict=True):
        cnt[asked[s]] += got
    if (cnt < need).any():  # pragma: no cover - the floors guarantee it
        raise RuntimeError("prune by noise rate: a floor let fewer values through than kept.")
    start = np.cumsum(cnt) - cnt
    keys = c.gather([c.submit(_tasks.pick, f, "keys") for f in above.values()])
    if all(k is not None for k in keys):  # float32: one merge of the shards' sorted keys
        ordered = _tasks.key_values(np.sort(np.concatenate(keys), kind="stable"))
    else:
        vals = c.gather([c.submit(_tasks.pick, f, "values") for f in above.values()])
        cell_of = np.concatenate([np.repeat(asked[s], n)
                                  for s, n in zip(above, lengths, strict=True)])  # fmt: skip
        values = np.concatenate(vals).astype(np.float64)
        order = np.argsort(-values, kind="stable")
        ordered = values[order[np.argsort(cell_of[order], kind="stable")]]
    cuts, tied = _exact_cuts(ordered, need, start, cnt)
    per_shard = [None] * n_shards
    flag_cuts = np.where(tied, np.inf, cuts)
    for s, fut in above.items():
        per_shard[s] = (fut, flag_cuts[asked[s]])
    tops = [_tied_column(c, ds, r1, int(kk[cell]), int(jj[cell]), int(need[cell]), nks[:, cell])
            for cell in np.flatnonzero(tied)]  # fmt: skip
    return tops, per_shard


def _exact_cuts(ordered, need, start, cnt):
    """Each cell's cut (its ``need``-th largest value) and whether it is tied with the next,
    from a union holding every value at or above the cut: ``ordered`` the values (float64)
    cell after cell, largest first, ``cnt`` (C,) of each cell beginning at ``start``.
    Returns (C,) float64, (C,) bool."""
    cuts, nxt = ordered[start + need - 1], cnt > need
    tied = np.zeros(len(need), bool)
    tied[nxt] = ordered[(start + need)[nxt]] == cuts[nxt]
    return cuts, tied


def _tied_column(c, ds, r1, cls, j, need, nks) -> np.ndarray:
    """Top ``need`` margins of one (given ``cls``, true ``j``) cell whose cut is tied: the whole
    column in index order, ranked as the in-memory engine ranks it."""
    futs = [
        submit(c, _tasks.shard_column, ds.inputs[s], r1[s], cls, j, ds.names[s], ds.n_classes)
        for s in range(len(r1)) if nks[s] > 0
    ]  # fmt: skip
    got = c.gather(futs)
    margin = np.concatenate([g[0] for g in got])
    idx = np.concatenate([g[1] for g in got])
    thresh = np.partition(margin, len(margin) - need)[len(margin) - need]
    above = margin >= thresh
    if np.count_nonzero(above) == need:
        return idx[above]
    return idx[np.argsort(-margin)[:need]]
