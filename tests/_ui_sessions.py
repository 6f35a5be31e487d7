"""Sessions for the widget-state tests: digits with injected noise and precomputed detector
results whose scores are higher on the noisy samples (so flags, precision and recall mean
something), plus a browser-message helper."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from workbench.analysis.detectors import DetectorResult
from workbench.core.dataset import Dataset
from workbench.session import Session


def digits_results(given, true, *, seed=0):
    rng = np.random.default_rng(seed)
    noisy = (given != true).astype(float)
    n = len(given)
    strong = rng.random(n) + 1.2 * noisy  # separates noise well
    weak = rng.random(n) * 5 + 1.5 * noisy  # overlaps more, other scale
    suggested = np.where(rng.random(n) < 0.8, true, -1)
    return {
        "strong": DetectorResult("strong", strong, strong > 1.0, suggested),
        "weak": DetectorResult("weak", weak, weak > 4.5, None),
    }


def digits_session(
    *, noise=0.1, seed=0, truth=True, previews=True, decisions_path=None, pred_probs=False
):
    d = load_digits()
    rng = np.random.default_rng(seed)
    true = d.target.copy()
    given = true.copy()
    flip = rng.random(len(true)) < noise
    given[flip] = (given[flip] + rng.integers(1, 10, flip.sum())) % 10
    kwargs = {}
    if truth:
        kwargs["true_labels"] = true
    if previews:
        kwargs["previews"] = d.images
    if pred_probs:
        p = np.full((len(true), 10), 0.02)
        p[np.arange(len(true)), true] = 0.82
        kwargs["pred_probs"] = p
    ds = Dataset(given, **kwargs)
    return Session(
        ds, results=digits_results(given, true, seed=seed), decisions_path=decisions_path
    )


def text_session(n=40, *, seed=1):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 3, n)
    given = true.copy()
    given[:6] = (given[:6] + 1) % 3
    texts = [f"document {i} about <topic {t}> & more" for i, t in enumerate(true)]
    ds = Dataset(
        given, class_names=["sport", "politics", "science"], previews=texts, true_labels=true
    )
    s = rng.random(n)
    s[:6] += 1
    return Session(ds, results={"only": DetectorResult("only", s, s > 1.0)})


def browser_update(widget, state: dict) -> None:
    """Deliver a state update as the browser's comm message would."""
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def browser_send(widget, content: dict) -> None:
    """Deliver a custom message (``model.send(content)`` in the browser)."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )
