"""What an audit found: detector results, noise structure, tables, and the atomic writer.

N is the number of samples and K the number of classes. Noise scores are higher = more likely
mislabeled. Transition matrices follow ``T[i, j] = P(given = j | true = i)`` (rows sum to 1).
:func:`workbench.audit` builds the :class:`AuditResult`; this module holds its tables,
its JSON summary and :meth:`AuditResult.write`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.analysis.derived import analysis_of
from workbench.analysis.detectors import (
    DetectorResult,
    detector_attr,
    detector_kind,
    label_error_detectors,
)
from workbench.analysis.matrices import MATRICES
from workbench.core.atomic import (
    clean_stale_temporaries,
    default_mode,
    sync_folder,
    target_mode,
    temp_prefix,
)
from workbench.core.csv_safety import neutralize_frame
from workbench.core.dataset import Dataset

__all__ = ["AuditResult", "MATRIX_ORIENTATION", "OUTPUT_FILES", "TEMPLATE_USER", "check_writable"]

#: Name of the temporary folder ``write`` makes inside an existing output folder.
_INNER_TEMP = ".workbench-audit"

#: The user recorded in the decisions template.
TEMPLATE_USER = "workbench-audit"

#: Every file ``AuditResult.write`` produces.
OUTPUT_FILES = (
    "scores.csv",
    "flagged.csv",
    "decisions_template.csv",
    "decisions_template.header.json",
    "summary.json",
    "report.html",
)


#: Above this many classes summary.json leaves the K×K matrices out (``values`` is null); they
#: stay in ``AuditResult.matrices``.
MAX_SUMMARY_CLASSES = 100

#: summary.json lists at most this many overlapping class pairs (most overlapping first).
MAX_SUMMARY_PAIRS = 100

#: How each matrix reads (rows, columns, cells, source), as written into ``summary.json``.
MATRIX_ORIENTATION = {name: m.orientation for name, m in MATRICES.items()}

_SIGNAL_ORDER = (
    "pred_probs",
    "pred_probs_ensemble",
    "features",
    "coords",
    "trajectories.loss",
    "trajectories.margin",
    "trajectories.given_prob",
    "trajectories.predicted",
    "annotators",
    "true_labels",
    "previews",
)


@dataclass(eq=False)
class AuditResult:
    """Everything one audit found about a dataset.

    Attributes
    ----------
    dataset : Dataset
        The audited dataset, with the signals the audit computed added to it.
    results : dict of name -> DetectorResult
        One result per detector that ran (scores higher = more likely mislabeled).
    unavailable : dict of name -> str
        Detectors that could not run, with the sentence why.
    failed : dict of name -> str
        Detectors that raised an error while running, with the error message.
    primary : str
        The detector whose flags make :meth:`flagged_frame` by default.
    computed : dict of signal -> str
        Signals the audit computed and how (e.g. ``"pred_probs": "5-fold linear probe"``).
    not_computed : dict of signal -> str
        Signals the audit could not compute, with the reason.
    matrices : dict of name -> ndarray of shape (K, K)
        ``"confusion"`` (rows = given label, columns = predicted label, counts),
        ``"estimated_transition"`` (``T[i, j] = P(given = j | true = i)`` estimated from
        pred_probs), ``"hoc_transition"`` (the same estimated by HOC from the features, without
        a model; with features and K <= ``workbench.pipeline.run.HOC_AUDIT_MAX_CLASSES``) and,
        when true labels are known, ``"true_transition"`` (the same, measured). :data:`workbench.analysis.matrices.MATRICES`
        describes each.
    estimated_num_errors : int or None
        Number of label errors estimated from pred_probs (None without pred_probs).
    quality : pandas.DataFrame or None
        Detector quality against the known true labels (one row per detector), else None.
    pr_curves : dict of name -> (precision, recall), or None
        Precision-recall curves against the known true labels, else None.
    class_health : dict or None
        With pred_probs, :func:`workbench.analysis.class_health.health_summary` of the dataset
        (``overall_label_health_score``: 1 - estimated share of wrong labels, higher = cleaner;
        ``classes_by_label_quality``: one row per class, noisiest first;
        ``overlapping_classes``: pairs of classes, most overlapping first; ``joint``;
        ``num_label_issues``), else None.
    skipped : dict of name -> str
        What the audit left out although its inputs exist, with the reason (e.g.
        ``"hoc_transition"`` above ``workbench.pipeline.run.HOC_AUDIT_MAX_CLASSES`` classes).
    seed : int or None
    device : str or None
        The torch device every step ran on (probe, projection, detectors, matrices).
    timings : dict of step -> seconds
    """

    dataset: Dataset
    results: dict[str, DetectorResult]
    unavailable: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    primary: str = ""
    computed: dict[str, str] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)
    matrices: dict[str, np.ndarray] = field(default_factory=dict)
    estimated_num_errors: int | None = None
    quality: pd.DataFrame | None = None
    pr_curves: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    class_health: dict | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    seed: int | None = 0
    device: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        ds = self.dataset
        return (
            f"AuditResult(N={ds.n_samples}, K={ds.n_classes}, detectors={sorted(self.results)}, "
            f"primary={self.primary!r}, flagged={self.results[self.primary].n_flagged})"
        )

    # --- tables ----------------------------------------------------------------------------------
    def suggested_labels(self) -> np.ndarray:
        """Suggested label per sample (int64, -1 where no detector suggests one).

        The primary detector's suggestion where it has one, else the most common suggestion
        of the other detectors (ties go to the smaller class index).
        """
        n, k = self.dataset.n_samples, self.dataset.n_classes
        out = np.full(n, -1, dtype=np.int64)
        primary = self.results[self.primary].suggested_labels
        others = [
            r.suggested_labels
            for name, r in self.results.items()
            if name != self.primary and r.suggested_labels is not None
        ]
        if others:
            votes = np.zeros((n, k), dtype=np.int32)
            rows = np.arange(n)
            for s in others:
                ok = (s >= 0) & (s < k)
                np.add.at(votes, (rows[ok], s[ok]), 1)
            has_vote = votes.max(axis=1) > 0
            out[has_vote] = votes[has_vote].argmax(axis=1)
        if primary is not None:
            ok = primary >= 0
            out[ok] = primary[ok]
        return out

    def scores_frame(self) -> pd.DataFrame:
        """One row per sample, in dataset order.

        Columns: ``id`` (the sample's id, its position when none was given), ``index``,
        ``label``, ``label_name``, ``true_label`` and ``true_label_name``
        (when known), ``suggested_label``, ``suggested_label_name``, ``n_detectors_flagging``
        (label-error detectors only, see :meth:`flagged_mask`), then per detector ``<name>_score`` (higher = more likely mislabeled), ``<name>_flag``
        and, when the detector suggests labels, ``<name>_suggested``.
        """
        ds = self.dataset
        names = np.asarray(list(ds.class_names) + [""], dtype=object)  # index -1 -> ""
        suggested = self.suggested_labels()
        cols: dict[str, np.ndarray] = {
            "id": ds.sample_ids(),
            "index": np.arange(ds.n_samples),
            "label": ds.labels,
            "label_name": names[ds.labels],
        }
        if ds.true_labels is not None:
            cols["true_label"] = ds.true_labels
            cols["true_label_name"] = names[ds.true_labels]
        cols["suggested_label"] = suggested
        cols["suggested_label_name"] = names[suggested]
        cols["n_detectors_flagging"] = self._votes().sum(axis=0)
        for name, r in self.results.items():
            cols[f"{name}_score"] = r.scores
            cols[f"{name}_flag"] = r.flags
            if r.suggested_labels is not None:
                cols[f"{name}_suggested"] = r.suggested_labels
        return pd.DataFrame(cols)

    def flagged_mask(self, by: str | int | None = None) -> np.ndarray:
        """Boolean (N,): which samples count as flagged.

        Parameters
        ----------
        by : str or int, optional
            None: the primary detector's flags; a detector name: its flags; ``"any"``: flagged by
            at least one detector; ``"all"``: by every detector; an int m: by at least m. The
            votes count label-error detectors only: an ambiguity or outlier score
            (``Detector.kind``: ``datamap_variability``, ``knn_outlier``) flags unclear or
            unusual samples, not wrong labels.
        """
        flags = self._votes()
        if by is None:
            return self.results[self.primary].flags
        if isinstance(by, str):
            if by == "any":
                return flags.any(axis=0)
            if by == "all":
                return flags.all(axis=0) & (len(flags) > 0)
            if by in self.results:
                return self.results[by].flags
            raise ValueError(
                f"by={by!r} is not a detector of this audit; choose None, 'any', 'all', an "
                f"integer or one of {sorted(self.results)}."
            )
        if isinstance(by, (int, np.integer)) and not isinstance(by, bool) and by >= 1:
            return flags.sum(axis=0) >= by
        raise ValueError(
            f"by must be None, 'any', 'all', a detector name or an int >= 1, found {by!r}."
        )

    def _votes(self) -> np.ndarray:
        """Flags of the label-error detectors, shape (D, N), bool (D = 0: shape (0, N))."""
        names = label_error_detectors(self.results)
        return np.array([self.results[n].flags for n in names], bool).reshape(
            len(names), self.dataset.n_samples
        )

    def flagged_frame(self, by: str | int | None = None) -> pd.DataFrame:
        """The rows of :meth:`scores_frame` that are flagged, most suspicious first.

        Flagged and ordered by the primary detector unless ``by`` names another detector (see
        :meth:`flagged_mask` for the choices). A ``rank`` column (1 = most suspicious) leads.
        """
        mask = self.flagged_mask(by)
        order_by = by if isinstance(by, str) and by in self.results else self.primary
        scores = self.results[order_by].scores
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        df = self.scores_frame().iloc[idx].reset_index(drop=True)
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        return df

    def decisions_template(self, by: str | int | None = None):
        """A decisions log with one ``needs_review`` entry per flagged sample, to review and edit.

        Returns a :class:`workbench.decisions.log.DecisionLog` (user ``"workbench-audit"``) whose
        entries carry the flagging detector, its rule and each sample's score, most suspicious
        first. ``write`` saves it as ``decisions_template.csv`` (a plain table, its header in
        ``decisions_template.header.json`` beside it), which :meth:`DecisionLog.load` reads back; a reviewer changes ``action`` (keep, remove,
        relabel with ``label``) for the samples they decide.
        """
        from workbench.decisions.log import DecisionLog

        flagged = self.flagged_frame(by)
        det = by if isinstance(by, str) and by in self.results else self.primary
        rule = "default flag rule" if by is None or det == by else f"flagged by {by}"
        log = DecisionLog.for_dataset(self.dataset, user=TEMPLATE_USER)
        log.decide(
            flagged["index"].to_numpy(),
            "needs_review",
            detector=det,
            threshold=rule,
            score=flagged[f"{det}_score"].to_numpy(),
            note="flagged by workbench-audit",
        )
        return log

    # --- summary ---------------------------------------------------------------------------------
    def summary(self) -> dict:
        """A JSON-ready dict: sizes, signals, detectors, matrices, estimated errors, quality,
        class health (with pred_probs)."""
        ds = self.dataset
        from workbench.core.version import __version__

        out = {
            "workbench_version": __version__,
            "n_samples": ds.n_samples,
            "n_classes": ds.n_classes,
            "class_names": list(ds.class_names),
            "class_counts": np.bincount(ds.labels, minlength=ds.n_classes).tolist(),
            "signals": [s for s in _SIGNAL_ORDER if ds.has(s)],
            "computed_signals": dict(self.computed),
            "not_computed_signals": dict(self.not_computed),
            "primary_detector": self.primary,
            "detectors": {
                name: {
                    "n_flagged": r.n_flagged,
                    "kind": detector_kind(name),
                    "suggests_labels": r.suggested_labels is not None,
                    "summary": detector_attr(name, "summary"),
                    "reference": detector_attr(name, "reference"),
                }
                for name, r in self.results.items()
            },
            "unavailable_detectors": dict(self.unavailable),
            "failed_detectors": dict(self.failed),
            "n_flagged": int(self.flagged_mask().sum()),
            "estimated_num_errors": self.estimated_num_errors,
            "matrices": {
                name: {
                    "orientation": MATRIX_ORIENTATION[name],
                    "values": m.tolist() if ds.n_classes <= MAX_SUMMARY_CLASSES else None,
                }
                for name, m in self.matrices.items()
            },
            "skipped": dict(self.skipped),
            "truth_known": ds.has_truth,
            "seed": self.seed,
            "device": self.device,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if ds.has_truth:
            out["n_true_errors"] = int(ds.is_noisy.sum())
            out["n_known_true_labels"] = int(analysis_of(ds).known_truth.sum())
        if self.quality is not None:
            out["detector_quality"] = self.quality.to_dict(orient="records")
        if self.class_health is not None:
            out["class_health"] = self._class_health_summary()
        return _json_safe(out)

    def _class_health_summary(self) -> dict:
        """Class health for summary.json: the score, every class, the overlapping pairs (at
        most :data:`MAX_SUMMARY_PAIRS`, those with an estimated overlapping sample)."""
        h = self.class_health
        pairs = h["overlapping_classes"]
        pairs = pairs[pairs["num_overlapping"] > 0].head(MAX_SUMMARY_PAIRS)
        return {
            "overall_label_health_score": float(h["overall_label_health_score"]),
            "num_label_issues": int(h["num_label_issues"]),
            "classes_by_label_quality": h["classes_by_label_quality"].to_dict(orient="records"),
            "overlapping_classes": pairs.to_dict(orient="records"),
        }

    # --- writing ---------------------------------------------------------------------------------
    def write(self, outdir, *, top: int = 50, by: str | int | None = None) -> dict[str, Path]:
        """Write every output file into ``outdir``, atomically.

        Files: ``scores.csv`` (:meth:`scores_frame`), ``flagged.csv`` (:meth:`flagged_frame`),
        ``decisions_template.csv`` and its header ``decisions_template.header.json``
        (:meth:`decisions_template`), ``summary.json``
        (:meth:`summary`) and ``report.html`` (:func:`workbench.pipeline.report.write_report`, showing
        the ``top`` most suspicious samples).

        Everything is written into a temporary folder first. When ``outdir`` does not exist,
        that folder is made beside it and renamed to it in one step; when it exists, the
        temporary folder is made inside it (so a mount point or a folder whose parent the user
        cannot write works: no rename across devices) and each file replaces its old version by
        ``os.replace`` only after all were written, keeping the old file's mode. A failure
        removes the temporary folder, so no half-written output is left; a temporary folder an
        earlier killed run left is removed. :func:`check_writable` says beforehand whether
        ``outdir`` can be written.

        Returns
        -------
        dict of file name -> Path
        """
        from workbench.pipeline.report import render_report

        out = Path(outdir).expanduser().absolute()
        if out.exists() and not out.is_dir():
            raise ValueError(f"outdir={str(outdir)!r} exists and is not a folder.")
        if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or top < 0:
            raise ValueError(f"top must be an integer >= 0, found {top!r}.")
        inside = out.is_dir()
        created = [] if inside else _make_parents(out.parent)
        marker = out / _INNER_TEMP if inside else out
        clean_stale_temporaries(marker)
        tmp = Path(
            tempfile.mkdtemp(
                prefix=temp_prefix(marker.name), suffix=".tmp", dir=out if inside else out.parent
            )
        )
        try:
            flagged = self.flagged_frame(by)
            _write_csv(self.scores_frame(), tmp / "scores.csv")
            _write_csv(flagged, tmp / "flagged.csv")
            self.decisions_template(by).to_csv(tmp / "decisions_template.csv")
            summary = self.summary()
            summary["files"] = list(OUTPUT_FILES)
            (tmp / "summary.json").write_text(
                json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8"
            )
            (tmp / "report.html").write_text(render_report(self, top=top), encoding="utf-8")
            for name in OUTPUT_FILES:
                # temp files are private; an output keeps the mode of the file it replaces
                os.chmod(tmp / name, target_mode(out / name))
                _fsync(tmp / name)
            if not inside:
                os.chmod(tmp, default_mode(folder=True))
                os.rename(tmp, out)
            else:
                for name in OUTPUT_FILES:
                    os.replace(tmp / name, out / name)
                tmp.rmdir()
            sync_folder(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            for folder in reversed(created):
                try:
                    folder.rmdir()
                except OSError:
                    pass
            raise
        return {name: out / name for name in OUTPUT_FILES}


# --- helpers -------------------------------------------------------------------------------------
def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is None or isinstance(obj, (int, str)):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p ``folder``; return the folders it created, outermost first."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    missing.reverse()
    for p in missing:
        p.mkdir()
    return missing


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV through pyarrow (several times faster than pandas at N = 1e6; reads back equal).

    Text cells are neutralised against spreadsheet formulas
    (:mod:`workbench.core.csv_safety`); numbers stay numbers.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.Table.from_pandas(neutralize_frame(df), preserve_index=False)
    pa_csv.write_csv(table, str(path))


def check_writable(outdir) -> Path:
    """Check, before any work, that :meth:`AuditResult.write` can write ``outdir``.

    An existing folder must let us create files in it; a missing one needs its nearest
    existing parent to. Returns the absolute path.

    Raises
    ------
    ValueError
        ``outdir`` (or a parent) exists and is not a folder.
    PermissionError, OSError
        The folder cannot be written; the message names it.
    """
    out = Path(outdir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ValueError(f"outdir={str(outdir)!r} exists and is not a folder.")
    probe_in = out
    while not probe_in.exists():
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise ValueError(f"outdir={str(outdir)!r}: {str(probe_in)!r} is not a folder.")
    try:
        with tempfile.TemporaryFile(dir=probe_in, prefix=".workbench-write-check."):
            pass
    except OSError as err:
        what = "the output folder" if probe_in == out else "the folder it would be made in"
        raise type(err)(
            err.errno, f"cannot write {what} {str(probe_in)!r} ({err.strerror or err})"
        ) from None
    return out


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
