"""Learning despite label noise: noise-robust losses, loss correction, small-loss selection.

B samples in a batch, K classes, N training samples, M evaluation samples, E epochs. Logits
are (B, K) float tensors, targets (B,) int64 class indices, the *given* (possibly noisy)
labels. Every loss is a cross-entropy variant, **lower = the model agrees more with the given
label**; ``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-sample, shape (B,)).

- :func:`generalized_cross_entropy` (GCE, Zhang & Sabuncu, NeurIPS 2018):
  ``(1 - p_y ** q) / q``; q → 0 gives cross-entropy, q = 1 the mean absolute error (robust to
  symmetric noise, slow to train).
- :func:`symmetric_cross_entropy` (SCE, Wang et al., ICCV 2019): ``alpha * CE + beta * RCE``,
  where the reverse cross-entropy ``RCE = -sum_k p_k log y_k`` with ``log 0`` clipped to
  ``log_zero`` equals ``-log_zero * (1 - p_y)``.
- :func:`forward_corrected_cross_entropy` (Patrini et al., CVPR 2017): the cross-entropy of the
  given label under ``softmax(logits) @ T``, with ``T[i, j] = P(given = j | true = i)``: the
  model predicts the *clean* class and ``T`` carries it to the noisy label.
- :func:`small_loss_mask`, :func:`co_teaching_losses`, :func:`keep_schedule` (Co-teaching, Han
  et al., NeurIPS 2018): train on the share of each batch with the smallest loss, each of two
  networks on the samples its peer picked.

:func:`train_with_noisy_labels` trains a small MLP on (features, given labels) with one of
these methods and records its predictions on the training and evaluation samples after every
epoch, for trajectories such as "accuracy against the true labels" or "share of the wrong
labels fitted".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F_
from torch import nn

from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import (
    as_array,
    check_consistent_length,
    check_finite,
    check_labels,
    check_rng,
    check_transition,
)

__all__ = [
    "METHODS",
    "NoisyTrainingResult",
    "co_teaching_losses",
    "forward_corrected_cross_entropy",
    "generalized_cross_entropy",
    "keep_schedule",
    "small_loss_mask",
    "symmetric_cross_entropy",
    "train_with_noisy_labels",
]

#: Training methods of :func:`train_with_noisy_labels`.
METHODS = ("ce", "gce", "sce", "forward", "coteaching")
_REDUCTIONS = ("mean", "sum", "none")


# --- checks ----------------------------------------------------------------------------------------
def _check_batch(logits, targets) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        found = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TypeError(f"logits must be a (B, K) torch.Tensor, found {found}.")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, found dtype {logits.dtype}.")
    if not isinstance(targets, torch.Tensor) or targets.shape != logits.shape[:1]:
        found = (
            tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        )
        raise ValueError(
            f"targets must be a torch.Tensor of shape ({logits.shape[0]},) (one class index "
            f"per row of logits), found {found}."
        )
    if targets.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"targets must hold int64 class indices, found dtype {targets.dtype}.")
    if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= logits.shape[1]):
        raise ValueError(
            f"targets must lie in 0..{logits.shape[1] - 1} (K={logits.shape[1]}), found "
            f"{int(targets.min())}..{int(targets.max())}."
        )


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _check_reduction(reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, found {reduction!r}.")


def _check_fraction(value, name: str, *, low_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, found {type(value).__name__}.")
    value = float(value)
    ok = (0 < value <= 1) if low_open else (0 <= value < 1)
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, found {value}.")
    return value


# --- losses ----------------------------------------------------------------------------------------
def generalized_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, *, q: float = 0.7, reduction: str = "mean"
) -> torch.Tensor:
    """Generalized cross-entropy ``(1 - p_y ** q) / q`` (Zhang & Sabuncu 2018).

    Parameters
    ----------
    logits : torch.Tensor of shape (B, K)
    targets : torch.Tensor of shape (B,), int64
        The given labels.
    q : float in (0, 1], default=0.7
        0.7 is the paper's choice; small q behaves like cross-entropy, q = 1 is the mean
        absolute error ``1 - p_y``.
    reduction : {"mean", "sum", "none"}, default="mean"

    Returns
    -------
    torch.Tensor: a scalar, or shape (B,) for ``reduction="none"``; lower = agrees with the label
    """
    _check_batch(logits, targets)
    q = _check_fraction(q, "q")
    _check_reduction(reduction)
    log_p = F_.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    return _reduce((1 - torch.exp(q * log_p)) / q, reduction)


def symmetric_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Symmetric cross-entropy ``alpha * CE + beta * RCE`` (Wang et al. 2019).

    The reverse cross-entropy swaps prediction and label, ``RCE = -sum_k p_k log y_k``, with
    the one-hot label's ``log 0`` clipped to ``log_zero``; it equals ``-log_zero * (1 - p_y)``.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, K)
    targets : torch.Tensor of shape (B,), int64
    alpha, beta : float >= 0, default=0.1, 1.0
        Weights of the two terms (the paper's CIFAR-10 values); not both 0.
    log_zero : float < 0, default=-4.0
        The paper's ``A``.
    reduction : {"mean", "sum", "none"}, default="mean"

    Returns
    -------
    torch.Tensor: a scalar, or shape (B,) for ``reduction="none"``; lower = agrees with the label
    """
    _check_batch(logits, targets)
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, found {value!r}.")
    if alpha == 0 and beta == 0:
        raise ValueError("alpha and beta are both 0: the loss would be 0 everywhere.")
    if not isinstance(log_zero, (int, float)) or isinstance(log_zero, bool) or log_zero >= 0:
        raise ValueError(f"log_zero must be a negative number (log of ~0), found {log_zero!r}.")
    _check_reduction(reduction)
    log_p = F_.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    rce = -log_zero * (1 - torch.exp(log_p))
    return _reduce(alpha * -log_p + beta * rce, reduction)


