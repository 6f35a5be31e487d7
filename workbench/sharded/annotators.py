"""Several-annotator detectors over shards on Dask: majority vote per shard and Dawid-Skene EM
as one reduction per iteration, equal to the in-memory detectors.

N samples in S shards, K classes, M annotators; each shard carries ``annotators`` (n, M)
class indices, -1 (or NaN) where an annotator did not label a sample
(:mod:`workbench.sharded.extras`). The arithmetic is the in-memory one
(:mod:`workbench.analysis.detectors.annotators`, whose public steps these tasks call):

- ``annotator_agreement`` (majority vote): the whole-dataset statistics its tie-breaks read
  (annotations per class; each annotator's agreement with the untied consensus) are sums over
  shards (one tree reduction), then every shard votes on its rows. Scores, flags and
  consensus labels are **identical** to the in-memory detector's.
- ``dawid_skene``: the EM's M-step reads only sums over samples, so each iteration is one task
  per shard (E-step on its rows with the current priors and confusion matrices, then its share
  of the next M-step's sums and of the log-likelihood) and one tree reduction. The posteriors
  stay on the workers between iterations. Equal to the in-memory fit up to the order of the
  floating-point sums (posteriors within ~1e-12; the same consensus, flags and iterations
  unless a stop falls within that rounding of ``tol``). ``init="random"`` (one random stream
  over all N samples) is not offered on shards.

Scores are **higher = more likely mislabeled**; a sample nobody labelled scores 0, is never
flagged and gets no suggestion (-1), as in memory.

Tasks import numpy, scipy and the in-memory annotator module (so torch) on the workers that run
them.
"""

from __future__ import annotations

import numpy as np

from workbench.sharded.reductions import (
    DetectorUnavailable,
    ShardedDetectorResult,
    n_flagged,
    pick,
    submit,
    tree_sum,
)
from workbench.sharded.runner import run_detector_group

__all__ = ["NAMES", "annotator_detectors_sharded", "run_annotator_detectors"]

#: The annotator detectors that run on shards.
NAMES = ("annotator_agreement", "dawid_skene")


# --- tasks (one shard each) ----------------------------------------------------------------------
def shard_codes(source, name: str, n_rows: int, k: int) -> np.ndarray:
    """Read and check one shard's annotations: (n, M) int64, -1 where missing."""
    from workbench.analysis.detectors.annotators import check_annotators
    from workbench.sharded.extras import read_extra

    arr = read_extra(source, "annotators", name, n_rows)
    try:
        codes, _ = check_annotators(arr, k)
    except (TypeError, ValueError) as err:
        raise ValueError(f"shard {name!r}: {err}") from None
    return codes


def shard_tallies(codes: np.ndarray, k: int) -> np.ndarray:
    """[annotations per class (K), hits (M), seen (M), annotations per annotator (M)], summed
    over shards by the engine (float64: exact for counts below 2**53)."""
    from workbench.analysis.detectors.annotators import vote_tallies

    totals, hits, seen = vote_tallies(codes, k)
    per_annotator = np.bincount(np.nonzero(codes >= 0)[1], minlength=codes.shape[1])
    return np.concatenate([totals, hits, seen, per_annotator]).astype(np.float64)


def shard_agreement(codes, labels, k: int, class_totals, quality, threshold: float) -> dict:
    """``annotator_agreement`` on one shard's rows, given the whole-dataset tallies."""
    from workbench.analysis.detectors.annotators import consensus_from_tallies

    consensus, agreement = consensus_from_tallies(codes, k, class_totals, quality)
    n_annotations = (codes >= 0).sum(axis=1)
    for_given = (codes == labels[:, None]).sum(axis=1)
    has = n_annotations > 0
    score = np.where(has, 1.0 - for_given / np.maximum(n_annotations, 1), 0.0)
    return {
        "annotator_agreement": score,
        "flag_annotator_agreement": has & (score > threshold),
        "suggested_annotator_agreement": consensus,
        "annotator_consensus_share": agreement,
        "n_annotations": n_annotations.astype(np.int64),
    }


def _pack(loglik, mass, counts) -> np.ndarray:
    return np.concatenate([[loglik], mass, np.asarray(counts).reshape(-1)])


