"""The audit pipeline: compute the missing signals, run every detector, collect the noise structure.

One call, :func:`audit`, turns a :class:`~workbench.core.dataset.Dataset` into an
:class:`AuditResult` holding the detector results, the noise-structure matrices, the estimated
number of label errors and, when true labels are known, how good each detector was. The
headless command (``workbench-audit``) and the notebooks both use it; ``AuditResult.write``
saves every table and the static HTML report atomically.

N is the number of samples and K the number of classes. Noise scores are higher = more likely
mislabeled. Transition matrices follow ``T[i, j] = P(given = j | true = i)`` (rows sum to 1).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors import (
    DetectorResult,
    available_detectors,
    check_detector_names,
    label_error_detectors,
    list_detectors,
    score_each,
)
from workbench.core.dataset import Dataset
from workbench.pipeline.result import OUTPUT_FILES, AuditResult
from workbench.sharded import is_sharded

__all__ = ["audit", "AuditResult", "PRIMARY_PREFERENCE", "OUTPUT_FILES", "HOC_AUDIT_MAX_CLASSES"]

#: The audit estimates the HOC transition matrix up to this many classes: its fit grows as K³
#: per iteration (about 2 s at K = 20, a minute at K = 50 on a laptop CPU). Above it,
#: ``workbench.analysis.hoc.dataset_transition_hoc(ds)`` computes it on request.
HOC_AUDIT_MAX_CLASSES = 20

#: The detector whose flags make the flagged list when none is chosen: the first that ran, else
#: the first label-error detector by name (never an ambiguity or outlier score, Detector.kind).
PRIMARY_PREFERENCE = (
    "cl_prune_by_noise_rate",
    "cl_both",
    "cl_prune_by_class",
    "self_confidence",
    "normalized_margin",
    "ensemble",
)


def audit(
    dataset: Dataset,
    *,
    compute_missing: bool = True,
    detectors: Sequence[str] | str | None = None,
    seed: int | None = 0,
    device=None,
    progress: bool = True,
    probe: str | dict = "linear",
    projection: str = "pca",
    primary: str | None = None,
    split: str | None = None,
    client=None,
    out=None,
):
    """Audit a dataset's labels: compute missing signals, run the detectors, measure the noise.

    Parameters
    ----------
    dataset : Dataset
        Labels plus whatever signals exist. ``pred_probs`` must be out-of-sample.
    compute_missing : bool, default=True
        Compute what is missing and computable: out-of-sample ``pred_probs`` (and per-epoch
        training trajectories) with a cross-validated probe when only ``features`` exist; 2-D
        ``coords`` for the map by projecting ``features`` (or ``pred_probs`` when there are no
        features). False runs only on the signals given.
    detectors : sequence of str or comma-separated str, optional
        Detectors to run; default: every registered detector that can run on the dataset.
        Naming one that does not exist or cannot run is an error. On a ``ShardedDataset``:
        which of its annotator and kNN detectors to run (the ``cl_*`` rules always run).
    seed : int, optional
        Seed of every random step (folds, probe initialisation, projection).
    device : str or torch.device, optional
        Where the probe and projection run (default: cuda > mps > cpu).
    progress : bool, default=True
        Show ``tqdm`` progress bars on the long steps.
    probe : {"linear", "mlp"} or dict, default="linear"
        Model of the cross-validated probe, or a dict of its options (the keyword options of
        :func:`workbench.compute.cross_val_probs`: ``model``, ``n_folds`` (default 5),
        ``epochs``, ``lr``, ``weight_decay``, ``batch_size``, ``hidden``), e.g.
        ``probe={"model": "linear", "n_folds": 3}`` when a class has fewer than 5 samples.
        ``seed``, ``device`` and ``progress`` are audit's own.
    projection : {"pca", "umap"}, default="pca"
        How ``coords`` are computed.
    primary : str, optional
        Detector whose flags make the flagged list; default: the first of
        :data:`PRIMARY_PREFERENCE` that ran, else the first label-error detector by name (see
        ``Detector.kind``), else the first detector by name.
    split : str, optional
        Name of a ``metadata`` column holding each sample's split (train / test / ...):
        ``near_duplicate`` then reports near duplicates across splits as leakage
        (``details["pair_crosses_split"]``, ``details["leaking"]``).
    client : distributed.Client, optional
        Only for a :class:`workbench.sharded.ShardedDataset`: the Dask cluster to audit it on
        (default: a ``LocalCluster`` started for the audit and closed after).
    out : str or Path, optional
        Only for a ``ShardedDataset``: the folder for its per-sample Parquet parts.

    Returns
    -------
    AuditResult, or :class:`workbench.sharded.ShardedAuditResult` for a ``ShardedDataset``, or
    :class:`workbench.pipeline.multilabel.MultilabelAudit` for a multi-label Dataset
    (``task="multilabel"``: the multi-label detectors on label sets, a sigmoid probe for
    missing ``pred_probs``; its ``write`` saves the tables, summary.json and report.html)

    Raises
    ------
    TypeError
        If ``dataset`` is not a Dataset.
    ValueError
        For unknown or unrunnable detector names, an unknown probe/projection, a bad device, or
        when no detector can run (the message lists why each could not).
    """
    if is_sharded(dataset):  # shards on Dask: confident learning, outputs as Parquet parts
        from workbench.sharded import audit_sharded
        from workbench.sharded.engine import filter_by_of

        return audit_sharded(
            dataset, client=client, out=out, progress=progress, primary=filter_by_of(primary),
            detectors=detectors,
        )  # fmt: skip
    if client is not None or out is not None:
        raise ValueError("client= and out= apply to a workbench.sharded.ShardedDataset only.")
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"dataset must be a workbench.Dataset, found {type(dataset).__name__}. Build one with "
            "workbench.Dataset(labels, pred_probs=..., features=...)."
        )
    names = check_detector_names(detectors)
    probe_kwargs = _probe_kwargs(probe)
    if projection not in ("pca", "umap"):
        raise ValueError(f"projection must be 'pca' or 'umap', found {projection!r}.")
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an int or None, found {seed!r}.")
    if primary is not None and primary not in list_detectors():
        raise ValueError(f"primary={primary!r} is not a detector; choose from {list_detectors()}.")
    if dataset.is_multilabel:  # label sets: the multi-label detectors, tables and report
        return _audit_multilabel(
            dataset, compute_missing=compute_missing, detectors=names, seed=seed,
            device=device, progress=progress, probe=probe_kwargs, primary=primary,
            projection=projection, split=split,
        )  # fmt: skip
    _check_split(dataset, split)
    from workbench.compute import resolve_device

    dev = str(resolve_device(device))  # every step runs there: probe, projection, detectors

    timings: dict[str, float] = {}
    computed: dict[str, str] = {}
    not_computed: dict[str, str] = {}
    ds = dataset
    if compute_missing:
        if ds.pred_probs is None and ds.features is not None:
            _check_folds(ds, probe_kwargs)
        ds = _compute_signals(
            ds, seed, dev, progress, probe_kwargs, projection, computed, not_computed, timings
        )

    why_not = available_detectors(ds)
    if names is None:
        names = [n for n, why in why_not.items() if why is None]
        if not names:
            grouped: dict[str, list[str]] = {}
            for n, w in why_not.items():
                grouped.setdefault(w.rstrip("."), []).append(n)
            reasons = "; ".join(f"{w} ({', '.join(ns)})" for w, ns in grouped.items())
            raise ValueError(f"No detector can run on this dataset. {reasons}.")
    else:
        blocked = {n: why_not[n] for n in names if why_not[n] is not None}
        if blocked:
            raise ValueError(
                "Requested detectors cannot run on this dataset: "
                + "; ".join(f"{n}: {w}" for n, w in blocked.items())
            )
    if primary is not None and primary not in names:
        raise ValueError(f"primary={primary!r} is not among the detectors to run: {names}.")
    unavailable = {n: w for n, w in why_not.items() if w is not None}

    params = {"near_duplicate": {"split": split}} if split is not None else None
    results, failed, seconds = score_each(
        ds, names, progress=progress, device=dev, seed=seed, params=params
    )
    timings.update({f"detector.{name}": t for name, t in seconds.items()})
    if not results:
        raise ValueError(
            "Every detector failed: " + "; ".join(f"{n}: {m}" for n, m in failed.items())
        )
    if primary is None:
        ranked = [*PRIMARY_PREFERENCE, *label_error_detectors(sorted(results)), *sorted(results)]
        primary = next(p for p in ranked if p in results)
    elif primary not in results:
        raise ValueError(f"The primary detector {primary!r} failed: {failed[primary]}")

    t0 = time.perf_counter()
    matrices, n_errors = _noise_structure(ds, dev)
    quality, curves = _quality(ds, results)
    timings["matrices_and_quality"] = time.perf_counter() - t0
    skipped: dict[str, str] = {}
    if _hoc_applies(ds) and ds.n_classes > HOC_AUDIT_MAX_CLASSES:
        skipped["hoc_transition"] = (
            f"the HOC fit grows as K³ and K={ds.n_classes} exceeds the audit's limit of "
            f"{HOC_AUDIT_MAX_CLASSES} classes; workbench.analysis.hoc.dataset_transition_hoc(ds) "
            "computes it on request"
        )
    elif _hoc_applies(ds):
        t0 = time.perf_counter()
        from workbench.analysis.hoc import dataset_transition_hoc

        # cached in analysis_of(ds): a view or the report reads the same estimate
        matrices["hoc_transition"] = dataset_transition_hoc(ds, device=dev).transition
        timings["hoc_transition"] = time.perf_counter() - t0
    health = None
    if ds.pred_probs is not None:
        t0 = time.perf_counter()
        health = analysis_of(ds).class_health(device=dev)
        timings["class_health"] = time.perf_counter() - t0
    return AuditResult(
        dataset=ds,
        results=results,
        unavailable=unavailable,
        failed=failed,
        primary=primary,
        computed=computed,
        not_computed=not_computed,
        matrices=matrices,
        estimated_num_errors=n_errors,
        quality=quality,
        pr_curves=curves,
        class_health=health,
        skipped=skipped,
        seed=None if seed is None else int(seed),
        device=dev,
        timings=timings,
    )


# --- steps ---------------------------------------------------------------------------------------
def _audit_multilabel(dataset, *, split, **kwargs):
    """:func:`audit` of a multi-label dataset: a :class:`MultilabelAudit`."""
    from workbench.compute import resolve_device
    from workbench.pipeline.multilabel import audit_multilabel

    if split is not None:
        raise ValueError(
            "split= is not supported for a multi-label Dataset (it serves near_duplicate, "
            "a single-label detector)."
        )
    kwargs["device"] = str(resolve_device(kwargs["device"]))
    return audit_multilabel(dataset, **kwargs)


_PROBE_KEYS = ("model", "n_folds", "epochs", "lr", "weight_decay", "batch_size", "hidden")


def _probe_kwargs(probe) -> dict:
    """``probe`` (a model name or a dict of cross_val_probs options) as cross_val_probs keywords."""
    if isinstance(probe, str):
        probe = {"model": probe}
    if not isinstance(probe, dict):
        raise TypeError(
            f"probe must be 'linear', 'mlp' or a dict of probe options, found {probe!r}."
        )
    unknown = sorted(set(probe) - set(_PROBE_KEYS))
    if unknown:
        raise ValueError(
            f"probe has unknown option(s) {unknown}; the options are {list(_PROBE_KEYS)} "
            "(seed, device and progress are audit's own arguments)."
        )
    kwargs = {"model": "linear", "n_folds": 5, **probe}
    if kwargs["model"] not in ("linear", "mlp"):
        raise ValueError(f"probe must be 'linear' or 'mlp', found {kwargs['model']!r}.")
    return kwargs


def _check_folds(ds: Dataset, probe_kwargs: dict) -> None:
    """Before any work: every class with samples must fill the probe's folds."""
    n_folds = probe_kwargs["n_folds"]
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)):
        raise TypeError(f"probe['n_folds'] must be an int, found {n_folds!r}.")
    counts = np.bincount(ds.labels, minlength=ds.n_classes)
    present = np.flatnonzero(counts)
    c = present[np.argmin(counts[present])]
    smallest = int(counts[c])
    if smallest >= n_folds:
        return
    fix = (
        f"pass probe={{'model': {probe_kwargs['model']!r}, 'n_folds': {smallest}}} to wb.audit "
        f"(workbench-audit: --folds {smallest}), "
        if smallest >= 2
        else ""
    )
    raise ValueError(
        f"wb.audit trains a {n_folds}-fold cross-validated probe on the features, but class "
        f"{ds.class_names[c]!r} has only {smallest} sample{'s' if smallest > 1 else ''}, fewer "
        f"than the folds. To fix it, {fix}drop or merge that class, or give out-of-sample "
        "pred_probs= in the Dataset (then no probe is trained)."
    )


