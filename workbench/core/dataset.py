"""The dataset model: labels plus whatever signals exist, validated once, up front.

N samples, K classes, D feature dimensions, E epochs, M annotators. Indices are positions
0..N-1 in the data as given, and every table the package returns keeps them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.core.identity import fingerprint, resolve_ids
from workbench.core.label_sets import (
    CLASS_MARGIN,
    MULTILABEL,
    check_class_margins,
    label_set_lists,
    label_set_strings,
    multilabel_signals,
    resolve_task,
)
from workbench.core.typing import ArrayLike
from workbench.core.validation import (
    align_on_index,
    as_array,
    as_float,
    check_consistent_length,
    check_finite,
    check_labels,
    check_pred_probs,
)

__all__ = ["Dataset", "EmptyClassWarning", "TRAJECTORY_KINDS", "SIGNALS"]

#: Per-epoch signals a dataset can hold, each of shape (N, E).
TRAJECTORY_KINDS = ("loss", "margin", "given_prob", "predicted")

#: Every signal name a detector can require, with what provides it.
SIGNALS = {
    "pred_probs": "out-of-sample predicted probabilities (N×K), e.g. from "
    "workbench.compute.cross_val_probs",
    "pred_probs_ensemble": "predicted probabilities from two or more models "
    "(pass pred_probs as a dict of name -> N×K array)",
    "features": "features or embeddings (N×D)",
    "coords": "2-D map coordinates (N×2), e.g. from workbench.compute.project",
    **{
        f"trajectories.{k}": f"per-epoch {k} (N×E), recorded by workbench.compute.TrajectoryRecorder"
        for k in TRAJECTORY_KINDS
    },
    "trajectories.class_margin": "per-class margins of the given annotations per epoch "
    "(N×K×E, multi-label), recorded by workbench.compute.cross_val_sigmoid_probs",
    "annotators": "labels from several annotators (N×M, -1 where missing)",
    "true_labels": "true labels (known for simulated noise or after human verification)",
    "previews": "images or texts to preview",
}


class EmptyClassWarning(UserWarning):
    """A class of the dataset (from ``class_names`` or the columns of ``pred_probs``) has no
    sample labelled with it: accepted, but its per-class results are undefined."""


def _show_names(names: list[str], n: int = 10) -> str:
    return repr(names[:n])[:-1] + (f", ... ({len(names)} in all)]" if len(names) > n else "]")


class Dataset:
    """Labels of a classification dataset plus the signals that exist for it.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given (possibly noisy) labels: integers 0..K-1 or class-name strings.
    class_names : sequence of str, optional
        The K class names in index order. Default: "0".."K-1" for integer labels, the sorted
        unique names for string labels.
    pred_probs : array-like of shape (N, K), or dict of name -> (N, K), optional
        **Out-of-sample** (cross-validated) predicted probabilities. A dict holds several models;
        ``pred_probs`` is then their mean and ``pred_probs_by_model`` keeps each.
    features : array-like of shape (N, D), optional
        Features or embeddings.
    coords : array-like of shape (N, 2), optional
        2-D coordinates for the map.
    trajectories : dict of kind -> array-like of shape (N, E), optional
        Per-epoch training signals; kinds are ``loss``, ``margin``, ``given_prob`` (probability
        of the given label) and ``predicted`` (predicted class).
    annotators : array-like of shape (N, M), optional
        Labels from M annotators; -1, NaN or None where an annotator did not label a sample.
    true_labels : array-like of shape (N,), optional
        True labels when known (simulated noise, human verification); -1 where unknown.
    previews : sequence of length N, optional
        Images (arrays H×W or H×W×C) or texts to show next to each sample.
    metadata : pandas.DataFrame with N rows, optional
        Free columns kept alongside (ids, file names, ...).
    renormalize : bool, default=False
        Divide ``pred_probs`` rows by their sum when they do not sum to 1.
    ids : array-like of shape (N,), "index" or str, optional
        Sample ids: unique ints or strings (file names, database keys) that decisions and
        exports carry and ``DecisionLog.apply`` joins by; ``"index"`` takes the pandas index of
        ``labels`` (or of ``metadata``), another string names a ``metadata`` column. Default:
        positions 0..N-1. Duplicate or missing ids are refused, naming them.

    task : {"multiclass", "multilabel"}, optional
        ``"multilabel"``: every sample carries a *set* of classes (possibly empty); ``labels``
        is then an N×K 0/1 matrix, N lists of class indices or names, or a pandas column of
        lists or ``"a|b"`` strings, held as an (N, K) bool matrix; ``pred_probs`` are N×K
        independent per-class probabilities (rows need not sum to 1); ``true_labels`` label
        sets (None where unknown); ``annotators`` an (N, M, K) 0/1 array (-1 where not given)
        or M columns of label sets. Default: inferred, multi-label when ``labels`` can only be
        label sets (lists per sample, a 2-D matrix); ``"a|b"`` strings need ``task``.
        See :mod:`workbench.core.label_sets`.

    Raises
    ------
    ValueError, TypeError
        For any malformed input, naming the argument, the expected and the found value.
    """

    def __init__(
        self,
        labels: ArrayLike,
        *,
        class_names: Sequence[str] | None = None,
        pred_probs: ArrayLike | Mapping[str, ArrayLike] | None = None,
        features: ArrayLike | None = None,
        coords: ArrayLike | None = None,
        trajectories: Mapping[str, ArrayLike] | None = None,
        annotators: ArrayLike | None = None,
        true_labels: ArrayLike | None = None,
        previews: Sequence | np.ndarray | None = None,
        metadata: pd.DataFrame | None = None,
        renormalize: bool = False,
        ids=None,
        task: str | None = None,
    ):
        labels, pred_probs, features, coords, trajectories, annotators, true_labels, previews, \
            metadata = _align(labels, pred_probs, features, coords, trajectories, annotators,
                              true_labels, previews, metadata)  # fmt: skip
        self.task = resolve_task(task, labels)
        if self.task == MULTILABEL:
            self._init_label_sets(labels, class_names, pred_probs, annotators, true_labels)
            self._init_signals(features, coords, trajectories, previews, metadata, ids, labels)
            return
        models = _pred_prob_models(pred_probs)
        n_classes = next(iter(models.values())).shape[1] if models else None
        classes_from = f"the {n_classes} columns of pred_probs" if models else None
        if class_names is not None:
            class_names = _check_class_names(class_names)
            if n_classes is not None and len(class_names) != n_classes:
                raise ValueError(
                    f"pred_probs has {n_classes} columns but class_names has "
                    f"{len(class_names)} names; give one pred_probs column per class, in "
                    "class_names order."
                )
            n_classes = len(class_names)
        self.labels, self.class_names = check_labels(
            labels,
            class_names=class_names,
            n_classes=n_classes,
            require_dense=True,
            classes_from=classes_from,
        )
        n, k = len(self.labels), len(self.class_names)
        if n < 2:
            raise ValueError(f"labels must hold at least 2 samples, found {n}.")
        if k < 2:
            raise ValueError(f"labels must hold at least 2 classes, found K={k}.")
        counts = np.bincount(self.labels, minlength=k)
        if (counts == 0).any():
            empty = [self.class_names[i] for i in np.flatnonzero(counts == 0)]
            source = classes_from or (
                f"the {k} class_names" if class_names is not None else f"K={k}"
            )
            warnings.warn(
                f"Classes with no samples in labels: {_show_names(empty)} (K={k} from "
                f"{source}). Accepted (a test split or a shard often misses a class), but "
                "their per-class results are undefined: a confident threshold, a noise rate "
                "and precision/recall need given labels of the class, so those rows of the "
                "matrices are empty and no sample is counted as confidently in such a class. "
                "If they are not classes of this data, drop them from class_names/pred_probs.",
                EmptyClassWarning,
                stacklevel=2,
            )

        self.pred_probs_by_model = {
            name: check_pred_probs(
                p,
                name=f"pred_probs[{name!r}]" if len(models) > 1 else "pred_probs",
                n_samples=n,
                n_classes=k,
                renormalize=renormalize,
            )
            for name, p in models.items()
        }
        checked = list(self.pred_probs_by_model.values())
        if len(checked) > 1:
            self.pred_probs = np.mean(checked, axis=0, dtype=np.float32)
        else:
            self.pred_probs = checked[0] if checked else None
        self.features = _check_matrix(features, "features", n)
        self.coords = _check_matrix(coords, "coords", n, width=2)
        self.trajectories = _check_trajectories(trajectories, n, k)
        self.annotators = _check_annotators(annotators, n, self.class_names)
        self.true_labels = None
        if true_labels is not None:
            self.true_labels, _ = check_labels(
                true_labels,
                name="true_labels",
                class_names=self.class_names,
                n_classes=k,
                allow_missing=True,
            )
            check_consistent_length(labels=self.labels, true_labels=self.true_labels)
        self.previews = _check_previews(previews, n)
        self.ids = resolve_ids(ids, n, labels=labels, metadata=metadata)
        if metadata is not None:
            if not isinstance(metadata, pd.DataFrame):
                raise TypeError(
                    f"metadata must be a pandas DataFrame, found {type(metadata).__name__}."
                )
            check_consistent_length(labels=self.labels, metadata=metadata)
            metadata = metadata.reset_index(drop=True)
        self.metadata = metadata

    def _init_label_sets(self, labels, class_names, pred_probs, annotators, true_labels):
        """Multi-label checks of the label-dependent inputs (:mod:`workbench.core.label_sets`)."""
        if class_names is not None:
            class_names = _check_class_names(class_names)
        checked = multilabel_signals(
            labels, class_names=class_names, pred_probs=pred_probs, annotators=annotators,
            true_labels=true_labels,
        )  # fmt: skip
        self.labels, self.class_names = checked["labels"], checked["class_names"]
        self.pred_probs = checked["pred_probs"]
        self.pred_probs_by_model = checked["pred_probs_by_model"]
        self.annotators, self.true_labels = checked["annotators"], checked["true_labels"]

    def _init_signals(self, features, coords, trajectories, previews, metadata, ids, labels):
        """The checks of the inputs that do not depend on the task (multi-label path)."""
        n, k = self.n_samples, self.n_classes
        self.features = _check_matrix(features, "features", n)
        self.coords = _check_matrix(coords, "coords", n, width=2)
        margins = None
        if isinstance(trajectories, Mapping) and CLASS_MARGIN in trajectories:
            margins = check_class_margins(trajectories[CLASS_MARGIN], n, k)
            trajectories = {kk: v for kk, v in trajectories.items() if kk != CLASS_MARGIN}
        self.trajectories = _check_trajectories(trajectories or None, n, k)
        if margins is not None:
            self.trajectories[CLASS_MARGIN] = margins
        self.previews = _check_previews(previews, n)
        self.ids = resolve_ids(ids, n, labels=labels, metadata=metadata)
        if metadata is not None:
            if not isinstance(metadata, pd.DataFrame):
                raise TypeError(
                    f"metadata must be a pandas DataFrame, found {type(metadata).__name__}."
                )
            check_consistent_length(labels=self.labels, metadata=metadata)
            metadata = metadata.reset_index(drop=True)
        self.metadata = metadata

    @property
    def is_multilabel(self) -> bool:
        """Whether samples carry label sets (``labels`` is an (N, K) bool matrix)."""
        return self.task == MULTILABEL

    # --- sizes -------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        present = [s for s in SIGNALS if self.has(s)]
        task = ", task='multilabel'" if self.is_multilabel else ""
        return f"Dataset(N={self.n_samples}, K={self.n_classes}{task}, signals={present})"

    # --- which signals exist -----------------------------------------------------------------
    def has(self, signal: str) -> bool:
        """Whether the dataset holds ``signal`` (a key of :data:`SIGNALS`)."""
        if signal not in SIGNALS:
            raise ValueError(f"Unknown signal {signal!r}; valid signals: {sorted(SIGNALS)}.")
        if signal == "pred_probs_ensemble":
            return len(self.pred_probs_by_model) >= 2
        if signal.startswith("trajectories."):
            return signal.split(".", 1)[1] in self.trajectories
        return getattr(self, signal) is not None

    def why_missing(self, signals: Sequence[str]) -> str | None:
        """A sentence saying which of ``signals`` are missing and how to get them, or None."""
        missing = [s for s in signals if not self.has(s)]
        if not missing:
            return None
        return "Needs " + "; ".join(f"{s}: {SIGNALS[s]}" for s in missing) + "."

    @property
    def has_truth(self) -> bool:
        return self.true_labels is not None and bool((self.true_labels >= 0).any())

    @property
    def is_noisy(self) -> np.ndarray:
        """Boolean (N,): given label differs from the known true label (False where unknown)."""
        if self.true_labels is None:
            raise ValueError("is_noisy needs true_labels, which this dataset does not have.")
        if self.is_multilabel:  # some class of a known label set differs
            return (self.true_labels >= 0).all(axis=1) & (self.true_labels != self.labels).any(1)
        return (self.true_labels >= 0) & (self.true_labels != self.labels)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the ids, labels and class names: decisions and results made on this
        dataset carry it, so nothing is applied to other data."""
        if getattr(self, "_fingerprint", None) is None:
            self._fingerprint = fingerprint(self.ids, self.labels, self.class_names)
        return self._fingerprint

    def sample_ids(self) -> np.ndarray:
        """The N sample ids (positions when none were given)."""
        return np.arange(self.n_samples) if self.ids is None else self.ids

    # --- tables ------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per sample: id, index, given label (code and name), true label, metadata.

        Multi-label: ``label`` holds lists of class indices, ``label_name`` ``"a|b"`` strings.
        """
        if self.is_multilabel:
            df = pd.DataFrame({"id": self.sample_ids(), "index": np.arange(self.n_samples)})
            df["label"] = label_set_lists(self.labels)
            df["label_name"] = label_set_strings(self.labels, self.class_names)
            if self.true_labels is not None:
                known = (self.true_labels >= 0).all(axis=1)
                names = label_set_strings(self.true_labels == 1, self.class_names)
                df["true_label"] = [s if ok else None for s, ok in zip(names, known, strict=True)]
            if self.metadata is not None:
                df = pd.concat([df, self.metadata.add_prefix("meta_")], axis=1)
            return df
        df = pd.DataFrame(
            {
                "id": self.sample_ids(),
                "index": np.arange(self.n_samples),
                "label": self.labels,
                "label_name": np.asarray(self.class_names, dtype=object)[self.labels],
            }
        )
        if self.true_labels is not None:
            df["true_label"] = self.true_labels
        if self.metadata is not None:
            df = pd.concat([df, self.metadata.add_prefix("meta_")], axis=1)
        return df

    def with_signals(self, **signals) -> Dataset:
        """A new Dataset with the same labels and some signals added or replaced."""
        kwargs = dict(
            class_names=self.class_names,
            pred_probs=self.pred_probs_by_model or None,
            features=self.features,
            coords=self.coords,
            trajectories=self.trajectories or None,
            annotators=self.annotators,
            true_labels=self.true_labels,
            previews=self.previews,
            metadata=self.metadata,
        )
        if self.is_multilabel:
            kwargs["task"] = MULTILABEL
        kwargs.update(signals)
        kwargs.setdefault("ids", self.ids)
        with warnings.catch_warnings():  # the same classes: said when this dataset was made
            warnings.simplefilter("ignore", EmptyClassWarning)
            return Dataset(self.labels, **kwargs)


def _align(labels, pred_probs, features, coords, trajectories, annotators, true_labels,
           previews, metadata):  # fmt: skip
    """Every pandas input in the order of the labels' index (see :func:`align_on_index`);
    dicts of signals (several models' pred_probs, trajectories) entry by entry."""
    signals = {
        "features": features,
        "coords": coords,
        "annotators": annotators,
        "true_labels": true_labels,
        "previews": previews,
        "metadata": metadata,
    }
    for arg, value in (("pred_probs", pred_probs), ("trajectories", trajectories)):
        if isinstance(value, Mapping):
            signals.update({f"{arg}[{k!r}]": v for k, v in value.items()})
        else:
            signals[arg] = value
    out = align_on_index(labels, signals)
    for arg, value in (("pred_probs", pred_probs), ("trajectories", trajectories)):
        if isinstance(value, Mapping):
            out[arg] = {k: out[f"{arg}[{k!r}]"] for k in value}
    return (
        labels, out["pred_probs"], out["features"], out["coords"], out["trajectories"],
        out["annotators"], out["true_labels"], out["previews"], out["metadata"],
    )  # fmt: skip


def _pred_prob_models(pred_probs) -> dict:
    if pred_probs is None:
        return {}
    if isinstance(pred_probs, Mapping):
        if not pred_probs:
            raise ValueError("pred_probs is an empty dict; give at least one model's N×K array.")
        models = {str(k): as_array(v, f"pred_probs[{k!r}]") for k, v in pred_probs.items()}
    else:
        models = {"model": as_array(pred_probs, "pred_probs")}
    shapes = {name: p.shape for name, p in models.items()}
    for name, p in models.items():
        arg = f"pred_probs[{name!r}]" if isinstance(pred_probs, Mapping) else "pred_probs"
        if p.ndim != 2:
            raise ValueError(f"{arg} must be 2-D (N, K), found shape {p.shape}.")
        if p.shape[1] < 2:
            raise ValueError(
                f"{arg} must have at least 2 columns (one per class), found shape {p.shape}. "
                "For a binary model's probability p of class 1, pass np.column_stack([1 - p, p])."
            )
    if len({s[1] for s in shapes.values()}) > 1:
        raise ValueError(f"pred_probs models disagree on K: {shapes}.")
    return models


def _check_class_names(class_names) -> list[str]:
    if isinstance(class_names, (str, bytes)) or not isinstance(
        class_names, (Sequence, np.ndarray, pd.Index, pd.Series)
    ):
        raise TypeError(
            "class_names must be a sequence of K names (e.g. a list of str), found "
            f"{type(class_names).__name__} {class_names!r:.60}."
        )
    return [str(c) for c in class_names]


def _check_previews(previews, n: int):
    """Previews as a sequence taken by position (a pandas Series becomes a list)."""
    if previews is None:
        return None
    if isinstance(previews, pd.Series):
        previews = previews.tolist()
    if isinstance(previews, (str, bytes, Mapping)) or not hasattr(previews, "__getitem__"):
        raise TypeError(
            f"previews must be a sequence of N={n} images (arrays H×W or H×W×C) or texts, one "
            f"per sample, found {type(previews).__name__}."
        )
    if getattr(previews, "ndim", 1) == 0 or not hasattr(previews, "__len__"):
        raise TypeError(f"previews must be a sequence of N={n} images or texts, found a scalar.")
    check_consistent_length(labels=range(n), previews=previews)
    return previews


def _check_matrix(x, name: str, n: int, width: int | None = None) -> np.ndarray | None:
    if x is None:
        return None
    arr = as_array(x, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (N, {width or 'D'}), found shape {arr.shape}."
        )
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} must have shape (N, {width}), found {arr.shape}.")
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} must have at least one column, shape (N, D >= 1); found {arr.shape}."
        )
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind in "bc":
        raise TypeError(f"{name} must be real numbers, found dtype {arr.dtype}.")
    check_consistent_length(labels=np.empty(n), **{name: arr})
    arr = as_float(arr, name)
    check_finite(arr, name)
    return arr


def _check_trajectories(trajectories, n: int, k: int) -> dict[str, np.ndarray]:
    if trajectories is None:
        return {}
    if not isinstance(trajectories, Mapping):
        raise TypeError(
            "trajectories must be a dict of kind -> (N, E) array with kinds among "
            f"{TRAJECTORY_KINDS}, found {type(trajectories).__name__}."
        )
    out, epochs = {}, {}
    for kind, values in trajectories.items():
        if kind not in TRAJECTORY_KINDS:
            raise ValueError(
                f"trajectories has an unknown kind {kind!r}; valid kinds: {TRAJECTORY_KINDS}."
            )
        name = f"trajectories[{kind!r}]"
        arr = as_array(values, name)
        if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
            raise ValueError(f"{name} must have shape (N={n}, E>=1), found {arr.shape}.")
        if kind == "predicted":
            arr, _ = check_labels(arr.reshape(-1), name=name, n_classes=k)
            arr = arr.reshape(n, -1).astype(np.int32)
        else:
            if not np.issubdtype(arr.dtype, np.number) or arr.dtype.kind == "c":
                raise TypeError(f"{name} must be real numbers, found dtype {arr.dtype}.")
            arr = as_float(arr, name)
            check_finite(arr, name)
            if kind == "given_prob" and (arr.min() < 0 or arr.max() > 1 + 1e-3):
                raise ValueError(f"{name} must lie in [0, 1], found [{arr.min()}, {arr.max()}].")
        out[kind], epochs[kind] = arr, arr.shape[1]
    if len(set(epochs.values())) > 1:
        raise ValueError(f"trajectories disagree on the number of epochs E: {epochs}.")
    return out


def _check_annotators(annotators, n: int, class_names: list[str]) -> np.ndarray | None:
    if annotators is None:
        return None
    k = len(class_names)
    if isinstance(annotators, pd.DataFrame):
        columns = [(f"annotators[{c!r}]", annotators[c]) for c in annotators.columns]
        n_rows = len(annotators)
    else:
        if isinstance(annotators, (list, tuple)):
            rows = [list(r) if isinstance(r, (list, tuple, np.ndarray)) else r for r in annotators]
            widths = {len(r) if isinstance(r, list) else -1 for r in rows}
            if len(widths) != 1 or -1 in widths:
                raise ValueError(
                    "annotators must be 2-D of shape (N, M): a list of N rows of equal length M."
                )
            m = widths.pop() if rows else 0
            columns = [(f"annotators[:, {j}]", [r[j] for r in rows]) for j in range(m)]
            n_rows = len(rows)
        else:
            raw = as_array(annotators, "annotators")
            if raw.ndim != 2:
                raise ValueError(
                    f"annotators must be 2-D of shape (N, M), found shape {raw.shape}."
                )
            columns = [(f"annotators[:, {j}]", raw[:, j]) for j in range(raw.shape[1])]
            n_rows = raw.shape[0]
    if n_rows != n:
        raise ValueError(f"annotators has {n_rows} rows but labels has {n} samples.")
    if not columns:
        raise ValueError("annotators must have at least one column (annotator).")
    cols = [
        check_labels(col, name=name, class_names=class_names, n_classes=k, allow_missing=True)[0]
        for name, col in columns
    ]
    return np.stack(cols, axis=1)
