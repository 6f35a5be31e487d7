"""Cross-validated probes: out-of-fold predicted probabilities plus recorded training dynamics.

N samples, D features, K classes, F folds, E epochs. :func:`cross_val_probs` trains the F fold
models of a stratified F-fold split *together*, as one batched model whose weights carry a
leading fold axis (a single matrix product serves every fold); each fold's loss is masked to
its own training samples, and features are standardised with statistics of each fold's
training part only.

Two signals come out, from two different models per sample:

- ``pred_probs``: out-of-fold probabilities of sample ``i`` come from the model of fold
  ``fold_of[i]``, the one model that never saw sample ``i`` (what confident learning needs);
- ``trajectories``: per-epoch loss, margin, given-label probability and prediction of sample
  ``i`` come from a model that *trains* on it, on its given (possibly noisy) label, recorded
  during training (what area under the margin, forgetting events and data maps need). The
  recording model is ``record_model[i] = (fold_of[i] + 1) % F``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import torch
import torch.nn.functional as F_
from torch import nn

from workbench.compute.device import autocast_dtype, float64_device, resolve_device
from workbench.compute.recorder import TrajectoryRecorder
from workbench.compute.threads import limit_threads
from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import (
    align_on_index,
    as_array,
    as_float,
    check_consistent_length,
    check_finite,
    check_labels,
    check_rng,
)

__all__ = [
    "MODELS",
    "PROBE_DEFAULTS",
    "ProbeOptions",
    "ProbeResult",
    "check_probe_features",
    "probe_options",
    "probe_result",
    "cross_val_probs",
    "stratified_folds",
    "training_settings",
    "training_threads",
]


class ProbeOptions(TypedDict, total=False):
    """How a probe trains: the keyword options of :func:`cross_val_probs` that every function
    training probes accepts (:func:`workbench.compute.retrain_after_cleaning`,
    :func:`workbench.compute.cleaning_sweep`). Defaults: :data:`PROBE_DEFAULTS`."""

    model: str
    epochs: int | None
    lr: float | None
    weight_decay: float
    batch_size: int | None
    hidden: int
    seed: SeedLike
    device: Any
    progress: bool


# The defaults of ProbeOptions; cross_val_probs' signature states the same (a test checks it).
PROBE_DEFAULTS: ProbeOptions = dict(
    model="linear", epochs=None, lr=None, weight_decay=0.1, batch_size=None, hidden=128, seed=0,
    device=None, progress=True,
)  # fmt: skip


def probe_options(options: dict) -> ProbeOptions:
    """``options`` over :data:`PROBE_DEFAULTS`; an unknown key is a TypeError naming it."""
    unknown = sorted(set(options) - set(PROBE_DEFAULTS))
    if unknown:
        raise TypeError(
            f"Unknown probe option(s) {unknown}; the options are {sorted(PROBE_DEFAULTS)}."
        )
    return {**PROBE_DEFAULTS, **options}


#: Probe architectures: a linear (multinomial logistic) model, a one-hidden-layer MLP, and a
#: tiny CNN for small images given as pixels.
MODELS = ("linear", "mlp", "cnn")

_DEFAULTS = {  # epochs, lr, batch_size
    "linear": (8, 0.03, 1024),
    "mlp": (20, 0.005, 256),
    "cnn": (20, 0.005, 128),
}


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """What :func:`cross_val_probs` returns.

    Attributes
    ----------
    pred_probs : ndarray of shape (N, K), float32
        Out-of-fold probabilities: row ``i`` from the fold model that did not see sample ``i``.
    trajectories : dict of kind -> ndarray of shape (N, E)
        Training dynamics recorded on the given labels by a model that trains on each sample
        (empty when ``record=False``); see :class:`TrajectoryRecorder` for the kinds.
    fold_of : ndarray of shape (N,), int64
        Held-out fold of every sample.
    record_model : ndarray of shape (N,), int64
        Fold model whose training dynamics were recorded for each sample (never ``fold_of``).
    device : str
        Where it ran.
    seed : int or None
        The seed given (None when a Generator or nothing was given).
    model, n_folds, epochs : str, int, int
    params : dict
        Every training hyper-parameter used.
    timings : dict
        Seconds: ``prepare`` (validation, folds, standardisation), ``train``, ``predict``,
        ``total``, and ``epochs`` (list, one per epoch).
    """

    pred_probs: np.ndarray
    trajectories: dict
    fold_of: np.ndarray
    record_model: np.ndarray
    device: str
    seed: int | None
    model: str
    n_folds: int
    epochs: int
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def to_dataset_kwargs(self) -> dict:
        """``pred_probs`` (and ``trajectories`` when recorded) for ``Dataset(labels, **kw)``."""
        out = {"pred_probs": self.pred_probs}
        if self.trajectories:
            out["trajectories"] = self.trajectories
        return out

    def __repr__(self) -> str:
        n, k = self.pred_probs.shape
        return (
            f"ProbeResult(model={self.model!r}, N={n}, K={k}, folds={self.n_folds}, "
            f"epochs={self.epochs}, recorded={sorted(self.trajectories)}, device={self.device!r})"
        )


# --- public entry point ------------------------------------------------------------------------
def cross_val_probs(
    features: ArrayLike,
    labels: ArrayLike,
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
) -> ProbeResult:
    """Out-of-fold predicted probabilities from a probe, with per-sample training dynamics.

    Parameters
    ----------
    features : array-like of shape (N, D), or (N, H, W) / (N, C, H, W) images for "cnn"
        Features or embeddings (numpy, torch or pandas). For ``model="cnn"`` a 2-D input whose
        width is a perfect square is read as single-channel square images (8×8 digits: D=64).
    labels : array-like of shape (N,)
        Given (possibly noisy) labels, integers 0..K-1 or strings (sorted names become 0..K-1).
    model : {"linear", "mlp", "cnn"}, default="linear"
        Multinomial logistic regression, one-hidden-layer MLP (``hidden`` units, ReLU), or a
        tiny two-layer CNN for small images.
    n_folds : int, default=5
        F, the number of stratified folds; at most the size of the smallest class (classes
        with no sample do not count).
    epochs, lr, batch_size : optional
        Training length, AdamW learning rate (cosine-decayed to 0) and minibatch size;
        defaults depend on ``model`` (linear: 8 epochs, lr 0.03, batches of 1024, fewer for
        N < 16384 so every epoch takes at least ~16 steps). ``batch_size >= N`` trains
        full-batch.
    weight_decay : float, default=0.1
        Decoupled (AdamW) weight decay; it keeps probes trained on noisy labels from
        memorising them. The returned models average the weights of the second half of
        training (Polyak averaging).
    hidden : int, default=128
        Hidden units of the MLP.
    seed : int or numpy.random.Generator, default=0
        Folds, initial weights and batch order; the same seed gives identical results.
    device : str or torch.device, optional
        Default: the session device (see ``workbench.compute.set_device``). On CUDA the
        forward pass runs under autocast (bfloat16 where supported); weights, loss and the
        recorded signals stay float32.
    record : bool, default=True
        Record per-epoch trajectories (loss, margin, given_prob, predicted), see module notes.
    progress : bool, default=True
        Show a ``tqdm`` progress bar over epochs. Ctrl-C stops training and propagates.
    n_classes : int, optional
        K, when ``labels`` are integer codes and some classes have no sample here (a subset,
        a shard): ``pred_probs`` then has K columns, those classes' only from never being the
        target. Default: inferred from ``labels``.

    Returns
    -------
    ProbeResult
        ``pred_probs`` (N, K) float32, ``trajectories`` dict of (N, E), ``fold_of`` (N,),
        ``device``, ``seed``, ``timings``.

    Raises
    ------
    ValueError, TypeError
        Bad model name, NaN/infinite features, mismatched lengths, fewer than 2 classes, a
        fold count above the smallest class size, non-positive epochs/lr/batch_size, or a
        device that does not exist.

    Examples
    --------
    >>> import numpy as np
    >>> from workbench.compute import cross_val_probs
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 300)
    >>> x = rng.normal(size=(300, 4)) + y[:, None]
    >>> res = cross_val_probs(x, y, seed=0, progress=False)
    >>> res.pred_probs.shape, res.trajectories["loss"].shape
    ((300, 3), (300, 8))
    """
    t0 = time.perf_counter()
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, found {model!r}.")
    features = align_on_index(labels, {"features": features})["features"]
    x = check_probe_features(features, model)
    y, names = check_labels(labels, n_classes=n_classes)
    check_consistent_length(features=x, labels=y)
    k = len(names)
    if k < 2:
        raise ValueError(f"labels must hold at least 2 classes, found K={k}.")
    n_folds = _check_int(n_folds, "n_folds", 2)
    epochs, lr, batch_size, hidden = training_settings(
        model, len(y), epochs, lr, batch_size, hidden, weight_decay
    )
    dev = resolve_device(device)
    rng = check_rng(seed)

    fold_of = _stratified_folds(y, n_folds, rng, names)
    torch_seed = int(rng.integers(2**62))
    xt = torch.as_tensor(x, device=dev)
    yt = torch.as_tensor(y, device=dev)
    fold_t = torch.as_tensor(fold_of, device=dev)
    mask = fold_t[:, None] != torch.arange(n_folds, device=dev)[None, :]
    gen = torch.Generator(device="cpu").manual_seed(torch_seed)
    net = build_model(model, xt, mask, k, hidden=hidden, generator=gen).to(dev)
    record_model = (fold_of + 1) % n_folds
    recorder = TrajectoryRecorder(len(y), epochs) if record else None
    t1 = time.perf_counter()

    epoch_s = train_models(
        net, xt, yt, mask,
        epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size, rng=rng,
        recorder=recorder, record_model=torch.as_tensor(record_model, device=dev),
        progress=progress, desc=f"{model} probe, {n_folds} folds",
    )  # fmt: skip
    t2 = time.perf_counter()
    probs = predict_probs(net, xt, select=fold_t)
    t3 = time.perf_counter()
    return probe_result(
        ProbeResult, pred_probs=probs,
        trajectories=dict(recorder.trajectories) if recorder else {}, fold_of=fold_of,
        record_model=record_model, device=dev, seed=seed, model=model, n_folds=n_folds,
        epochs=epochs, params=dict(lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                                   hidden=hidden),
        stamps=(t0, t1, t2, t3), epoch_seconds=epoch_s,
    )  # fmt: skip


def probe_result(cls, *, pred_probs, trajectories, fold_of, record_model, device, seed, model,
                 n_folds, epochs, params, stamps, epoch_seconds, **extra):  # fmt: skip
    """Build a :class:`ProbeResult` (or a subclass ``cls``, whose own fields come in
    ``extra``) the same way for every probe: ``params`` are the training hyper-parameters
    (``optimizer="AdamW"`` and ``schedule="cosine"`` are added), ``stamps`` the four
    ``time.perf_counter()`` readings (start, trained from, predicted from, end) that make
    ``timings`` with ``epoch_seconds``."""
    t0, t1, t2, t3 = stamps
    return cls(
        pred_probs=pred_probs,
        trajectories=trajectories,
        fold_of=fold_of,
        record_model=np.asarray(record_model).astype(np.int64),
        device=str(device),
        seed=int(seed) if isinstance(seed, (int, np.integer)) else None,
        model=model,
        n_folds=int(n_folds),
        epochs=epochs,
        params={**params, "optimizer": "AdamW", "schedule": "cosine"},
        timings=dict(
            prepare=t1 - t0, train=t2 - t1, predict=t3 - t2, total=t3 - t0, epochs=epoch_seconds
        ),
        **extra,
    )


def stratified_folds(labels: ArrayLike, n_folds: int = 5, *, seed: SeedLike = 0) -> np.ndarray:
    """Assign every sample to one of ``n_folds`` folds, stratified by class.

    Returns
    -------
    ndarray of shape (N,), int64
        Fold 0..F-1 of each sample; every class is spread evenly over the folds.

    Raises
    ------
    ValueError
        If ``n_folds`` exceeds the size of the smallest class.
    """
    y, names = check_labels(labels)
    return _stratified_folds(y, _check_int(n_folds, "n_folds", 2), check_rng(seed), names)


def _stratified_folds(y: np.ndarray, n_folds: int, rng, names) -> np.ndarray:
    counts = np.bincount(y, minlength=len(names))
    present = np.flatnonzero(counts)  # a class with no samples has no folds to fill
    c = int(present[np.argmin(counts[present])])
    if counts[c] < n_folds:
        raise ValueError(
            f"n_folds={n_folds} is larger than the smallest class: class {names[c]!r} has "
            f"{counts[c]} samples. Use n_folds <= {counts[c]} or drop that class."
        )
    fold_of = np.empty(len(y), dtype=np.int64)
    order = np.argsort(y, kind="stable")
    offset = 0
    for n_c in counts:
        members = order[offset : offset + n_c]
        # Round-robin continues across classes so folds also get equal total sizes.
        fold_of[rng.permutation(members)] = (np.arange(n_c) + offset) % n_folds
        offset += n_c
    return fold_of


# --- validation helpers ------------------------------------------------------------------------
def training_settings(model, n, epochs, lr, batch_size, hidden, weight_decay):
    """Checked (epochs, lr, batch_size, hidden), defaults filled in for ``model`` and N."""
    d_epochs, d_lr, d_bs = _DEFAULTS[model]
    epochs = _check_int(d_epochs if epochs is None else epochs, "epochs", 1)
    if batch_size is None:  # small data: keep at least ~16 steps per epoch
        batch_size = min(d_bs, max(32, n // 16))
    batch_size = _check_int(batch_size, "batch_size", 1)
    hidden = _check_int(hidden, "hidden", 1)
    lr = _check_positive(d_lr if lr is None else lr, "lr")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float, np.floating)):
        raise TypeError(f"weight_decay must be a number, found {weight_decay!r}.")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, found {weight_decay!r}.")
    return epochs, lr, batch_size, hidden


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, found {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, found {value}.")
    return int(value)


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{name} must be a number, found {value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, found {value!r}.")
    return float(value)


def check_probe_features(features: ArrayLike, model: str) -> np.ndarray:
    x = as_array(features, "features")
    if not np.issubdtype(x.dtype, np.number) or x.dtype.kind in "bc":
        raise TypeError(f"features must be real numbers, found dtype {x.dtype}.")
    if model == "cnn":
        if x.ndim == 2:
            side = math.isqrt(x.shape[1])
            if side * side != x.shape[1]:
                raise ValueError(
                    "model='cnn' needs images (N, H, W) or (N, C, H, W); 2-D features must "
                    f"have a square width, found shape {x.shape}."
                )
            x = x.reshape(len(x), 1, side, side)
        elif x.ndim == 3:
            x = x[:, None]
        elif x.ndim != 4:
            raise ValueError(f"model='cnn' needs (N, H, W) or (N, C, H, W), found {x.shape}.")
    elif x.ndim != 2:
        raise ValueError(f"features must be 2-D of shape (N, D), found shape {x.shape}.")
    if x.shape[0] < 2 or x[0].size < 1:
        raise ValueError(f"features needs at least 2 samples and 1 feature, found {x.shape}.")
    x = np.ascontiguousarray(as_float(x, "features"))
    check_finite(x, "features")
    return x


# --- batched models: M models side by side, outputs (B, M, K) ----------------------------------
def _masked_moments(x: torch.Tensor, mask: torch.Tensor, chunk: int = 65536):
    """Per-model mean and std over each model's training rows (one matrix product per chunk).

    Data are centred near their mean first so float32 sums lose nothing to cancellation.
    For images the moments are per channel, pooled over pixels.
    """
    head = x[:4096]  # any centre makes the sums exact; one near the mean avoids cancellation
    center = (head.mean(dim=(2, 3)) if x.ndim == 4 else head).mean(0)
    wide = dict(device=float64_device(x.device), dtype=torch.float64)  # sums in float64
    s1 = s2 = None
    for start in range(0, len(x), chunk):
        xc = x[start : start + chunk]
        if xc.ndim == 4:
            xc = xc - center[None, :, None, None]
            xc, xq = xc.mean(dim=(2, 3)), (xc * xc).mean(dim=(2, 3))
        else:
            xc = xc - center
            xq = xc * xc
        w = mask[start : start + chunk].T.float()  # (M, chunk)
        a, b = (w @ xc).to(**wide), (w @ xq).to(**wide)
        s1, s2 = (a, b) if s1 is None else (s1 + a, s2 + b)
    n = mask.sum(0).to(**wide).clamp_min(1)[:, None]
    mean = s1 / n
    std = (s2 / n - mean * mean).clamp_min(0).sqrt()
    # float32 sums leave var ~1e-7 * rms² of rounding: a feature whose std is below 0.1% of its
    # rms deviation is constant on that model's rows and is left unscaled (std 1).
    constant = std <= 1e-3 * (s2 / n).sqrt()
    std = torch.where(constant, torch.ones_like(std), std)
    return (mean + center.to(**wide)).to(x.device, torch.float32), std.to(x.device, torch.float32)


def _uniform(gen, m, shape, fan_in):
    """Initial weights of shape (m, *shape): the same draw for every model, so side-by-side
    models differ only by their data (folds, cleaning), never by their start."""
    bound = 1 / math.sqrt(fan_in)
    one = (torch.rand(shape, generator=gen) * 2 - 1) * bound
    return one.expand(m, *shape).clone()


class _Standardized(nn.Module):
    """First layer of M models on standardised input, folded into one matrix product."""

    def __init__(self, mean, std, out, gen):
        super().__init__()
        m, d = mean.shape
        self.register_buffer("inv_std", 1 / std)
        self.register_buffer("shift", mean / std)
        self.weight = nn.Parameter(_uniform(gen, m, (d, out), d))
        self.bias = nn.Parameter(_uniform(gen, m, (out,), d))

    def forward_t(self, x):  # (B, D) -> (M, out, B); (W / std)ᵀ xᵀ - ((mean / std) @ W - b)
        m, d, out = self.weight.shape
        a_t = (self.weight * self.inv_std[:, :, None]).transpose(1, 2).reshape(m * out, d)
        c = self.bias - torch.einsum("md,mdo->mo", self.shift, self.weight)
        return torch.addmm(c.reshape(m * out, 1), a_t, x.T).view(m, out, -1)

    def forward(self, x):  # (B, D) -> (B, M, out)
        return self.forward_t(x).permute(2, 0, 1)


class _Linear(nn.Module):
    def __init__(self, mean, std, k, hidden, gen):
        super().__init__()
        self.layer = _Standardized(mean, std, k, gen)

    def forward(self, x):  # (B, M, K), a view of (M, K, B) storage
        return self.layer(x)

    def macs_per_sample(self, shape):
        return self.layer.weight.numel()


class _MLP(nn.Module):
    def __init__(self, mean, std, k, hidden, gen):
        super().__init__()
        m = mean.shape[0]
        self.layer = _Standardized(mean, std, hidden, gen)
        self.weight2 = nn.Parameter(_uniform(gen, m, (hidden, k), hidden))
        self.bias2 = nn.Parameter(_uniform(gen, m, (k,), hidden))

    def macs_per_sample(self, shape):
        return self.layer.weight.numel() + self.weight2.numel()

    def forward(self, x):  # (B, M, K), a view of (M, K, B) storage
        h = torch.relu(self.layer.forward_t(x))  # (M, H, B)
        z = torch.baddbmm(self.bias2[:, :, None], self.weight2.transpose(1, 2), h)
        return z.permute(2, 0, 1)


class _CNN(nn.Module):
    """Two grouped 3×3 convolutions (one group per model), max-pool, 4×4 average pool, linear."""

    c1, c2 = 8, 16

    def __init__(self, mean, std, k, hidden, gen):
        super().__init__()
        m, c = mean.shape
        self.m = m
        self.register_buffer("mean", mean[None, :, :, None, None])
        self.register_buffer("inv_std", (1 / std)[None, :, :, None, None])
        # grouped convolutions: model i owns output channels [i * c, (i + 1) * c)
        self.w1 = nn.Parameter(_uniform(gen, m, (self.c1, c, 3, 3), c * 9).flatten(0, 1))
        self.b1 = nn.Parameter(_uniform(gen, m, (self.c1,), c * 9).flatten())
        self.w2 = nn.Parameter(
            _uniform(gen, m, (self.c2, self.c1, 3, 3), self.c1 * 9).flatten(0, 1)
        )
        self.b2 = nn.Parameter(_uniform(gen, m, (self.c2,), self.c1 * 9).flatten())
        self.w3 = nn.Parameter(_uniform(gen, m, (self.c2 * 16, k), self.c2 * 16))
        self.b3 = nn.Parameter(_uniform(gen, m, (k,), self.c2 * 16))

    def macs_per_sample(self, shape):
        h, w = shape[-2:]
        pooled = (h // 2) * (w // 2) if min(h, w) >= 4 else h * w
        return self.w1.numel() * h * w + self.w2.numel() * pooled + self.w3.numel()

    def forward(self, x):  # (B, C, H, W) -> (B, M, K)
        b = x.shape[0]
        h = ((x[:, None] - self.mean) * self.inv_std).flatten(1, 2)  # (B, M*C, H, W)
        h = torch.relu(F_.conv2d(h, self.w1, self.b1, padding=1, groups=self.m))
        if min(h.shape[-2:]) >= 4:
            h = F_.max_pool2d(h, 2)
        h = torch.relu(F_.conv2d(h, self.w2, self.b2, padding=1, groups=self.m))
        h = F_.adaptive_avg_pool2d(h, 4).reshape(b, self.m, -1).transpose(0, 1)  # (M, B, 16*c2)
        return torch.bmm(h, self.w3).transpose(0, 1) + self.b3


_MODEL_CLASSES = {"linear": _Linear, "mlp": _MLP, "cnn": _CNN}


def build_model(kind: str, x: torch.Tensor, mask: torch.Tensor, n_classes: int, *,
                hidden: int = 128, generator: torch.Generator) -> nn.Module:  # fmt: skip
    """M side-by-side probe models; model ``m`` standardises with its training rows' moments.

    ``mask`` (N, M) bool marks the training rows of each model. The module maps a batch of
    features (B, ...) to logits (B, M, K). Initial weights come from ``generator`` (CPU).
    """
    mean, std = _masked_moments(x, mask)
    net = _MODEL_CLASSES[kind](mean.cpu(), std.cpu(), n_classes, hidden, generator)
    net.n_classes = n_classes
    return net


# --- the trainer -------------------------------------------------------------------------------
def train_models(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    rng: np.random.Generator,
    recorder: TrajectoryRecorder | None = None,
    record_model: torch.Tensor | None = None,
    progress: bool = True,
    desc: str = "probe",
) -> list[float]:
    """Train M models side by side with AdamW; return the seconds of every epoch.

    On return the weights are the average of the iterates of the second half of training.

    ``y`` is (N,) shared labels or (N, M) per-model labels; ``mask`` (N, M) bool selects each
    model's training rows (its loss is the mean cross-entropy over them). Every epoch visits
    all N rows in the order ``rng.permutation(N)``, in batches of ``batch_size``; a recorder
    gets, per batch, the logits of model ``record_model[i]`` for each row ``i``.
    """
    from tqdm.auto import tqdm

    n, m = mask.shape
    dev = x.device
    amp = autocast_dtype(dev)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    opt = make_optimizer(net, lr, weight_decay)
    weights_t = mask.T.float().contiguous()  # (M, N)
    y_t = y[None, :] if y.ndim == 1 else y.T.contiguous()  # (1 or M, N)
    y_rec = None
    if recorder is not None:
        y_rec = y if y.ndim == 1 else y.gather(1, record_model[:, None])[:, 0]
        # Row j of a batch of b rows has the log-prob of class c under its recorded model r at
        # (r * K + c) * b + j of the batch's flat (M, K, b) log-probs. At these positions one
        # 1-D index_select per batch copies the (K, b) block the recorder keeps (selecting
        # over the model axis by gather, or by multiply and sum, costs several times more);
        # int32 positions halve their memory traffic.
        k, full = net.n_classes, n // batch_size * batch_size
        rec_k = record_model.to(torch.int32) * k
        rows = torch.arange(n, dtype=torch.int32, device=dev)
        width = torch.clamp(n - (rows - rows % batch_size), max=batch_size)  # b of each row
        at_buf = None  # (K * N,) int32, refilled every epoch
        within = [torch.arange(k * b, dtype=torch.int32, device=dev).view(k, b)  # c * b + j
                  for b in (batch_size, n - full)]  # fmt: skip
    steps_per_epoch = math.ceil(n / batch_size)
    total, step, times = epochs * steps_per_epoch, 0, []
    # Polyak averaging: the returned weights are the mean of the iterates of the second half
    # of training (less minibatch noise than the last iterate; the recorder sees the live ones).
    avg_from, params = total // 2, list(net.parameters())
    avg, n_avg = [p.detach().clone() for p in params], 0
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    with training_threads(net, x, batch_size, dev):
        for _ in bar:
            t = time.perf_counter()
            seen_loss = torch.zeros((), device=dev) if progress else None  # sum of b * loss
            perm = torch.as_tensor(rng.permutation(n), device=dev)
            # per-row tables in this epoch's order, so every batch takes plain slices
            w_ep = torch.index_select(weights_t, 1, perm)
            y_ep = torch.index_select(y_t, 1, perm)
            if recorder is not None:
                y_rec_ep = y_ep[0] if y_rec is y else torch.index_select(y_rec, 0, perm)
                rec_bufs = recorder._epoch_buffer(perm, y_rec_ep, k, batch_size)
                offset = torch.index_select(rec_k, 0, perm).mul_(width)  # r * K * b per row
                if rec_bufs is not None:  # the epoch's positions, batch after batch as in
                    # rec_bufs, split up front (slicing in the loop costs more than the copy)
                    if at_buf is None:
                        at_buf = offset.new_empty(k * n)
                        at = at_buf.split(k * batch_size)  # the same views every epoch
                    torch.add(within[0], offset[:full].view(-1, 1, batch_size),
                              out=at_buf[: k * full].view(-1, k, batch_size))  # fmt: skip
                    torch.add(within[1], offset[full:], out=at_buf[k * full :].view(k, -1))
            for i, start in enumerate(range(0, n, batch_size)):
                idx = perm[start : start + batch_size]
                stop = start + len(idx)
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
                step += 1
                with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
                    logits = net(torch.index_select(x, 0, idx))
                # Classes on the middle axis, batch last: (M, K, B). For the linear and MLP
                # probes this is the storage order, so the softmax runs along contiguous rows.
                logp = torch.log_softmax(logits.float().permute(1, 2, 0), dim=1)
                b = len(idx)
                # The recorder's copy first, while the log-probs are still in cache. Each
                # row's recorded model: one 1-D index_select.
                if recorder is not None:
                    lp = logp.detach().view(-1)
                    if rec_bufs is not None:  # straight into the recorder's epoch buffer
                        torch.index_select(lp, 0, at[i], out=rec_bufs[i])
                    else:  # large N×K: signals per batch
                        at_b = within[b < batch_size] + offset[start:stop]
                        rec = torch.index_select(lp, 0, at_b.view(-1)).view(k, b)
                        recorder._record_batch(idx, rec, y_rec_ep[start:stop])
                target = y_ep[:, None, start:stop].expand(m, 1, b)
                ce = -logp.gather(1, target)[:, 0, :]  # (M, B)
                w = w_ep[:, start:stop]
                loss = ((ce * w).sum(1) / w.sum(1).clamp_min(1)).sum()
                if seen_loss is not None:
                    seen_loss.add_(loss.detach(), alpha=b)
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    opt.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                if step > avg_from:
                    n_avg += 1
                    with torch.no_grad():
                        for a, p in zip(avg, params, strict=True):
                            a.lerp_(p, 1.0 / n_avg)
            if recorder is not None:
                recorder.end_epoch()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times.append(time.perf_counter() - t)
            if progress:
                # the epoch's mean training loss per model (one host sync per epoch)
                bar.set_postfix(loss=f"{seen_loss.item() / (n * m):.4f}")
    with torch.no_grad():
        for a, p in zip(avg, params, strict=True):
            p.copy_(a)
    return times


def make_optimizer(net: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel per step where the device supports it."""
    try:
        return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)