def _compute_signals(
    ds, seed, dev, progress, probe_kwargs, projection, computed, not_computed, timings
):
    updates = {}
    probe = probe_kwargs["model"]
    if ds.pred_probs is None:
        if ds.features is not None:
            from workbench.compute import cross_val_probs

            t0 = time.perf_counter()
            res = cross_val_probs(
                ds.features, ds.labels, **probe_kwargs, seed=seed, device=dev, progress=progress,
                n_classes=ds.n_classes,
            )  # fmt: skip
            timings["pred_probs"] = time.perf_counter() - t0
            updates["pred_probs"] = res.pred_probs
            n_folds = getattr(res, "n_folds", None) or (
                len(np.unique(res.fold_of)) if getattr(res, "fold_of", None) is not None else None
            )
            folds = f"{n_folds}-fold " if n_folds else ""
            computed["pred_probs"] = (
                f"out-of-fold probabilities of a {folds}cross-validated {probe} probe on the features"
            )
            if not ds.trajectories and getattr(res, "trajectories", None):
                updates["trajectories"] = dict(res.trajectories)
                computed["trajectories"] = (
                    f"per-epoch {', '.join(sorted(res.trajectories))} of the {probe} probe, "
                    "recorded on the given labels"
                )
        else:
            not_computed["pred_probs"] = "needs features (N×D) to train a cross-validated probe"
    if ds.coords is None:
        source = (
            ds.features if ds.features is not None else updates.get("pred_probs", ds.pred_probs)
        )
        if source is not None:
            from workbench.compute import project

            what = "features" if ds.features is not None else "pred_probs"
            t0 = time.perf_counter()
            updates["coords"] = project(source, method=projection, seed=seed, device=dev)
            timings["coords"] = time.perf_counter() - t0
            computed["coords"] = f"{projection.upper()} of the {what}"
        else:
            not_computed["coords"] = "needs features or pred_probs to project"
    return ds.with_signals(**updates) if updates else ds