def ds_start(codes: np.ndarray, k: int) -> dict:
    """One shard's EM state from the majority start, and its M-step sums."""
    from workbench.analysis.detectors.annotators import (
        annotation_indicator,
        ds_initial_posterior,
        ds_m_sums,
    )

    indicator = annotation_indicator(codes, k)
    labelled = np.asarray(indicator.sum(axis=1)).reshape(-1) > 0
    post = ds_initial_posterior(codes, k)
    sums = _pack(0.0, *ds_m_sums(indicator, post, labelled, codes.shape[1], k))
    return {"indicator": indicator, "labelled": labelled, "post": post, "sums": sums}


def ds_iteration(state: dict, priors: np.ndarray, confusion: np.ndarray) -> dict:
    """One EM iteration on one shard: the E-step on its rows, then its log-likelihood and its
    share of the next M-step's sums."""
    from workbench.analysis.detectors.annotators import ds_e_step, ds_m_sums

    m, k = confusion.shape[0], confusion.shape[1]
    post, loglik = ds_e_step(state["indicator"], priors, confusion, state["labelled"])
    sums = _pack(loglik, *ds_m_sums(state["indicator"], post, state["labelled"], m, k))
    return {"indicator": state["indicator"], "labelled": state["labelled"], "post": post,
            "sums": sums}  # fmt: skip


def ds_finish(state: dict, labels: np.ndarray, priors: np.ndarray) -> dict:
    """``dawid_skene`` columns of one shard from its final posterior."""
    post, labelled = state["post"].copy(), state["labelled"]
    post[~labelled] = priors
    consensus = np.where(labelled, post.argmax(axis=1), -1).astype(np.int64)
    score = np.where(labelled, 1.0 - post[np.arange(len(labels)), labels], 0.0)
    return {
        "dawid_skene": score,
        "flag_dawid_skene": labelled & (consensus != labels),
        "suggested_dawid_skene": consensus,
    }


# --- the detectors -------------------------------------------------------------------------------
def _check(threshold, max_iter, tol, smoothing, init, names):
    from workbench.core.validation import check_number

    check_number(threshold, "threshold", low=0, high=1)
    if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, found {max_iter!r}.")
    for arg, val in (("tol", tol), ("smoothing", smoothing)):
        real = (int, float, np.integer, np.floating)
        if isinstance(val, bool) or not isinstance(val, real) or not 0 <= val < np.inf:
            raise ValueError(f"{arg} must be a finite non-negative number, found {val!r}.")
    if init != "majority":
        raise ValueError(
            f"init must be 'majority' on a sharded dataset (a random start draws one stream over "
            f"all N samples), found {init!r}."
        )
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise ValueError(f"detectors must be among {list(NAMES)}, found {unknown}.")


def run_annotator_detectors(
    client, dataset, inputs, labels, *, names=NAMES, threshold: float = 0.5,
    max_iter: int = 100, tol: float = 1e-6, smoothing: float = 0.01, init: str = "majority",
) -> dict:  # fmt: skip
    """Run the annotator detectors on ``client``; ``inputs``: one annotations input per shard
    (:func:`workbench.sharded.extras.extra_inputs`), ``labels``: one future (or array) per
    shard of its given labels. Returns {name: :class:`ShardedDetectorResult`} whose
    ``columns`` are per-shard futures (nothing collected on the client)."""
    _check(threshold, max_iter, tol, smoothing, init, names)
    k = dataset.n_classes
    codes = [
        submit(client, shard_codes, src, name, int(n), k)
        for src, name, n in zip(inputs, dataset.names, dataset.lengths, strict=True)
    ]
    widths = client.gather([client.submit(np.shape, c, pure=False) for c in codes])
    m = {w[1] for w in widths}
    if len(m) > 1:
        raise ValueError(
            f"shards disagree on the number of annotators (columns of annotators): {sorted(m)}."
        )
    m = m.pop()
    tallies = tree_sum(client, [client.submit(shard_tallies, c, k, pure=False) for c in codes])
    tallies = tallies.result()
    totals, hits = tallies[:k], tallies[k : k + m].astype(np.int64)
    seen, per_annotator = (tallies[k + m : k + 2 * m].astype(np.int64),
                           tallies[k + 2 * m :].astype(np.int64))  # fmt: skip
    if not totals.any():
        raise DetectorUnavailable("Needs at least one annotation; annotators is -1 (missing) "
                                  "everywhere.")  # fmt: skip
    out = {}
    if "annotator_agreement" in names:
        from workbench.analysis.detectors.annotators import annotator_agreement

        quality = annotator_agreement(hits, seen)
        cols = [client.submit(shard_agreement, c, y, k, totals, quality, float(threshold),
                              pure=False) for c, y in zip(codes, labels, strict=True)]  # fmt: skip
        out["annotator_agreement"] = ShardedDetectorResult(
            "annotator_agreement", n_flagged(client, cols, "annotator_agreement"),
            {"threshold": float(threshold), "annotations_per_class": totals,
             "n_annotations": int(per_annotator.sum())},
            columns=cols,
        )  # fmt: skip
    if "dawid_skene" in names:
        out["dawid_skene"] = _dawid_skene(client, codes, labels, k, m, per_annotator,
                                          max_iter, float(tol), float(smoothing))  # fmt: skip
    return out