def forward_corrected_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    transition: ArrayLike | torch.Tensor,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    """Forward loss correction (Patrini et al. 2017): ``-log (softmax(logits) @ T)[y]``.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, K)
        The model's logits for the **true** class.
    targets : torch.Tensor of shape (B,), int64
        The given (noisy) labels.
    transition : array-like of shape (K, K)
        ``T[i, j] = P(given = j | true = i)``, rows sum to 1 (cleanlab's ``noise_matrix`` is the
        transpose). The identity gives plain cross-entropy.
    reduction : {"mean", "sum", "none"}, default="mean"

    Returns
    -------
    torch.Tensor: a scalar, or shape (B,) for ``reduction="none"``; lower = agrees with the label
    """
    _check_batch(logits, targets)
    _check_reduction(reduction)
    t = _transition_tensor(transition, logits.shape[1], logits)
    p_noisy = torch.softmax(logits, dim=1) @ t  # (B, K): P(given = j | x)
    picked = p_noisy.gather(1, targets[:, None]).squeeze(1)
    return _reduce(-torch.log(picked.clamp_min(1e-12)), reduction)


def _transition_tensor(transition, k: int, like: torch.Tensor) -> torch.Tensor:
    if isinstance(transition, torch.Tensor):
        transition = transition.detach().cpu().numpy()
    t = check_transition(transition, n_classes=k)
    return torch.as_tensor(t, dtype=like.dtype, device=like.device)


# --- small-loss selection ----------------------------------------------------------------------------
def small_loss_mask(losses: torch.Tensor, keep: float) -> torch.Tensor:
    """The ``ceil(keep * B)`` samples with the smallest loss (ties: the earlier sample).

    Parameters
    ----------
    losses : torch.Tensor of shape (B,)
        Per-sample losses (lower = more likely clean).
    keep : float in (0, 1]
        Share of the batch to keep.

    Returns
    -------
    torch.Tensor of shape (B,), bool
    """
    if not isinstance(losses, torch.Tensor) or losses.ndim != 1:
        found = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
        raise TypeError(f"losses must be a 1-D (B,) torch.Tensor, found {found}.")
    keep = _check_fraction(keep, "keep")
    n_keep = math.ceil(keep * len(losses) - 1e-9)
    order = torch.sort(losses.detach(), stable=True).indices
    mask = torch.zeros(len(losses), dtype=torch.bool, device=losses.device)
    mask[order[:n_keep]] = True
    return mask


