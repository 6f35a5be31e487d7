"""Small datasets with known injected noise for the audit, report and CLI tests.

``probs_dataset`` has labels and out-of-sample-like predicted probabilities only (no features),
drawn so that the model is right about the TRUE label most of the time: samples whose given
label was flipped then look suspicious, as they would with a real cross-validated model.
"""

from __future__ import annotations

import numpy as np

from workbench.core.dataset import Dataset


def noisy_labels(true: np.ndarray, k: int, rate: float, rng) -> np.ndarray:
    given = true.copy()
    flip = rng.random(len(true)) < rate
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return given


def probs_for(true: np.ndarray, k: int, rng, *, strength: float = 3.0) -> np.ndarray:
    logits = rng.normal(0, 1, (len(true), k))
    logits[np.arange(len(true)), true] += strength
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def probs_dataset(n=600, k=4, rate=0.2, seed=0, *, truth=True, previews=False, coords=False):
    """Labels + pred_probs (+ optional true labels, 8×8 image previews, 2-D coords)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    true[:k] = np.arange(k)  # every class present
    given = noisy_labels(true, k, rate, rng)
    kwargs = {"pred_probs": probs_for(true, k, rng)}
    if truth:
        kwargs["true_labels"] = true
    if previews:
        imgs = rng.integers(0, 40, (n, 8, 8)).astype(np.uint8)
        imgs[np.arange(n), true % 8, :] = 255  # a bright row that depends on the class
        kwargs["previews"] = imgs
    if coords:
        centres = rng.normal(0, 4, (k, 2))
        kwargs["coords"] = centres[true] + rng.normal(0, 1, (n, 2))
    return Dataset(given, class_names=[f"class {c}" for c in range(k)], **kwargs)
