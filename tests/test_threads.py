"""Thread pools while the workbench computes (workbench.compute.threads): BLAS on one thread and
torch on one thread for small steps inside, read from within the real computations, and the
caller's settings back afterwards, also after an error.

The suite runs with BLAS on one thread (tests/conftest.py), so every test raises BLAS and torch
to two threads first: a limit that did nothing, or a restore that did nothing, would show."""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import workbench.compute.hoc as hoc_module
import workbench.compute.recov as recov_module
from workbench.compute import cross_val_probs, cross_val_sigmoid_probs, recov_scores
from workbench.compute.hoc import fit_hoc
from workbench.compute.recorder import TrajectoryRecorder
from workbench.compute.threads import SINGLE_THREAD_WORK, limit_threads


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def _now() -> tuple[list[int], int]:
    return _blas_threads(), torch.get_num_threads()


@pytest.fixture
def two_threads():
    """BLAS and torch on two threads for the test (even on one core), as outside the suite."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threadpool_limits(2, user_api="blas"):
            assert _blas_threads() and set(_blas_threads()) == {2}
            yield _now()
    finally:
        torch.set_num_threads(saved)


def _spy(monkeypatch, owner, name, seen):
    """Record the pools each time ``owner.name`` runs, then run the real thing."""
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        seen.append(_now())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)


def _ran_with(seen, two_threads, *, torch_threads: int) -> bool:
    """Whether every recorded run had BLAS on one thread (in each of ``two_threads``' pools)
    and torch on ``torch_threads`` threads, and there was at least one."""
    expected = repr(([1] * len(two_threads[0]), torch_threads))
    return bool(seen) and set(map(repr, seen)) == {expected}


def test_small_work_runs_on_one_thread_and_restores(two_threads):
    with limit_threads(SINGLE_THREAD_WORK - 1):
        assert set(_blas_threads()) == {1}
        assert torch.get_num_threads() == 1
    assert _now() == two_threads


def test_large_work_or_none_limits_only_blas(two_threads):
    for work in (SINGLE_THREAD_WORK, None):
        with limit_threads(work, "cpu"):
            assert set(_blas_threads()) == {1}
            assert torch.get_num_threads() == 2
        assert _now() == two_threads


def test_torch_threads_stay_for_work_elsewhere_than_the_cpu(two_threads):
    with limit_threads(1, torch.device("meta")):
        assert set(_blas_threads()) == {1}
        assert torch.get_num_threads() == 2
    assert _now() == two_threads


def test_restored_after_an_error_and_when_nested(two_threads):
    with pytest.raises(KeyError):
        with limit_threads(1):
            with limit_threads(None):
                assert _now() == ([1] * len(two_threads[0]), 1)
            assert _now() == ([1] * len(two_threads[0]), 1)
            raise KeyError("stop")
    assert _now() == two_threads


def test_a_library_loaded_later_is_limited_too(two_threads, monkeypatch):
    """The pools are scanned again after an import: a BLAS library that came with it is
    limited as well (simulated by forgetting the last scan, as an import does)."""
    import workbench.compute.threads as threads_module

    with limit_threads():
        pass
    monkeypatch.setattr(threads_module, "_scanned_at", -1)
    with limit_threads():
        assert set(_blas_threads()) == {1}
    assert _now() == two_threads


def _mixture(n=300, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    return (rng.normal(size=(n, d)) + 2 * y[:, None]).astype(np.float32), y


def test_probe_trains_small_steps_on_one_thread(two_threads, monkeypatch):
    seen = []
    _spy(monkeypatch, TrajectoryRecorder, "end_epoch", seen)
    x, y = _mixture()
    cross_val_probs(x, y, epochs=2, device="cpu", progress=False)
    assert seen == [([1] * len(two_threads[0]), 1)] * 2
    assert _now() == two_threads


def test_probe_keeps_torch_threads_for_large_steps(two_threads, monkeypatch):
    seen = []
    _spy(monkeypatch, TrajectoryRecorder, "end_epoch", seen)
    x, y = _mixture(n=2048, d=2048, k=2)  # 1024 rows × 5 models × 2048 × 2 > the threshold
    cross_val_probs(x, y, epochs=1, batch_size=1024, device="cpu", progress=False)
    assert seen == [([1] * len(two_threads[0]), 2)]
    assert _now() == two_threads


def test_sigmoid_probe_trains_small_steps_on_one_thread(two_threads, monkeypatch):
    import torch.nn.functional as F_

    seen = []
    _spy(monkeypatch, F_, "binary_cross_entropy_with_logits", seen)
    x, y = _mixture()
    sets = np.eye(3, dtype=bool)[y] | (np.arange(len(y)) % 5 == 0)[:, None]
    cross_val_sigmoid_probs(x, sets, epochs=1, device="cpu", progress=False)
    assert _ran_with(seen, two_threads, torch_threads=1)
    assert _now() == two_threads


def test_hoc_fit_runs_blas_on_one_thread(two_threads, monkeypatch):
    seen = []
    _spy(monkeypatch, hoc_module, "hoc_loss", seen)
    k = 3
    t = np.full((k, k), 0.1) + 0.7 * np.eye(k)
    p = np.full(k, 1 / k)
    stats = (
        p @ t,
        np.einsum("i,ij,il->jl", p, t, t),
        np.einsum("i,ij,il,im->jlm", p, t, t, t),
    )
    fit_hoc(*stats, max_iter=20)
    # the first evaluation scales the loss before the fit; every one in the fit is limited
    assert len(seen) > 2
    assert seen[0] == two_threads
    assert set(map(repr, seen[1:])) == {repr(([1] * len(two_threads[0]), 2))}
    assert _now() == two_threads


def test_recov_runs_small_folds_on_one_thread(two_threads, monkeypatch):
    seen = []
    _spy(monkeypatch, recov_module, "_worst_folds", seen)
    x, y = _mixture()
    recov_scores(x, y, n_repeats=3, device="cpu", progress=False)
    assert _ran_with(seen, two_threads, torch_threads=1)
    assert _now() == two_threads


def test_knn_graph_runs_a_small_graph_on_one_thread(two_threads, monkeypatch):
    import workbench.compute.knn as knn_module

    seen = []
    _spy(monkeypatch, knn_module, "_update", seen)
    x, _ = _mixture(n=200)
    knn_module.knn_graph(x, 5, device="cpu", progress=False)
    assert _ran_with(seen, two_threads, torch_threads=1)
    seen.clear()
    x = np.random.default_rng(0).normal(size=(4096, 64)).astype(np.float32)  # 4096² × 64 > 1G
    knn_module.knn_graph(x, 5, device="cpu", progress=False)
    assert _ran_with(seen, two_threads, torch_threads=2)
    assert _now() == two_threads


def test_relation_sums_run_a_small_graph_on_one_thread(two_threads, monkeypatch):
    import workbench.compute.relation as relation_module

    seen = []
    _spy(monkeypatch, relation_module, "_np", seen)
    x, y = _mixture(n=200)
    p = np.eye(3, dtype=np.float32)[y] * 0.8 + 0.2 / 3
    relation_module.relation_sums(x, p, y, device="cpu", progress=False)
    assert _ran_with(seen, two_threads, torch_threads=1)
    assert _now() == two_threads