def _noise_structure(ds: Dataset, device):
    """The matrices and estimated number of errors, from the dataset's shared analysis."""
    analysis = analysis_of(ds)
    matrices = {
        name: m for name, m in analysis.matrices(device=device).items() if name != "true_counts"
    }
    return matrices, analysis.estimated_num_errors(device=device)


def _check_split(ds: Dataset, split) -> None:
    """Before any work: ``split`` is None or a column of the dataset's metadata."""
    if split is None:
        return
    if not isinstance(split, str):
        raise TypeError(f"split must be None or the name of a metadata column, found {split!r}.")
    have = [] if ds.metadata is None else [str(c) for c in ds.metadata.columns]
    if split not in have:
        raise ValueError(
            f"split={split!r} must name a column of the dataset's metadata; found columns {have}."
        )


def _hoc_applies(ds: Dataset) -> bool:
    """HOC's transition matrix is part of the audit when there are features, at least 3
    samples and at most :data:`workbench.analysis.hoc.MAX_CLASSES` classes (K³ statistics)."""
    from workbench.analysis.hoc import MAX_CLASSES

    return ds.features is not None and ds.n_samples >= 3 and 2 <= ds.n_classes <= MAX_CLASSES


def _quality(ds: Dataset, results: dict[str, DetectorResult]):
    """Every detector's quality and precision-recall curve where the truth is known enough."""
    analysis = analysis_of(ds)
    quality = analysis.evaluate(results)
    if quality is None:
        return None, None
    return quality, {name: analysis.pr_curve(name, r.scores) for name, r in results.items()}
