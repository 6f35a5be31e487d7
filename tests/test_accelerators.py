"""The torch computations give the CPU's results on an accelerator (CUDA, MPS).

Skipped where no accelerator exists (CI). On a GPU machine: ``pytest tests/test_accelerators.py``.
``WORKBENCH_TEST_ACCELERATOR=cpu`` runs them against the CPU itself, which checks the tests.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from _mixtures import noisy_mixture

from workbench.compute import TrajectoryRecorder, cross_val_probs, pca, recov_scores
from workbench.compute import recorder as recorder_module
from workbench.compute.knn import knn_graph


def _accelerators() -> list[str]:
    if os.environ.get("WORKBENCH_TEST_ACCELERATOR"):
        return [os.environ["WORKBENCH_TEST_ACCELERATOR"]]
    found = ["cuda"] if torch.cuda.is_available() else []
    mps = getattr(torch.backends, "mps", None)
    return found + (["mps"] if mps is not None and mps.is_available() else [])


pytestmark = pytest.mark.skipif(not _accelerators(), reason="no CUDA or MPS device here")


@pytest.fixture(params=_accelerators() or ["none"])
def device(request):
    return request.param


def test_probe_on_the_accelerator_matches_the_cpu(device):
    x, y, _ = noisy_mixture(n=3000, d=16, k=4, noise=0.2, seed=0, sep=1.0)
    cpu = cross_val_probs(x, y, seed=0, device="cpu", progress=False)
    acc = cross_val_probs(x, y, seed=0, device=device, progress=False)
    assert acc.device.startswith(device)
    np.testing.assert_array_equal(acc.fold_of, cpu.fold_of)  # folds are drawn on the CPU
    # mixed precision on CUDA (bfloat16 forward) moves probabilities by a little
    assert np.quantile(np.abs(acc.pred_probs - cpu.pred_probs), 0.99) < 0.05
    assert (acc.pred_probs.argmax(1) == cpu.pred_probs.argmax(1)).mean() > 0.97
    for kind in ("loss", "margin", "given_prob"):
        assert np.nanmedian(np.abs(acc.trajectories[kind] - cpu.trajectories[kind])) < 0.05
    assert (acc.trajectories["predicted"] == cpu.trajectories["predicted"]).mean() > 0.95


@pytest.mark.parametrize("per_batch", [False, True])
def test_recorder_on_the_accelerator_matches_the_cpu(device, per_batch, monkeypatch):
    if per_batch:
        monkeypatch.setattr(recorder_module, "_DEFER_ELEMENTS", 0)
    rng = np.random.default_rng(1)
    n, k, epochs = 500, 7, 3
    logits = torch.from_numpy(rng.normal(size=(epochs, n, k)).astype(np.float32) * 3)
    y = torch.from_numpy(rng.integers(0, k, n))
    recordings = []
    for dev in ("cpu", device):
        rec = TrajectoryRecorder(n, epochs, dtype=np.float32)
        for e in range(epochs):
            for idx in torch.from_numpy(rng.permutation(n)).split(64):
                rec.update(idx.to(dev), logits[e][idx].to(dev), y[idx].to(dev))
            rec.end_epoch()
        recordings.append(rec.trajectories)
    cpu, acc = recordings
    for kind in ("loss", "margin", "given_prob"):
        np.testing.assert_allclose(acc[kind], cpu[kind], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(acc["predicted"], cpu["predicted"])


def test_knn_graph_pca_and_recov_on_the_accelerator_match_the_cpu(device):
    x, y, _ = noisy_mixture(n=1500, d=32, k=5, noise=0.2, seed=2, sep=1.0)
    g_cpu = knn_graph(x, 10, device="cpu", progress=False)
    g_acc = knn_graph(x, 10, device=device, progress=False)
    assert g_acc.device.startswith(device)
    same = (g_acc.indices == g_cpu.indices).all(1)
    assert same.mean() > 0.99  # the rest: neighbours at equal distance in another order
    np.testing.assert_allclose(g_acc.distances, g_cpu.distances, atol=1e-5)
    s_cpu, s_acc = pca(x, 2, device="cpu")[0], pca(x, 2, device=device)[0]
    np.testing.assert_allclose(s_acc, s_cpu, rtol=1e-3, atol=1e-3)
    r_cpu = recov_scores(x, y, n_repeats=40, device="cpu", progress=False)
    r_acc = recov_scores(x, y, n_repeats=40, device=device, progress=False)
    # the same splits (drawn on the CPU); float64 solves: the same worst folds up to ties
    assert (r_acc.counts == r_cpu.counts).mean() > 0.99


def test_relation_graph_sums_on_the_accelerator_match_the_cpu(device):
    from workbench.compute.relation import relation_sums

    x, y, _ = noisy_mixture(n=2000, d=16, k=4, noise=0.2, seed=2, sep=1.0)
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4), len(y))
    p[np.arange(len(y)), y] += 1.0
    p /= p.sum(axis=1, keepdims=True)
    cpu = relation_sums(x, p, y, device="cpu", progress=False)
    acc = relation_sums(x, p, y, device=device, progress=False)
    scale = np.abs(cpu.initial).max()
    np.testing.assert_allclose(acc.initial, cpu.initial, atol=1e-4 * scale)
    np.testing.assert_allclose(acc.reliability, cpu.reliability, atol=1e-4 * scale)
    np.testing.assert_allclose(acc.density, cpu.density, rtol=1e-4, atol=1e-4)
    assert (acc.noisy == cpu.noisy).mean() > 0.999
    assert (acc.support == cpu.support).mean() > 0.999
