"""Did cleaning help? Retrain a probe after removing or relabeling samples, and compare.

N training samples, D features, K classes. Decisions are plain arrays: a boolean ``remove``
mask and/or a ``relabel`` array (-1 = keep the given label). Accuracy is always measured
against labels known to be right: a separate test set (``test_features``, ``test_labels``), or
a held-out part of the samples whose true label is known (``true_labels``, e.g. from
simulated noise or human review), which then takes no part in training.

The "before" model and every "after" model are trained side by side as one batched model (the
same trainer as :func:`workbench.compute.cross_val_probs`), with the same seed, batches and
hyper-parameters, so they differ only by the cleaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Unpack

import numpy as np
import pandas as pd
import torch

from workbench.compute.device import resolve_device
from workbench.compute.probe import (
    MODELS,
    ProbeOptions,
    build_model,
    check_probe_features,
    predict_probs,
    probe_options,
    train_models,
    training_settings,
)
from workbench.core.typing import ArrayLike
from workbench.core.validation import (
    align_on_index,
    as_array,
    check_consistent_length,
    check_labels,
    check_rng,
)

__all__ = ["RetrainResult", "cleaning_sweep", "retrain_after_cleaning"]

_DEFAULT_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


@dataclass(frozen=True, eq=False)
class RetrainResult:
    """Accuracy of the same probe trained before and after cleaning.

    Attributes
    ----------
    accuracy_before, accuracy_after : float
        Accuracy on the evaluation samples (true labels) of the probe trained on the given
        labels, and on the cleaned ones.
    n_train, n_removed, n_relabeled, n_test : int
        Training samples before cleaning, removed and relabeled among them, evaluation samples.
    evaluated_on : str
        ``"test set"`` or ``"held-out samples with known true labels"``.
    train_index, test_index : ndarray of int64
        Positions of the training and evaluation samples (``test_index`` is into the test set
        when one was given).
    """

    accuracy_before: float
    accuracy_after: float
    n_train: int
    n_removed: int
    n_relabeled: int
    n_test: int
    evaluated_on: str
    train_index: np.ndarray
    test_index: np.ndarray
    device: str
    params: dict = field(default_factory=dict)

    @property
    def gain(self) -> float:
        """``accuracy_after - accuracy_before``."""
        return self.accuracy_after - self.accuracy_before

    def __repr__(self) -> str:
        return (
            f"RetrainResult(before={self.accuracy_before:.4f}, after={self.accuracy_after:.4f}, "
            f"removed={self.n_removed}, relabeled={self.n_relabeled}, n_test={self.n_test})"
        )


def retrain_after_cleaning(
    features: ArrayLike,
    labels: ArrayLike,
    remove: ArrayLike | None = None,
    relabel: ArrayLike | None = None,
    *,
    true_labels: ArrayLike | None = None,
    test_features: ArrayLike | None = None,
    test_labels: ArrayLike | None = None,
    test_size: float = 0.3,
    **probe: Unpack[ProbeOptions],
) -> RetrainResult:
    """Train a probe on the given labels and on the cleaned labels; compare test accuracy.

    Parameters
    ----------
    features : array-like of shape (N, D) (images for ``model="cnn"``)
    labels : array-like of shape (N,)
        Given (possibly noisy) labels.
    remove : array-like of bool, shape (N,), optional
        Samples to drop from training.
    relabel : array-like of int, shape (N,), optional
        New label per sample, -1 to keep the given one. A removed sample stays removed.
    true_labels : array-like of shape (N,), optional
        Known true labels (-1 where unknown). Without a test set, a stratified ``test_size``
        share of the samples with a known true label is held out for evaluation (their
        decisions are ignored) and the probe trains on the rest.
    test_features, test_labels : array-like, optional
        A separate evaluation set with correct labels; then every sample trains.
    test_size : float, default=0.3
    **probe
        How the probe trains (:class:`workbench.compute.probe.ProbeOptions`: model, epochs,
        lr, weight_decay, batch_size, hidden, seed, device, progress), as in
        :func:`workbench.compute.cross_val_probs`.

    Returns
    -------
    RetrainResult

    Raises
    ------
    ValueError, TypeError
        Malformed inputs, neither a test set nor true labels, or cleaning that leaves no
        training sample.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> true = rng.integers(0, 2, 400)
    >>> x = rng.normal(size=(400, 3)) + 2 * true[:, None]
    >>> given = np.where(rng.random(400) < 0.3, 1 - true, true)
    >>> res = retrain_after_cleaning(x, given, remove=given != true, true_labels=true,
    ...                              progress=False)
    >>> res.n_test
    120
    """
    opts = probe_options(probe)
    data = _prepare(features, labels, true_labels, test_features, test_labels, test_size,
                    opts["model"], opts["seed"])  # fmt: skip
    n = len(data["y"])
    remove_m = np.zeros(n, dtype=bool) if remove is None else _check_remove(remove, n)
    new_y = data["y"].copy()
    n_relabeled = 0
    if relabel is not None:
        rel = _check_relabel(relabel, n, data["k"])
        changed = (rel >= 0) & (rel != data["y"]) & ~remove_m
        new_y = np.where(rel >= 0, rel, data["y"])
        n_relabeled = int(changed[data["train"]].sum())
    keep = ~remove_m
    masks = np.stack([np.ones(n, bool), keep], axis=1)
    labels_2 = np.stack([data["y"], new_y], axis=1)
    acc, dev, params = _train_and_score(data, masks, labels_2, opts)
    return RetrainResult(
        accuracy_before=float(acc[0]),
        accuracy_after=float(acc[1]),
        n_train=len(data["train"]),
        n_removed=int(remove_m[data["train"]].sum()),
        n_relabeled=n_relabeled,
        n_test=len(data["y_test"]),
        evaluated_on=data["evaluated_on"],
        train_index=data["train"],
        test_index=data["test"],
        device=dev,
        params=params,
    )


def cleaning_sweep(
    features: ArrayLike,
    labels: ArrayLike,
    scores: ArrayLike,
    *,
    fractions: Sequence[float] | None = None,
    thresholds: Sequence[float] | None = None,
    true_labels: ArrayLike | None = None,
    test_features: ArrayLike | None = None,
    test_labels: ArrayLike | None = None,
    test_size: float = 0.3,
    **probe: Unpack[ProbeOptions],
) -> pd.DataFrame:
    """Accuracy after removing the highest-scoring samples, for several cut-offs at once.

    Parameters
    ----------
    features, labels
        As in :func:`retrain_after_cleaning`.
    scores : array-like of shape (N,)
        Noise scores, **higher = more likely mislabeled** (a detector's ``scores``).
    fractions : sequence of float in [0, 1), optional
        Remove this share of the training samples, highest scores first. Default
        0.05, 0.1, ..., 0.3 when no ``thresholds`` are given.
    thresholds : sequence of float, optional
        Remove training samples with ``score >= threshold`` (instead of ``fractions``).
    true_labels, test_features, test_labels, test_size, **probe
        As in :func:`retrain_after_cleaning`.

    Returns
    -------
    pandas.DataFrame
        One row per cut-off, plus a first row for no cleaning: ``threshold`` (score cut-off;
        NaN for the baseline), ``fraction_removed``, ``n_removed``, ``accuracy``,
        ``accuracy_gain`` (vs no cleaning), and, where the training samples' true labels are
        known, ``precision_removed`` (share of removed samples that were mislabeled) and
        ``recall_removed`` (share of the mislabeled samples removed).
    """
    opts = probe_options(probe)
    data = _prepare(features, labels, true_labels, test_features, test_labels, test_size,
                    opts["model"], opts["seed"])  # fmt: skip
    n = len(data["y"])
    s = as_array(scores, "scores").astype(np.float64, copy=False).reshape(-1)
    check_consistent_length(labels=data["y"], scores=s)
    if not np.isfinite(s).all():
        raise ValueError(
            f"scores must be finite, found NaN/inf at index {int(np.argmax(~np.isfinite(s)))}."
        )
    if fractions is not None and thresholds is not None:
        raise ValueError("Give fractions or thresholds, not both.")
    train = data["train"]
    s_train = s[train]
    if thresholds is None:
        fr = np.asarray(_DEFAULT_FRACTIONS if fractions is None else fractions, dtype=float)
        if fr.ndim != 1 or not ((fr >= 0) & (fr < 1)).all():
            raise ValueError(f"fractions must lie in [0, 1), found {fr.tolist()}.")
        counts = np.round(fr * len(train)).astype(int)
        order = np.argsort(-s_train, kind="stable")
        cuts = [np.inf if c == 0 else s_train[order[c - 1]] for c in counts]
        removed_sets = [train[order[:c]] for c in counts]
    else:
        th = np.asarray(thresholds, dtype=float).reshape(-1)
        if not np.isfinite(th).all():
            raise ValueError(f"thresholds must be finite, found {th.tolist()}.")
        cuts = list(th)
        removed_sets = [train[s_train >= t] for t in th]
    masks = [np.ones(n, bool)]
    for rem in removed_sets:
        m = np.ones(n, bool)
        m[rem] = False
        if not m[train].any():
            raise ValueError("A cut-off removes every training sample; lower it.")
        masks.append(m)
    acc, _, _ = _train_and_score(data, np.stack(masks, axis=1), data["y"], opts)
    rows = []
    noisy = data["noisy_train"]
    for i, rem in enumerate([np.empty(0, np.int64), *removed_sets]):
        row = dict(
            threshold=np.nan if i == 0 else float(cuts[i - 1]),
            fraction_removed=len(rem) / len(train),
            n_removed=len(rem),
            accuracy=float(acc[i]),
            accuracy_gain=float(acc[i] - acc[0]),
        )
        if noisy is not None:
            hit = noisy[np.searchsorted(train, rem)] if len(rem) else np.empty(0, bool)
            row["precision_removed"] = float(hit.mean()) if len(rem) else np.nan
            row["recall_removed"] = float(hit.sum() / max(noisy.sum(), 1))
        rows.append(row)
    return pd.DataFrame(rows)


# --- shared steps ----------------------------------------------------------------------------
def _prepare(features, labels, true_labels, test_features, test_labels, test_size, model, seed):
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, found {model!r}.")
    aligned = align_on_index(labels, {"features": features, "true_labels": true_labels})
    features, true_labels = aligned["features"], aligned["true_labels"]
    if test_labels is not None:
        test_features = align_on_index(
            test_labels, {"test_features": test_features}, name="test_labels"
        )["test_features"]
    x = check_probe_features(features, model)
    y, names = check_labels(labels)
    n = check_consistent_length(features=x, labels=y)
    k = len(names)
    truth = None
    if true_labels is not None:
        truth, _ = check_labels(true_labels, name="true_labels", class_names=names, n_classes=k,
                                allow_missing=True)  # fmt: skip
        check_consistent_length(labels=y, true_labels=truth)
    rng = check_rng(seed)
    if test_features is not None or test_labels is not None:
        if test_features is None or test_labels is None:
            raise ValueError("Give both test_features and test_labels (or neither).")
        x_test = check_probe_features(test_features, model)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"test_features must have the shape of features per sample {x.shape[1:]}, "
                f"found {x_test.shape[1:]}."
            )
        y_test, _ = check_labels(test_labels, name="test_labels", class_names=names, n_classes=k)
        check_consistent_length(test_features=x_test, test_labels=y_test)
        train, test, where = np.arange(n), np.arange(len(y_test)), "test set"
    elif truth is not None:
        if not (isinstance(test_size, (float, int)) and 0 < test_size < 1):
            raise ValueError(f"test_size must lie in (0, 1), found {test_size!r}.")
        known = np.flatnonzero(truth >= 0)
        test = np.sort(np.concatenate([
            members[:int(round(test_size * len(members)))]
            for c in range(k) if len(members := rng.permutation(known[truth[known] == c]))
        ]))  # fmt: skip
        train = np.setdiff1d(np.arange(n), test)
        x_test, y_test = x[test], truth[test]
        where = "held-out samples with known true labels"
    else:
        raise ValueError(
            "Accuracy needs labels known to be right: give test_features and test_labels, or "
            "true_labels (then a share of those samples is held out)."
        )
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"Nothing to train on or to evaluate ({len(train)} / {len(test)}).")
    noisy = None
    if truth is not None:
        t = truth[train]
        noisy = (t >= 0) & (t != y[train])
    return dict(x=x, y=y, k=k, x_test=x_test, y_test=y_test, train=train, test=test,
                evaluated_on=where, rng=rng, noisy_train=noisy)  # fmt: skip


def _train_and_score(data, masks, labels, opts: ProbeOptions):
    """Train one model per mask column on the training rows; accuracy of each on the test set."""
    model, weight_decay, progress = opts["model"], opts["weight_decay"], opts["progress"]
    train = data["train"]
    epochs, lr, batch_size, hidden = training_settings(
        model, len(train), opts["epochs"], opts["lr"], opts["batch_size"], opts["hidden"],
        weight_decay,
    )  # fmt: skip
    dev = resolve_device(opts["device"])
    rng = data["rng"]
    xt = torch.as_tensor(data["x"][train], device=dev)
    mask = torch.as_tensor(masks[train], device=dev)
    y = torch.as_tensor(labels[train], device=dev)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    net = build_model(model, xt, mask, data["k"], hidden=hidden, generator=gen).to(dev)
    train_models(net, xt, y, mask, epochs=epochs, lr=lr, weight_decay=weight_decay,
                 batch_size=batch_size, rng=rng, progress=progress,
                 desc=f"retrain {mask.shape[1]} {model} probes")  # fmt: skip
    probs = predict_probs(net, torch.as_tensor(data["x_test"], device=dev))  # (n_test, M, K)
    acc = (probs.argmax(-1) == data["y_test"][:, None]).mean(0)
    params = dict(model=model, epochs=epochs, lr=lr, weight_decay=weight_decay,
                  batch_size=batch_size, hidden=hidden)  # fmt: skip
    return acc, str(dev), params


def _check_remove(remove, n: int) -> np.ndarray:
    m = as_array(remove, "remove").reshape(-1)
    if m.dtype != bool:
        raise TypeError(f"remove must be a boolean mask of shape (N,), found dtype {m.dtype}.")
    check_consistent_length(labels=np.empty(n), remove=m)
    return m


def _check_relabel(relabel, n: int, k: int) -> np.ndarray:
    r = as_array(relabel, "relabel").reshape(-1)
    if r.dtype.kind not in "iu":
        raise TypeError(f"relabel must hold integer labels (-1 = keep), found dtype {r.dtype}.")
    check_consistent_length(labels=np.empty(n), relabel=r)
    if r.size and (r.min() < -1 or r.max() >= k):
        raise ValueError(f"relabel must lie in -1..{k - 1}, found [{r.min()}, {r.max()}].")
    return r.astype(np.int64)