def co_teaching_losses(
    logits_a: torch.Tensor, logits_b: torch.Tensor, targets: torch.Tensor, keep: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Co-teaching (Han et al. 2018): each network learns from the small-loss samples of its peer.

    Parameters
    ----------
    logits_a, logits_b : torch.Tensor of shape (B, K)
        The two networks' logits for the same batch.
    targets : torch.Tensor of shape (B,), int64
    keep : float in (0, 1]
        Share of the batch each network passes to its peer (``1 - forget rate``).

    Returns
    -------
    loss_a, loss_b : scalar tensors
        Mean cross-entropy of network A on the samples B kept, and of B on those A kept.
    """
    _check_batch(logits_a, targets)
    _check_batch(logits_b, targets)
    if logits_a.shape != logits_b.shape:
        raise ValueError(
            f"logits_a and logits_b must have the same shape, found {tuple(logits_a.shape)} "
            f"and {tuple(logits_b.shape)}."
        )
    ce_a = F_.cross_entropy(logits_a, targets, reduction="none")
    ce_b = F_.cross_entropy(logits_b, targets, reduction="none")
    picked_by_a, picked_by_b = small_loss_mask(ce_a, keep), small_loss_mask(ce_b, keep)
    return ce_a[picked_by_b].mean(), ce_b[picked_by_a].mean()


def keep_schedule(epoch: int, forget_rate: float, warmup_epochs: int = 10) -> float:
    """Share of each batch kept at ``epoch`` (0-based): ``1 - forget_rate * min(1, epoch / warmup)``.

    Co-teaching keeps every sample at first (the network learns the clean patterns before it
    memorises) and forgets ``forget_rate`` of each batch (about the noise rate) from
    ``warmup_epochs`` on.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer, found {epoch!r}.")
    forget_rate = _check_fraction(forget_rate, "forget_rate", low_open=False)
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, np.integer)):
        raise TypeError(f"warmup_epochs must be an integer, found {warmup_epochs!r}.")
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, found {warmup_epochs}.")
    ramp = 1.0 if warmup_epochs == 0 else min(1.0, epoch / warmup_epochs)
    return 1.0 - forget_rate * ramp


# --- a small trainer ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NoisyTrainingResult:
    """Predictions after every epoch of :func:`train_with_noisy_labels`.

    Attributes
    ----------
    method : str
    train_predictions : ndarray of shape (E, N), int64
        Predicted class of each training sample after each epoch (network A for co-teaching).
    eval_predictions : ndarray of shape (E, M), int64
        The same for the evaluation samples (M = 0 without ``eval_features``).
    eval_probs : ndarray of shape (M, K), float32
        Class probabilities of the evaluation samples after the last epoch.
    params : dict
        The method's settings and the training hyper-parameters.
    """

    method: str
    train_predictions: np.ndarray = field(repr=False)
    eval_predictions: np.ndarray = field(repr=False)
    eval_probs: np.ndarray = field(repr=False)
    params: dict = field(default_factory=dict)

    @property
    def n_epochs(self) -> int:
        return self.train_predictions.shape[0]

    def train_accuracy(self, labels: ArrayLike) -> np.ndarray:
        """Per-epoch accuracy (E,) on the training samples against ``labels`` (N,)."""
        return _accuracy(self.train_predictions, labels, "labels")

    def eval_accuracy(self, labels: ArrayLike) -> np.ndarray:
        """Per-epoch accuracy (E,) on the evaluation samples against ``labels`` (M,)."""
        return _accuracy(self.eval_predictions, labels, "labels")

    def __repr__(self) -> str:
        e, n = self.train_predictions.shape
        return (
            f"NoisyTrainingResult(method={self.method!r}, epochs={e}, n_train={n}, "
            f"n_eval={self.eval_predictions.shape[1]})"
        )


def _accuracy(predictions: np.ndarray, labels, name: str) -> np.ndarray:
    y = as_array(labels, name)
    if y.shape != predictions.shape[1:]:
        raise ValueError(f"{name} must have shape {predictions.shape[1:]}, found {y.shape}.")
    return (predictions == y[None, :]).mean(axis=1)


