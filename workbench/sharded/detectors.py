"""The detectors beyond confident learning on shards: what a sharded audit runs, and how.

N samples in S shards, K classes. Besides the confident-learning rules of
:mod:`workbench.sharded.engine`, a sharded audit runs every detector its inputs allow:

- ``low_self_confidence`` / ``low_normalized_margin`` (cleanlab's ``low_*`` ``filter_by``;
  the ``self_confidence`` / ``normalized_margin`` detectors' default flags): always
  (:func:`low_rule_masks`);
- ``annotator_agreement`` (majority vote) and ``dawid_skene`` when the shards carry
  ``annotators`` (:mod:`workbench.sharded.annotators`);
- ``knn_disagreement`` and ``knn_outlier`` when they carry ``features``
  (:mod:`workbench.sharded.knn`);
- the training-dynamics scores when they carry trajectories (in the engine).

Each gives per-sample columns (score: higher = more likely mislabeled; flags; suggested
labels) that go into the audit's Parquet parts beside the confident-learning columns, and a
:class:`ShardedDetectorResult` with the whole-dataset numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.sharded.reductions import (
    DetectorUnavailable,
    ShardedDetectorResult,
    extreme_values,
    merge_columns,
    pick,
)

__all__ = [
    "ALWAYS",
    "GROUPS",
    "LOW_RULES",
    "ShardedDetectorResult",
    "ShardedDetectors",
    "low_rule_masks",
    "run_sharded_detectors",
]

#: The ``low_*`` rules of ``find_label_issues`` and the quality each ranks by.
LOW_RULES = {"low_self_confidence": "self_confidence",
             "low_normalized_margin": "normalized_margin"}  # fmt: skip


# --- the low_* rules -----------------------------------------------------------------------------
def low_quality(res: dict, method: str) -> np.ndarray:
    """cleanlab's label quality (low = suspicious) of one shard's rows, in the input dtype and
    with the in-memory arithmetic: ``p[y]`` or ``(p[y] - max_{j != y} p[j] + 1) / 2``."""
    rows = res["rows"]
    if method == "self_confidence":
        return rows.given
    return (rows.given - rows.other_max + 1) / 2


def below_and_at(q: np.ndarray, cut) -> np.ndarray:
    """How many values are below ``cut`` and how many equal it."""
    return np.array([np.count_nonzero(q < cut), np.count_nonzero(q == cut)], np.int64)


def at_most(q: np.ndarray, cut) -> np.ndarray:
    return q <= cut


def mask_rows(n: int, local: np.ndarray) -> np.ndarray:
    out = np.zeros(n, bool)
    out[local] = True
    return out


def low_rule_masks(client, stats, lengths, n_errors: int, rules=tuple(LOW_RULES)) -> dict:
    """Masks of the ``low_*`` rules over shards, equal to ``find_label_issues(filter_by=...)``:
    the ``n_errors`` samples with the lowest label quality over the whole dataset.

    ``stats``: one future per shard of the engine's row summaries (a dict with ``rows``, the
    :class:`workbench.core.chunks.RowStats`); ``lengths`` (S,) rows per shard; ``n_errors``
    the estimated number of label errors (off the confident joint's diagonal, close calls
    excluded). Each shard sends its smallest values (its share of ``n_errors`` plus a margin;
    a shard that may hide smaller values than the merged cut is asked for ``n_errors``), the
    cut is the ``n_errors``-th smallest of the union; when it is tied with values beyond it,
    numpy's sort over the whole quality array (gathered on the client: O(N)) decides which
    tied samples are flagged, as in memory. Returns {rule: one future per shard of its
    boolean mask (n,)}.
    """
    from concurrent.futures import ThreadPoolExecutor

    lengths = np.asarray(lengths, np.int64)
    total, n = int(lengths.sum()), int(n_errors)

    def one(rule):
        q = [client.submit(low_quality, r, LOW_RULES[rule], pure=False) for r in stats]
        if n <= 0 or n >= total:
            return [client.submit(np.full, int(ln), n > 0, pure=False) for ln in lengths]
        cut = extreme_values(client, q, lengths, n)[n - 1]
        counts = client.gather([client.submit(below_and_at, qs, cut, pure=False) for qs in q])
        below, at = np.sum(counts, axis=0)
        if below + at == n:  # no tie straddles the cut
            return [client.submit(at_most, qs, cut, pure=False) for qs in q]
        # Ties straddle the cut: numpy's (unstable) sort over the whole array decides, as in memory.
        whole = np.concatenate(client.gather(q))
        flagged = np.sort(np.argsort(whole)[:n])
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return [
            client.submit(mask_rows, int(lengths[s]),
                          flagged[np.searchsorted(flagged, a) : np.searchsorted(flagged, b)] - a,
                          pure=False)
            for s, (a, b) in enumerate(zip(offsets[:-1], offsets[1:], strict=True))
        ]  # fmt: skip

    # The rules' rounds run side by side (each waits on the cluster most of the time).
    with ThreadPoolExecutor(max(1, len(rules)), "workbench-low-rules") as pool:
        return dict(zip(rules, pool.map(one, rules), strict=True))


# --- what a sharded audit runs beyond confident learning -----------------------------------------
#: What every sharded audit computes from pred_probs (and trajectories, when the shards carry
#: them): naming these in ``detectors`` is allowed and changes nothing.
ALWAYS = (
    "cl_prune_by_noise_rate", "cl_prune_by_class", "cl_both", "cl_confident_learning",
    "cl_predicted_neq_given", "self_confidence", "normalized_margin", "aum",
    "forgetting_events", "first_learned_epoch", "datamap_confidence", "datamap_variability",
)  # fmt: skip
#: The detectors a sharded audit runs when the inputs allow, beyond the ``cl_*`` rules.
GROUPS = {
    "annotators": ("annotator_agreement", "dawid_skene"),
    "features": ("knn_disagreement", "knn_outlier"),
}


@dataclass
class ShardedDetectors:
    """What :func:`run_sharded_detectors` started: ``low[s]`` the ``low_*`` masks of shard s
    (a dict of futures), ``columns[s]`` one future of shard s's detector columns (or None),
    ``results`` {name: :class:`ShardedDetectorResult`}, ``unavailable`` {name: why not}."""

    low: list
    columns: list
    results: dict
    unavailable: dict


def run_sharded_detectors(client, dataset, stats, n_errors: int, *, detectors=None,
                          options: dict | None = None) -> ShardedDetectors:  # fmt: skip
    """Start every detector beyond confident learning that ``dataset``'s inputs allow.

    ``stats``: the engine's row-summary futures, one per shard (with ``labels`` and ``rows``);
    ``n_errors``: the estimated number of label errors; ``detectors``: names among
    :data:`GROUPS` to run, a sequence or a comma-separated string (None: all the inputs allow;
    naming one whose input is missing is an error; names of :data:`ALWAYS` are accepted); ``options``: keyword options by group (``{"features": {"k": 5}, "annotators":
    {"threshold": 0.4}}``). A group whose data cannot support it (no annotation at all, N <= k)
    is reported in ``unavailable``; bad data raise, naming the shard.
    """
    from workbench.sharded.extras import extra_inputs

    options = dict(options or {})
    unknown = sorted(set(options) - set(GROUPS))
    if unknown:
        raise ValueError(f"options are by group, among {list(GROUPS)}, found {unknown}.")
    if isinstance(detectors, str):
        detectors = [n.strip() for n in detectors.split(",") if n.strip()]
    names = None if detectors is None else tuple(detectors)
    known = {n for group in GROUPS.values() for n in group}
    if names is not None and set(names) - known - set(ALWAYS):
        raise ValueError(
            f"detectors on shards must be among {sorted(known | set(ALWAYS))}, found "
            f"{sorted(set(names) - known - set(ALWAYS))}."
        )
    low_masks = low_rule_masks(client, stats, dataset.lengths, n_errors)
    low = [{rule: futs[s] for rule, futs in low_masks.items()} for s in range(dataset.n_shards)]
    labels = [client.submit(pick, r, "labels", pure=False) for r in stats]
    results, unavailable = {}, {}
    for kind, group in GROUPS.items():
        wanted = group if names is None else tuple(n for n in group if n in names)
        if not wanted:
            continue
        inputs = extra_inputs(dataset, kind)
        if inputs is None:
            if names is not None:
                raise ValueError(
                    f"{list(wanted)} need {kind} on every shard; the shards carry none."
                )
            for n in wanted:
                unavailable[n] = f"Needs {kind} (the shards carry none)."
            continue
        if kind == "annotators":
            from workbench.sharded.annotators import run_annotator_detectors as run
        else:
            from workbench.sharded.knn import run_knn_detectors as run
        try:
            results |= run(client, dataset, inputs, labels, names=wanted, **options.get(kind, {}))
        except DetectorUnavailable as why:
            for n in wanted:
                unavailable[n] = str(why)
    columns = [None] * dataset.n_shards
    if results:
        per = {}
        for res in results.values():
            for s, col in enumerate(res.columns):
                per.setdefault(s, {})[col.key] = col
        columns = [client.submit(merge_columns, *per[s].values(), pure=False)
                   for s in range(dataset.n_shards)]  # fmt: skip
    return ShardedDetectors(low, columns, results, unavailable)
