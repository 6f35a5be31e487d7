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
  (sample, class), when true label sets are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.analysis.detectors import available_detectors, check_detector_names, score_each
from workbench.analysis.multilabel.metrics import multilabel_evaluate
from workbench.analysis.multilabel.summary import rank_classes_by_multilabel_quality
from workbench.core.atomic import atomic_file
from workbench.core.csv_safety import neutralize_frame
from workbench.core.label_sets import label_set_strings

__all__ = ["PRIMARY", "MultilabelAudit", "audit_multilabel"]

#: The default primary detector (its flags make ``flagged.csv``), then the fallbacks.
PRIMARY = ("multilabel_confident_learning", "multilabel_label_quality",
           "multilabel_dawid_skene", "multilabel_knn_disagreement")  # fmt: skip


@dataclass
class MultilabelAudit:
    """Results of :func:`audit_multilabel`: ``results`` (name -> DetectorResult),
    ``unavailable`` (name -> why), ``failed`` (name -> error), ``primary`` and the dataset
    (with the computed signals)."""

    dataset: object
    results: dict
    unavailable: dict
    failed: dict = field(default_factory=dict)
    primary: str | None = None

    def summary(self) -> dict:
        flags = self.results[self.primary].flags if self.primary else None
        return {
            "n_samples": self.dataset.n_samples,
            "n_classes": self.dataset.n_classes,
            "task": "multilabel",
            "n_flagged": int(flags.sum()) if flags is not None else 0,
            "primary": self.primary,
        }

    # --- tables --------------------------------------------------------------------------------
    def scores_table(self) -> pd.DataFrame:
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

    def write(self, out, *, top: int | None = None) -> list[str]:
        """Write the tables (module docstring) into folder ``out``; returns the file names."""
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
        return written


def audit_multilabel(dataset, *, compute_missing: bool = True, detectors=None, seed: int = 0,
                     device=None, progress: bool = True, probe: dict | None = None,
                     primary: str | None = None) -> MultilabelAudit:  # fmt: skip
    """Audit a multi-label ``dataset`` (see the module docstring).

    ``probe``: options of the sigmoid probe (``model``, ``n_folds``, ``epochs``...), used when
    ``compute_missing`` and the dataset has features but no ``pred_probs``. ``detectors``:
    names (default: every detector that works here). ``primary``: the detector whose flags
    make ``flagged.csv`` (default: the first of :data:`PRIMARY` that ran).
    """
    if not getattr(dataset, "is_multilabel", False):
        raise ValueError("audit_multilabel needs a multi-label Dataset (task='multilabel').")
    names = check_detector_names(detectors)
    if compute_missing and dataset.pred_probs is None and dataset.features is not None:
        from workbench.compute.probe_multilabel import cross_val_sigmoid_probs

        fit = cross_val_sigmoid_probs(
            dataset.features, dataset.labels, seed=seed, device=device, progress=progress,
            **(probe or {}),
        )  # fmt: skip
        signals = fit.to_dataset_kwargs()
        if dataset.trajectories:
            signals.pop("trajectories", None)
        dataset = dataset.with_signals(**signals)
    why = available_detectors(dataset)
    if names is None:
        names = [n for n, reason in why.items() if reason is None]
    unavailable = {n: r for n, r in why.items() if r is not None}
    ready = [n for n in names if why.get(n) is None]
    results, failed, _ = score_each(dataset, ready, progress=progress, device=device, seed=seed)
    if primary is not None and primary not in results:
        raise ValueError(f"primary={primary!r} did not run; ran: {sorted(results)}.")
    primary = primary or next((p for p in PRIMARY if p in results), None)
    return MultilabelAudit(dataset, results, unavailable, failed, primary)