def training_threads(net: nn.Module, x: torch.Tensor, batch_size: int, device):
    """The thread context of training ``net`` on ``x`` (N, ...) in batches of ``batch_size`` on
    ``device``: BLAS on one thread, and torch on one thread while a step's forward pass is small
    (:func:`workbench.compute.threads.limit_threads`)."""
    work = min(batch_size, len(x)) * net.macs_per_sample(tuple(x.shape[1:]))
    return limit_threads(work, device)


@torch.no_grad()
def predict_probs(net: nn.Module, x: torch.Tensor, *, select: torch.Tensor | None = None,
                  chunk: int = 16384) -> np.ndarray:  # fmt: skip
    """Softmax probabilities, chunked. ``select`` (N,) picks model ``select[i]`` for row ``i``
    (out-of-fold prediction): returns (N, K); without it returns (N, M, K)."""
    dev = x.device
    amp = autocast_dtype(dev)
    out = []
    for start in range(0, len(x), chunk):
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
            logits = net(x[start : start + chunk])
        logits = logits.float()
        if select is not None:
            sel = select[start : start + chunk]
            logits = logits[torch.arange(len(sel), device=dev), sel]
        out.append(torch.softmax(logits, dim=-1).cpu().numpy())
    return np.concatenate(out, axis=0).astype(np.float32, copy=False)