def train_with_noisy_labels(
    features: ArrayLike,
    labels: ArrayLike,
    *,
    method: str = "ce",
    eval_features: ArrayLike | None = None,
    transition: ArrayLike | None = None,
    q: float = 0.7,
    alpha: float = 0.1,
    beta: float = 1.0,
    forget_rate: float = 0.2,
    warmup_epochs: int = 10,
    epochs: int = 60,
    hidden: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 64,
    seed: SeedLike = 0,
) -> NoisyTrainingResult:
    """Train a one-hidden-layer MLP on noisy labels with one method; record every epoch.

    Features are standardised with the training samples' mean and standard deviation. Adam,
    mini-batches in a seeded order, on the CPU (one thread for reproducibility and speed at
    this size).

    Parameters
    ----------
    features : array-like of shape (N, D)
    labels : array-like of shape (N,)
        The given (possibly noisy) labels, int codes 0..K-1.
    method : {"ce", "gce", "sce", "forward", "coteaching"}, default="ce"
        Cross-entropy; :func:`generalized_cross_entropy` (``q``);
        :func:`symmetric_cross_entropy` (``alpha``, ``beta``);
        :func:`forward_corrected_cross_entropy` (``transition``, required); co-teaching with
        two networks (``forget_rate``, ``warmup_epochs``, :func:`keep_schedule`).
    eval_features : array-like of shape (M, D), optional
        Samples to predict after every epoch (a test set).
    transition : array-like of shape (K, K), optional
        ``T[i, j] = P(given = j | true = i)``; only for ``method="forward"``.
    epochs, hidden, lr, weight_decay, batch_size : training hyper-parameters
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    NoisyTrainingResult
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, found {method!r}.")
    x = as_array(features, "features", dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D of shape (N, D), found shape {x.shape}.")
    check_finite(x, "features")
    if method == "forward":
        if transition is None:
            raise ValueError('method="forward" needs transition, a (K, K) matrix.')
        t = check_transition(transition)
    elif transition is not None:
        raise ValueError(f'transition is only used by method="forward", found method={method!r}.')
    y, names = check_labels(labels, n_classes=len(t) if method == "forward" else None)
    check_consistent_length(features=x, labels=y)
    k = len(names)
    if eval_features is None:
        x_eval = np.zeros((0, x.shape[1]), np.float32)
    else:
        x_eval = as_array(eval_features, "eval_features", dtype=np.float32)
        if x_eval.ndim != 2 or x_eval.shape[1] != x.shape[1]:
            raise ValueError(
                f"eval_features must have shape (M, {x.shape[1]}) like features, found "
                f"{x_eval.shape}."
            )
        check_finite(x_eval, "eval_features")
    for name, value in (("epochs", epochs), ("hidden", hidden), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}.")
    if method == "gce":
        _check_fraction(q, "q")
    if method == "coteaching":
        keep_schedule(0, forget_rate, warmup_epochs)  # validates both
    rng = check_rng(seed)
    torch_seed = int(rng.integers(2**31))

    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 0, std, 1).astype(np.float32)
    xt = torch.as_tensor((x - mean) / std)
    xe = torch.as_tensor((x_eval - mean) / std)
    yt = torch.as_tensor(y)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(torch_seed)
        n_nets = 2 if method == "coteaching" else 1
        nets = [_mlp(x.shape[1], hidden, k, gen) for _ in range(n_nets)]
        opts = [torch.optim.Adam(n.parameters(), lr=lr, weight_decay=weight_decay) for n in nets]
        tt = torch.as_tensor(t, dtype=torch.float32) if method == "forward" else None
        train_pred = np.empty((epochs, len(x)), np.int64)
        eval_pred = np.empty((epochs, len(x_eval)), np.int64)
        for epoch in range(epochs):
            keep = keep_schedule(epoch, forget_rate, warmup_epochs) if n_nets == 2 else 1.0
            for net in nets:
                net.train()
            for idx in torch.randperm(len(x), generator=gen).split(batch_size):
                logits = [net(xt[idx]) for net in nets]
                target = yt[idx]
                if method == "ce":
                    losses = [F_.cross_entropy(logits[0], target)]
                elif method == "gce":
                    losses = [generalized_cross_entropy(logits[0], target, q=q)]
                elif method == "sce":
                    losses = [symmetric_cross_entropy(logits[0], target, alpha=alpha, beta=beta)]
                elif method == "forward":
                    losses = [forward_corrected_cross_entropy(logits[0], target, tt)]
                else:
                    losses = list(co_teaching_losses(logits[0], logits[1], target, keep))
                for opt in opts:
                    opt.zero_grad()
                sum(losses).backward()
                for opt in opts:
                    opt.step()
            with torch.no_grad():
                nets[0].eval()
                train_pred[epoch] = nets[0](xt).argmax(1).numpy()
                eval_logits = nets[0](xe)
                eval_pred[epoch] = eval_logits.argmax(1).numpy()
        eval_probs = torch.softmax(eval_logits, dim=1).numpy().astype(np.float32)
    finally:
        torch.set_num_threads(saved_threads)
    params = {"epochs": epochs, "hidden": hidden, "lr": lr, "weight_decay": weight_decay,
              "batch_size": batch_size}  # fmt: skip
    params.update(
        {"gce": {"q": q}, "sce": {"alpha": alpha, "beta": beta},
         "coteaching": {"forget_rate": forget_rate, "warmup_epochs": warmup_epochs}}.get(method, {})
    )  # fmt: skip
    return NoisyTrainingResult(method, train_pred, eval_pred, eval_probs, params)


def _mlp(d: int, hidden: int, k: int, gen: torch.Generator) -> nn.Module:
    net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, k))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            bound = 1 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
    return net
