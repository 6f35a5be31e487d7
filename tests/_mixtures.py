"""Seeded Gaussian mixtures with symmetric label noise, shared by the compute tests."""

from __future__ import annotations

import numpy as np


def noisy_mixture(n: int, d: int, k: int, noise: float, seed: int, sep: float):
    """Features (N, D) float32 around K random centres (spread ``sep``), noisy labels (N,) with
    a ``noise`` share flipped to another class, and the true labels (N,)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, sep, (k, d))
    true = rng.integers(0, k, n)
    x = (mu[true] + rng.normal(size=(n, d))).astype(np.float32)
    y = true.copy()
    flip = rng.random(n) < noise
    y[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return x, y, true
