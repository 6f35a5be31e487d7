"""What a person looks at and decides on after a sharded audit, without loading everything.

N samples in S shards, K classes.

- :func:`bounded_view`: every sample flagged by the primary rule plus a class-stratified
  sample of the others, up to a point budget (default 1,000,000: what the map draws at
  interactive speed), as an in-memory :class:`workbench.Dataset` whose ``metadata`` holds the
  whole-dataset scores and flags, and the whole-dataset counts beside it;
- :func:`apply_decisions`: decisions keyed by sample id (``keep`` / ``remove`` / ``relabel``)
  joined onto the shards by a broadcast join on Dask (each shard's task merges its rows with
  the decisions), written as cleaned Parquet shards; no step holds more than one shard and
  the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.sharded import _tasks
from workbench.sharded.cluster import cluster_client, wait_for
from workbench.sharded.dataset import ShardedDataset
from workbench.sharded.reductions import submit

__all__ = ["BoundedView", "apply_decisions", "bounded_view"]

DEFAULT_BUDGET = 1_000_000


@dataclass
class BoundedView:
    """A bounded, in-memory view of a sharded audit.

    Attributes
    ----------
    dataset : workbench.Dataset
        The selected samples (ids = sample ids), their labels and ``pred_probs``;
        ``metadata`` holds the whole-dataset columns (``score``, ``flag_<rule>``,
        ``suggested_label``, ``position``, ``weight`` = how many samples of the whole dataset
        each one stands for: 1 for a flagged sample, 1 / sampling rate otherwise).
    frame : pandas.DataFrame
        The same rows of the sharded per-sample table.
    counts : dict
        Whole-dataset figures: ``n_samples``, ``flagged`` per rule, ``per_class`` counts,
        ``flagged_per_class`` (by the primary rule), ``estimated_num_errors``, ``n_shown``,
        ``primary``. ``wb.show(view)`` opens the workbench on ``dataset`` with these counts in
        its header and panel.
    """

    dataset: object
    frame: pd.DataFrame
    counts: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"BoundedView({self.counts['n_shown']:,} of {self.counts['n_samples']:,} samples; "
            f"every flagged one and a class-stratified sample)"
        )


def sampling_rates(result, budget: int) -> np.ndarray:
    """Per-class probability of keeping an unflagged sample so that flagged + sampled is about
    ``budget``, spread over classes in proportion to their unflagged counts (class-stratified).
    """
    flagged = result.flagged_by_class
    unflagged = np.maximum(result.counts - flagged, 0)
    room = max(0, budget - int(flagged.sum()))
    if unflagged.sum() == 0 or room == 0:
        return np.zeros(len(unflagged))
    return np.minimum(1.0, room / unflagged.sum()) * (unflagged > 0)


def bounded_view(result, dataset: ShardedDataset, *, budget: int = DEFAULT_BUDGET, seed: int = 0,
                 client=None, progress: bool = False) -> BoundedView:  # fmt: skip
    """Every flagged sample of ``result.primary`` plus a class-stratified sample of the rest,
    about ``budget`` samples in all, read shard by shard on Dask.

    Parameters
    ----------
    result : ShardedAuditResult
        An audit that wrote its tables (``out=``).
    dataset : ShardedDataset
        The audited data (for the ``pred_probs`` rows of the view).
    budget : int, default=1,000,000
        Points on the map. Flagged samples are always all shown, even beyond the budget.
    seed : int
        Seed of the sampling (shard ``s`` draws from ``default_rng([seed, s])``).

    Returns
    -------
    BoundedView
    """
    from workbench.core.dataset import Dataset

    if result.folder is None:
        raise ValueError("the audit wrote no tables; run it with out= to open a bounded view.")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive int, found {budget!r}.")
    if dataset.n_samples != result.n_samples or dataset.n_shards != result.n_shards:
        raise ValueError(
            f"dataset ({dataset.n_samples:,} samples in {dataset.n_shards} shards) is not the "
            f"audited one ({result.n_samples:,} in {result.n_shards})."
        )
    rates = sampling_rates(result, budget)
    folder = result.folder / "scores"
    with cluster_client(client, verbose=False) as c:
        parts = [
            c.submit(_tasks.view_part, str(folder / f"part-{s:05d}.parquet"), result.primary,
                     rates, seed, s, pure=False)
            for s in range(dataset.n_shards)
        ]  # fmt: skip
        wait_for(parts, progress=progress, desc="bounded view")
        frames = c.gather(parts)
        rows = []
        for s, frame in enumerate(frames):
            src = {"n": int(dataset.lengths[s]), "offset": int(dataset.offsets[s])}
            rows.append(_submit_rows(c, dataset, s, src, frame["position"].to_numpy()))
        probs = np.concatenate(c.gather(rows))
    frame = pd.concat(frames, ignore_index=True)
    meta = frame.drop(columns=["id", "label"]).reset_index(drop=True)
    view = Dataset(
        frame["label"].to_numpy(), pred_probs=probs, ids=frame["id"].to_numpy(),
        class_names=result.class_names or [str(i) for i in range(result.n_classes)],
        metadata=meta,
    )  # fmt: skip
    counts = {
        "n_samples": result.n_samples, "n_shown": len(frame), "flagged": dict(result.flagged),
        "per_class": result.counts.tolist(), "flagged_per_class": result.flagged_by_class.tolist(),
        "estimated_num_errors": result.estimated_num_errors,
        "primary": result.primary,
    }  # fmt: skip
    return BoundedView(view, frame, counts)


def _submit_rows(c, dataset, s, src, positions):
    from workbench.sharded.reductions import submit

    return submit(c, _tasks.shard_rows, dataset.inputs[s], src, positions, dataset.names[s],
                  dataset.n_classes)  # fmt: skip


# --- decisions -------------------------------------------------------------------------------------
def decisions_frame(decisions) -> pd.DataFrame:
    """``id, action, label`` from a :class:`workbench.DecisionLog` (its latest decision per
    sample) or a DataFrame with those columns (``label``: the new class of a relabel)."""
    if hasattr(decisions, "current") and callable(decisions.current):
        decisions = decisions.current()
    if not isinstance(decisions, pd.DataFrame):
        raise TypeError(
            f"decisions must be a DecisionLog or a DataFrame (id, action, label), found "
            f"{type(decisions).__name__}."
        )
    missing = [c for c in ("id", "action") if c not in decisions.columns]
    if missing:
        raise ValueError(f"decisions need columns id and action; missing {missing}.")
    out = decisions[["id", "action"]].copy()
    out["new_label"] = decisions["label"] if "label" in decisions.columns else -1
    bad = ~out["action"].isin(["keep", "remove", "relabel"])
    if bad.any():
        raise ValueError(
            f"decision actions must be keep, remove or relabel; found "
            f"{sorted(set(out.loc[bad, 'action']))}."
        )
    if out["id"].duplicated().any():
        raise ValueError("decisions hold several rows for one id; keep the latest per id.")
    relabel = out["action"] == "relabel"
    if (out.loc[relabel, "new_label"] < 0).any():
        raise ValueError("every relabel decision needs a label (the new class index).")
    return out.reset_index(drop=True)


def apply_decisions(dataset: ShardedDataset, decisions, out, *, client=None,
                    progress: bool = False) -> dict:  # fmt: skip
    """Write cleaned label shards: the shards joined with ``decisions`` by sample id (a
    broadcast join on Dask: the decisions sent once to every worker, each shard merged with
    them in its own task), removed samples dropped, relabelled samples given their new label.

    Writes ``<out>/part-<s>.parquet`` with columns ``id, position, label, given_label,
    action``. Returns the counts of kept, removed, relabelled samples and decisions whose id
    is in no shard (``unmatched``).
    """
    if not isinstance(dataset, ShardedDataset):
        raise TypeError(f"dataset must be a ShardedDataset, found {type(dataset).__name__}.")
    dec = decisions_frame(decisions)
    if (dec["new_label"] >= dataset.n_classes).any():
        raise ValueError(f"a relabel names a class outside 0..{dataset.n_classes - 1}.")
    out = Path(out)
    with cluster_client(client, verbose=False) as c:
        # A broadcast join: the decisions (small) go once to every worker, and each shard's
        # task merges its own rows with them and writes its cleaned part.
        dec_f = c.scatter(dec, broadcast=True)
        parts = [
            submit(c, _tasks.clean_part, inp, name, int(off), dataset.n_classes, dec_f,
                   str(out), f"{s:05d}")
            for s, (inp, name, off) in enumerate(
                zip(dataset.inputs, dataset.names, dataset.offsets[:-1], strict=True))
        ]  # fmt: skip
        wait_for(parts, progress=progress, desc="cleaned shards")
        got = c.gather(parts)
    total = {key: int(sum(g[key] for g in got)) for key in ("kept", "removed", "relabelled")}
    total["unmatched"] = int(len(dec) - sum(g["matched"] for g in got))
    return total