def _dawid_skene(client, codes, labels, k, m, per_annotator, max_iter, tol, smoothing):
    from workbench.analysis.detectors.annotators import ds_annotator_quality, ds_m_step

    def reduce(states):
        total = tree_sum(client, [client.submit(pick, s, "sums", pure=False) for s in states])
        total = total.result()
        return total[0], total[1 : 1 + k], total[1 + k :].reshape(m * k, k)

    n_obs = max(int(per_annotator.sum()), 1)
    states = [client.submit(ds_start, c, k, pure=False) for c in codes]
    _, mass, counts = reduce(states)
    trace, converged = [], False
    for _ in range(max_iter):
        priors, confusion = ds_m_step(mass, counts, smoothing)
        conf = client.scatter(confusion, broadcast=False, hash=False)
        states = [client.submit(ds_iteration, s, priors, conf, pure=False) for s in states]
        loglik, mass, counts = reduce(states)
        trace.append(float(loglik))
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol * n_obs:
            converged = True
            break
    priors, confusion = ds_m_step(mass, counts, smoothing)
    cols = [client.submit(ds_finish, s, y, priors, pure=False)
            for s, y in zip(states, labels, strict=True)]  # fmt: skip
    return ShardedDetectorResult(
        "dawid_skene", n_flagged(client, cols, "dawid_skene"),
        {"annotator_quality": ds_annotator_quality(priors, confusion, per_annotator),
         "confusion": confusion, "class_priors": priors, "log_likelihood": trace,
         "converged": converged, "n_iter": len(trace)},
        columns=cols,
    )  # fmt: skip


def annotator_detectors_sharded(
    dataset, *, client=None, detectors=NAMES, threshold: float = 0.5, max_iter: int = 100,
    tol: float = 1e-6, smoothing: float = 0.01, init: str = "majority", collect: bool = True,
    verbose: bool = False,
) -> dict:  # fmt: skip
    """``annotator_agreement`` and ``dawid_skene`` over a sharded dataset that carries
    ``annotators`` (:func:`workbench.sharded.extras.with_arrays`, or ``annotators-<part>.npy``
    beside ``.npy`` shards).

    Parameters
    ----------
    dataset : ShardedDataset
    client : distributed.Client, optional
        Default: a ``LocalCluster`` started for the call and closed after.
    detectors : sequence of str
        Among :data:`NAMES`.
    threshold, max_iter, tol, smoothing, init
        As the in-memory detectors (``init="majority"`` only).
    collect : bool, default=True
        Collect every detector's (N,) scores, flags and suggested labels on the client.

    Returns
    -------
    dict of str to ShardedDetectorResult
        Scores higher = more likely mislabeled.
    """
    names = (detectors,) if isinstance(detectors, str) else tuple(detectors)
    _check(threshold, max_iter, tol, smoothing, init, names)
    return run_detector_group(
        dataset, "annotators", run_annotator_detectors, client=client, collect=collect,
        verbose=verbose, how_to_add="with workbench.sharded.with_arrays(dataset, annotators=...) "
        "or as annotators-<part>.npy beside .npy shards", names=names, threshold=threshold,
        max_iter=max_iter, tol=tol, smoothing=smoothing, init=init,
    )  # fmt: skip
