"""The audit of a multi-label dataset: compute what is missing, run the multi-label detectors,
write tables per sample, per (sample, class) and per class.

N samples, K classes; ``dataset.labels`` (N, K) bool label sets. :func:`audit_multilabel`
computes out-of-fold per-class probabilities with the sigmoid probe when the dataset has
features but no ``pred_probs`` (:func:`workbench.compute.probe_multilabel.cross_val_sigmoid_probs`),
runs every detector that works on label sets, and :meth:`MultilabelAudit.write` writes
spreadsheet-safe CSV files atomically:

- ``scores.csv``: one row per sample: id, given set (``"a|b"``), and per detector its score
  (higher = more suspicious), flag and suggested set;
- ``flagged.csv``: the samples the primary detector flags, most suspicious first, with the
  classes to remove and to add;
- ``annotations.csv``: every flagged (sample, class) annotation of every detector that flags
  annotations, with its per-class score;
- ``classes.csv``: per class, how often it seems wrongly given / wrongly missing (cleanlab's
  ``rank_classes_by_multilabel_quality``), when ``pred_probs`` exist;
- ``metrics.csv``: precision, recall, F1, AP, AUROC per detector, per sample and per
  (sample, class), when true label sets are known;
- ``summary.json``: counts, the detectors that ran / could not / failed, the signals computed,
  the per-class 2×2 counts and (up to :data:`MAX_SUMMARY_CLASSES` classes) the co-occurrence;
- ``report.html``: the static report (:func:`workbench.pipeline.report.render_report`) with
  the per-class issue table, the per-class 2×2 matrices, the co-occurrence matrix, the detector
  comparison and the flagged samples with their given and suggested sets.

:func:`workbench.audit` calls :func:`audit_multilabel` for a multi-label Dataset.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.analysis.detectors import available_detectors, check_detector_names, score_each
from workbench.analysis.multilabel.matrices import class_counts, cooccurrence
from workbench.analysis.multilabel.metrics import multilabel_evaluate, multilabel_pr_curves
from workbench.analysis.multilabel.summary import rank_classes_by_multilabel_quality
from workbench.core.atomic import atomic_file
from workbench.core.csv_safety import neutralize_frame
from workbench.core.label_sets import label_set_strings

__all__ = [
    "MAX_COOCCURRENCE_CLASSES",
    "MAX_SUMMARY_CLASSES",
    "OUTPUT_FILES",
    "PRIMARY",
    "MultilabelAudit",
    "audit_multilabel",
]

#: Every file :meth:`MultilabelAudit.write` may produce (``classes.csv`` needs ``pred_probs``,
#: ``metrics.csv`` known true label sets).
OUTPUT_FILES = ("scores.csv", "flagged.csv", "annotations.csv", "classes.csv", "metrics.csv",
                "summary.json", "report.html")  # fmt: skip

#: Above this many classes summary.json leaves the K×K co-occurrence out (it stays in
#: ``MultilabelAudit.matrices``).
MAX_SUMMARY_CLASSES = 100
#: The audit computes the co-occurrence matrix up to this many classes (K² counts).
MAX_COOCCURRENCE_CLASSES = 5_000

#: The default primary detector (its flags make ``flagged.csv``), then the fallbacks.
PRIMARY = ("multilabel_confident_learning", "multilabel_label_quality",
           "multilabel_dawid_skene", "multilabel_knn_disagreement")  # fmt: skip


@dataclass(eq=False)
class MultilabelAudit:
    """Results of :func:`audit_multilabel` (and of :func:`workbench.audit` on multi-label data).

    Attributes
    ----------
    dataset : Dataset (task="multilabel")
        The audited dataset, with the signals the audit computed.
    results : dict of name -> DetectorResult
        Scores (N,) higher = more suspicious, flags, suggested sets (N, K) and per-class
        details of every detector that ran.
    unavailable, failed : dict of name -> str
        Detectors that could not run (why) / raised an error (the message).
    primary : str or None
        The detector whose flags make ``flagged.csv``.
    computed, not_computed : dict of signal -> str
        Signals the audit computed (how) / could not compute (why).
    matrices : dict of name -> ndarray
        ``"class_counts"`` (K, 2, 2) ``[c, given, predicted]`` with a class predicted where its
        probability exceeds 0.5 (with ``pred_probs``), ``"cooccurrence"`` (K, K) samples given
        both classes (up to :data:`MAX_COOCCURRENCE_CLASSES` classes).
    seed, device, timings
        The audit's seed, where it ran, seconds per step.
    """

    dataset: object
    results: dict
    unavailable: dict
    failed: dict = field(default_factory=dict)
    primary: str | None = None
    computed: dict = field(default_factory=dict)
    not_computed: dict = field(default_factory=dict)
    matrices: dict = field(default_factory=dict)
    seed: int | None = 0
    device: str | None = None
    timings: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        ds = self.dataset
        return (
            f"MultilabelAudit(N={ds.n_samples}, K={ds.n_classes}, detectors={len(self.results)}, "
            f"primary={self.primary!r}, flagged={int(self.flagged_mask().sum())})"
        )

    def flagged_mask(self) -> np.ndarray:
        """(N,) bool: the samples the primary detector flags (none without a primary)."""
        if self.primary is None:
            return np.zeros(self.dataset.n_samples, bool)
        return np.asarray(self.results[self.primary].flags, dtype=bool)

    def summary(self) -> dict:
        """JSON-ready summary: counts, detectors, signals, per-class counts (see ``write``)."""
        ds = self.dataset
        Y = ds.labels
        names = [str(c) for c in ds.class_names]
        per_class = {"class": names, "given": np.count_nonzero(Y, axis=0).tolist()}
        counts = self.matrices.get("class_counts")
        if counts is not None:
            per_class.update(
                given_not_predicted=counts[:, 1, 0].tolist(),
                predicted_not_given=counts[:, 0, 1].tolist(),
            )
        co = self.matrices.get("cooccurrence")
        out = {
            "task": "multilabel",
            "n_samples": ds.n_samples,
            "n_classes": ds.n_classes,
            "mean_labels_per_sample": float(Y.sum(axis=1).mean()) if ds.n_samples else 0.0,
            "n_without_label": int(np.count_nonzero(~Y.any(axis=1))),
            "n_flagged": int(self.flagged_mask().sum()),
            "primary": self.primary,
            "seed": self.seed,
            "device": self.device,
            "detectors": {
                name: {"n_flagged": int(res.n_flagged)} for name, res in self.results.items()
            },
            "unavailable": dict(self.unavailable),
            "failed": dict(self.failed),
            "computed": dict(self.computed),
            "not_computed": dict(self.not_computed),
            "classes": [
                dict(zip(per_class, row, strict=True))
                for row in zip(*per_class.values(), strict=True)
            ],  # fmt: skip
            "cooccurrence": (
                co.tolist() if co is not None and ds.n_classes <= MAX_SUMMARY_CLASSES else None
            ),
            "timings": {k: float(v) for k, v in self.timings.items()},
        }
        if ds.true_labels is not None and ds.has_truth:
            out["n_true_errors"] = int(ds.is_noisy.sum())
        return out

    def pr_curves(self, level: str = "sample") -> dict | None:
        """Precision-recall curves against the known true label sets (None without them):
        ``{name: (precision, recall)}`` at ``level`` ("sample" or "annotation")."""
        ds = self.dataset
        if not self.results or ds.true_labels is None or not ds.has_truth:
            return None
        known = (ds.true_labels >= 0).all(axis=1)
        if not ds.is_noisy[known].any() or ds.is_noisy[known].all():
            return None
        curves = multilabel_pr_curves(self.results, ds.labels, ds.true_labels, level=level)
        return {name: (c[0], c[1]) for name, c in curves.items()}

    # --- tables --------------------------------------------------------------------------------
    def scores_table(self) -> pd.DataFrame:
        """One row per sample: id, index, given set (``"a|b"``) and per detector its score
        (higher = more suspicious), flag and suggested set (``scores.csv``)."""
        ds = self.dataset
        df = pd.DataFrame({"id": ds.sample_ids(), "index": np.arange(ds.n_samples),
                           "label": label_set_strings(ds.labels, ds.class_names)})  # fmt: skip
        for name, res in self.results.items():
            df[f"{name}_score"] = res.scores
            df[f"{name}_flagged"] = res.flags
            if res.suggested_labels is not None and res.suggested_labels.ndim == 2:
                df[f"{name}_suggested"] = label_set_strings(res.suggested_labels, ds.class_names)
        return df

    def flagged_table(self, top: int | None = None) -> pd.DataFrame:
        """The samples the primary detector flags, most suspicious first (at most ``top``):
        id, index, score, given and suggested sets, the classes to remove and to add
        (``flagged.csv``)."""
        ds = self.dataset
        cols = ["id", "index", "score", "label", "suggested", "remove", "add"]
        if self.primary is None:
            return pd.DataFrame(columns=cols)
        res = self.results[self.primary]
        idx = np.flatnonzero(res.flags)
        idx = idx[np.argsort(-res.scores[idx], kind="stable")]
        if top:
            idx = idx[:top]
        given = ds.labels[idx]
        suggested = (res.suggested_labels[idx] > 0) if res.suggested_labels is not None else given
        names = ds.class_names
        return pd.DataFrame(
            {
                "id": ds.sample_ids()[idx],
                "index": idx,
                "score": res.scores[idx],
                "label": label_set_strings(given, names),
                "suggested": label_set_strings(suggested, names),
                "remove": label_set_strings(given & ~suggested, names),
                "add": label_set_strings(~given & suggested, names),
            },
            columns=cols,
        )

    # the names AuditResult uses, so code written for one-label audits reads these too
    def scores_frame(self) -> pd.DataFrame:
        """:meth:`scores_table` (the name :class:`~workbench.pipeline.result.AuditResult` uses)."""
        return self.scores_table()

    def flagged_frame(self, top: int | None = None) -> pd.DataFrame:
        """:meth:`flagged_table` (the name :class:`~workbench.pipeline.result.AuditResult` uses)."""
        return self.flagged_table(top)

    def annotations_table(self) -> pd.DataFrame:
        ds, frames = self.dataset, []
        for name, res in self.results.items():
            flags = res.details.get("per_class_flags")
            if flags is None:
                continue
            rows, cols = np.nonzero(flags)
            scores = res.details.get("per_class_scores")
            frames.append(pd.DataFrame({
                "detector": name, "id": ds.sample_ids()[rows], "index": rows,
                "class": np.asarray(ds.class_names, dtype=object)[cols],
                "given": ds.labels[rows, cols].astype(int),
                "score": np.asarray(scores)[rows, cols] if scores is not None else np.nan,
            }))  # fmt: skip
        columns = ["detector", "id", "index", "class", "given", "score"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def classes_table(self) -> pd.DataFrame | None:
        ds = self.dataset
        if ds.pred_probs is None:
            return None
        return rank_classes_by_multilabel_quality(
            ds.labels, ds.pred_probs, class_names=ds.class_names
        )

    def metrics_table(self) -> pd.DataFrame | None:
        ds = self.dataset
        if not self.results or ds.true_labels is None or not (ds.true_labels >= 0).any():
            return None
        return multilabel_evaluate(self.results, ds.labels, ds.true_labels)

    def write(self, out, *, top: int | None = None, report_top: int = 50) -> list[str]:
        """Write the tables, ``summary.json`` and ``report.html`` (module docstring) into
        folder ``out``, each file atomically; returns the file names. ``top`` limits
        ``flagged.csv``; ``report_top``: flagged samples shown in the report."""
        from workbench.pipeline.report import render_report

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tables = {
            "scores.csv": self.scores_table(),
            "flagged.csv": self.flagged_table(top),
            "annotations.csv": self.annotations_table(),
            "classes.csv": self.classes_table(),
            "metrics.csv": self.metrics_table(),
        }
        written = []
        for name, table in tables.items():
            if table is None:
                continue
            with atomic_file(out / name, "w") as fh:
                neutralize_frame(table).to_csv(fh, index=False)
            written.append(name)
        summary = self.summary()
        summary["files"] = [*written, "summary.json", "report.html"]
        with atomic_file(out / "summary.json", "w") as fh:
            fh.write(json.dumps(summary, indent=2, allow_nan=False))
        with atomic_file(out / "report.html", "w") as fh:
            fh.write(render_report(self, top=report_top))
        return summary["files"]


def audit_multilabel(dataset, *, compute_missing: bool = True, detectors=None, seed: int = 0,
                     device=None, progress: bool = True, probe: dict | None = None,
                     primary: str | None = None, projection: str | None = None) -> MultilabelAudit:  # fmt: skip
    """Audit a multi-label ``dataset`` (see the module docstring).

    ``probe``: options of the sigmoid probe (``model``, ``n_folds``, ``epochs``...), used when
    ``compute_missing`` and the dataset has features but no ``pred_probs``. ``detectors``:
    names (default: every detector that works here). ``primary``: the detector whose flags
    make ``flagged.csv`` (default: the first of :data:`PRIMARY` that ran). ``projection``
    ("pca" or "umap"): with ``compute_missing``, 2-D ``coords`` for the map from the features
    (or ``pred_probs``) when the dataset has none (default: not computed).
    """
    if not getattr(dataset, "is_multilabel", False):
        raise ValueError("audit_multilabel needs a multi-label Dataset (task='multilabel').")
    if projection not in (None, "pca", "umap"):
        raise ValueError(f"projection must be 'pca', 'umap' or None, found {projection!r}.")
    names = check_detector_names(detectors)
    computed, not_computed, timings = {}, {}, {}
    if compute_missing and dataset.pred_probs is None:
        if dataset.features is None:
            not_computed["pred_probs"] = "needs features (N×D) to train a cross-validated probe"
        else:
            from workbench.compute.probe_multilabel import cross_val_sigmoid_probs

            t0 = time.perf_counter()
            options = {"model": "linear", "n_folds": 5, **(probe or {})}
            fit = cross_val_sigmoid_probs(
                dataset.features, dataset.labels, seed=seed, device=device, progress=progress,
                n_classes=dataset.n_classes, **options,
            )  # fmt: skip
            timings["pred_probs"] = time.perf_counter() - t0
            signals = fit.to_dataset_kwargs()
            computed["pred_probs"] = (
                f"out-of-fold per-class probabilities of a {options['n_folds']}-fold "
                f"cross-validated {options['model']} sigmoid probe on the features"
            )
            if dataset.trajectories:
                signals.pop("trajectories", None)
            elif signals.get("trajectories"):
                computed["trajectories"] = "per-epoch BCE and margins of the sigmoid probe"
            dataset = dataset.with_signals(**signals)
    if compute_missing and projection is not None and dataset.coords is None:
        source = dataset.features if dataset.features is not None else dataset.pred_probs
        if source is None:
            not_computed["coords"] = "needs features or pred_probs to project"
        elif np.shape(source)[1] < 2 or len(source) < 2:
            not_computed["coords"] = "needs at least 2 samples and 2 columns to project to 2-D"
        else:
            from workbench.compute import project

            t0 = time.perf_counter()
            coords = project(source, method=projection, seed=seed, device=device)
            timings["coords"] = time.perf_counter() - t0
            what = "features" if dataset.features is not None else "pred_probs"
            computed["coords"] = f"{projection.upper()} of the {what}"
            dataset = dataset.with_signals(coords=coords)
    why = available_detectors(dataset)
    if names is None:
        names = [n for n, reason in why.items() if reason is None]
        if not names:  # say what each label-set detector needs, not the single-label ones
            needs = {n: w for n, w in why.items() if n.startswith("multilabel_")}
            raise ValueError(
                "No detector can run on this multi-label dataset: "
                + "; ".join(f"{n}: {w.rstrip('.')}" for n, w in needs.items())
                + "."
            )
    else:
        blocked = {n: why[n] for n in names if why.get(n) is not None}
        if blocked:
            raise ValueError(
                "Requested detectors cannot run on this dataset: "
                + "; ".join(f"{n}: {w}" for n, w in blocked.items())
            )
    unavailable = {n: r for n, r in why.items() if r is not None}
    ready = [n for n in names if why.get(n) is None]
    results, failed, seconds = score_each(
        dataset, ready, progress=progress, device=device, seed=seed
    )
    timings.update({f"detector.{name}": t for name, t in seconds.items()})
    if primary is not None and primary not in results:
        raise ValueError(f"primary={primary!r} did not run; ran: {sorted(results)}.")
    primary = primary or next((p for p in PRIMARY if p in results), None)
    matrices = {}
    if dataset.n_classes <= MAX_COOCCURRENCE_CLASSES:
        matrices["cooccurrence"] = cooccurrence(dataset.labels)
    if dataset.pred_probs is not None:
        matrices["class_counts"] = class_counts(dataset.labels, dataset.pred_probs)
    return MultilabelAudit(
        dataset, results, unavailable, failed, primary, computed=computed,
        not_computed=not_computed, matrices=matrices, seed=seed,
        device=None if device is None else str(device), timings=timings,
    )  # fmt: skip
