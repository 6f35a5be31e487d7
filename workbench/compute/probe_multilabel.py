"""Cross-validated sigmoid probes for label sets: out-of-fold per-class probabilities plus
recorded training dynamics, for multi-label data.

N samples, D features, K classes, F folds, E epochs. :func:`cross_val_sigmoid_probs` is the
multi-label twin of :func:`workbench.compute.probe.cross_val_probs`: the same probe models
(linear, MLP, tiny CNN; the F fold models trained together as one batched model, each fold's
loss masked to its training rows, features standardised per fold), with K independent
sigmoid outputs trained by binary cross-entropy (BCE) on the given label sets, so
``pred_probs`` rows need not sum to 1.

Folds are balanced random folds (a label set has no single class to stratify on). As for
single-label probes, ``pred_probs`` of sample ``i`` come from the fold model that never saw it,
and the training dynamics from a model that trains on it (``record_model[i] = (fold_of[i] +
1) % F``):

- always, per sample: ``trajectories["loss"]`` (N, E), the BCE summed over the K classes;
- per class only when N × K × E float16 values fit ``class_budget`` bytes:
  ``class_margins`` (N, K, E), the logit of the given side of every annotation (positive =
  the model agrees with it), the per-class margin whose average over epochs is the area under
  the margin of that annotation (Pleiss et al. 2020).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F_

from workbench.compute.device import autocast_dtype, resolve_device
from workbench.compute.probe import (
    MODELS,
    ProbeResult,
    build_model,
    check_probe_features,
    make_optimizer,
    probe_result,
    training_settings,
    training_threads,
)
from workbench.core.label_sets import check_label_sets
from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import align_on_index, check_consistent_length, check_rng

__all__ = ["CLASS_BUDGET", "SigmoidProbeResult", "cross_val_sigmoid_probs"]

#: Bytes the per-class margins (N × K × E float16) may take; above it only per-sample losses.
CLASS_BUDGET = 256 << 20


@dataclass(frozen=True, eq=False)
class SigmoidProbeResult(ProbeResult):
    """:class:`~workbench.compute.probe.ProbeResult` of a sigmoid probe, plus
    ``class_margins`` (N, K, E) float16 or None (over ``class_budget``, or not recorded)."""

    class_margins: np.ndarray | None = None

    def to_dataset_kwargs(self) -> dict:
        """``pred_probs`` and the recorded trajectories (with ``class_margin`` (N, K, E) when
        recorded) for ``Dataset(label_sets, **kw)``."""
        out = super().to_dataset_kwargs()
        if self.class_margins is not None:
            out["trajectories"] = {**self.trajectories, "class_margin": self.class_margins}
        return out


def cross_val_sigmoid_probs(
    features: ArrayLike,
    labels,
    *,
    model: str = "linear",
    n_folds: int = 5,
    epochs: int | None = None,
    lr: float | None = None,
    weight_decay: float = 0.1,
    batch_size: int | None = None,
    hidden: int = 128,
    seed: SeedLike = 0,
    device=None,
    record: bool = True,
    progress: bool = True,
    n_classes: int | None = None,
    class_budget: int = CLASS_BUDGET,
) -> SigmoidProbeResult:
    """Out-of-fold per-class probabilities of a sigmoid (BCE) probe, with training dynamics.

    Parameters
    ----------
    features : array-like of shape (N, D) (or images for ``model="cnn"``)
    labels : label sets
        An N×K 0/1 matrix or N lists of class indices / names (:mod:`workbench.core.label_sets`).
    model, n_folds, epochs, lr, weight_decay, batch_size, hidden, seed, device, progress
        As in :func:`workbench.compute.probe.cross_val_probs`.
    record : bool, default=True
        Record the per-sample summed BCE per epoch (and per-class margins within budget).
    n_classes : int, optional
        K when index lists do not show every class.
    class_budget : int, default=CLASS_BUDGET
        Bytes allowed for the per-class margins (N × K × E float16).

    Returns
    -------
    SigmoidProbeResult
        ``pred_probs`` (N, K) float32 independent probabilities, ``trajectories`` {"loss":
        (N, E)}, ``class_margins``, ``fold_of``, ``record_model``, timings.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3))
    >>> sets = [np.flatnonzero(row > 0).tolist() for row in x]  # class c: feature c > 0
    >>> res = cross_val_sigmoid_probs(x, sets, n_classes=3, progress=False)
    >>> res.pred_probs.shape, res.trajectories["loss"].shape
    ((200, 3), (200, 8))
    """
    t0 = time.perf_counter()
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, found {model!r}.")
    features = align_on_index(labels, {"features": features})["features"]
    x = check_probe_features(features, model)
    Y, _ = check_label_sets(labels, n_classes=n_classes)
    check_consistent_length(features=x, labels=Y)
    n, k = Y.shape
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, found {n_folds!r}.")
    if n_folds > n:
        raise ValueError(f"n_folds={n_folds} exceeds the number of samples N={n}.")
    epochs, lr, batch_size, hidden = training_settings(
        model, n, epochs, lr, batch_size, hidden, weight_decay
    )
    dev = resolve_device(device)
    rng = check_rng(seed)
    fold_of = (rng.permutation(n) % n_folds).astype(np.int64)
    torch_seed = int(rng.integers(2**62))
    xt = torch.as_tensor(x, device=dev)
    yt = torch.as_tensor(Y, device=dev, dtype=torch.float32)
    fold_t = torch.as_tensor(fold_of, device=dev)
    mask = fold_t[:, None] != torch.arange(n_folds, device=dev)[None, :]
    gen = torch.Generator(device="cpu").manual_seed(torch_seed)
    net = build_model(model, xt, mask, k, hidden=hidden, generator=gen).to(dev)
    record_model = (fold_of + 1) % n_folds
    loss = np.empty((n, epochs), np.float32) if record else None
    per_class = record and n * k * epochs * 2 <= class_budget
    margins = np.empty((n, k, epochs), np.float16) if per_class else None
    t1 = time.perf_counter()
    with training_threads(net, xt, batch_size, dev):
        epoch_s = _train(
            net, xt, yt, mask, torch.as_tensor(record_model, device=dev), epochs=epochs, lr=lr,
            weight_decay=weight_decay, batch_size=batch_size, rng=rng, loss=loss,
            margins=margins, progress=progress, desc=f"{model} sigmoid probe, {n_folds} folds",
        )  # fmt: skip
    t2 = time.perf_counter()
    probs = _predict(net, xt, fold_t)
    t3 = time.perf_counter()
    return probe_result(
        SigmoidProbeResult, pred_probs=probs, trajectories={"loss": loss} if record else {},
        fold_of=fold_of, record_model=record_model, device=dev, seed=seed, model=model,
        n_folds=n_folds, epochs=epochs,
        params=dict(lr=lr, weight_decay=weight_decay, batch_size=batch_size, hidden=hidden,
                    head="sigmoid", loss="bce"),
        stamps=(t0, t1, t2, t3), epoch_seconds=epoch_s, class_margins=margins,
    )  # fmt: skip


def _train(net, x, y, mask, record_model, *, epochs, lr, weight_decay, batch_size, rng, loss,
           margins, progress, desc) -> list[float]:  # fmt: skip
    """AdamW on the masked mean summed-BCE of every fold model; cosine learning rate; the
    returned weights average the iterates of the second half (as the softmax trainer)."""
    from tqdm.auto import tqdm

    n, m = mask.shape
    dev = x.device
    amp = autocast_dtype(dev)
    opt = make_optimizer(net, lr, weight_decay)
    weights = mask.float()
    steps = math.ceil(n / batch_size)
    total, step, times = epochs * steps, 0, []
    avg_from, params = total // 2, list(net.parameters())
    avg, n_avg = [p.detach().clone() for p in params], 0
    for epoch in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        t = time.perf_counter()
        perm = torch.as_tensor(rng.permutation(n), device=dev)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            step += 1
            with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
                logits = net(torch.index_select(x, 0, idx))
            logits = logits.float()  # (B, M, K)
            target = y[idx][:, None, :].expand_as(logits)
            bce = F_.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
            w = weights[idx]  # (B, M)
            batch_loss = ((bce * w).sum(0) / w.sum(0).clamp_min(1)).sum()
            if loss is not None:
                rows = torch.arange(len(idx), device=dev)
                rec = record_model[idx]
                where = idx.cpu().numpy()
                loss[where, epoch] = bce.detach()[rows, rec].cpu().numpy()
                if margins is not None:
                    z = logits.detach()[rows, rec]  # (B, K)
                    given_side = torch.where(y[idx] > 0, z, -z)
                    margins[where, :, epoch] = given_side.cpu().numpy().astype(np.float16)
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            if step > avg_from:
                n_avg += 1
                with torch.no_grad():
                    for a, p in zip(avg, params, strict=True):
                        a.lerp_(p, 1.0 / n_avg)
        times.append(time.perf_counter() - t)
    with torch.no_grad():
        for a, p in zip(avg, params, strict=True):
            p.copy_(a)
    return times


@torch.no_grad()
def _predict(net, x, select, chunk: int = 16384) -> np.ndarray:
    """Sigmoid probabilities (N, K) of model ``select[i]`` for row ``i`` (out of fold)."""
    dev = x.device
    amp = autocast_dtype(dev)
    out = []
    for start in range(0, len(x), chunk):
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
            logits = net(x[start : start + chunk]).float()
        sel = select[start : start + chunk]
        out.append(torch.sigmoid(logits[torch.arange(len(sel), device=dev), sel]).cpu().numpy())
    return np.concatenate(out, axis=0).astype(np.float32, copy=False)
