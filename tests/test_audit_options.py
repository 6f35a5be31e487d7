"""Run-wide options reach every detector: ``wb.audit(device=..., seed=...)`` and
``run_detectors(device=..., seed=...)`` configure each detector that computes on a device or
draws random numbers, so the device recorded in the result is where the work ran."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import workbench as wb
from workbench.analysis.detectors import configure_detector, get_detector, list_detectors
from workbench.noise import simulate_annotators

RANDOM_DETECTORS = ("recov", "dawid_skene", "loss_mixture")


def _dataset(seed=0, n=240, k=3):
    """Features, annotators and trajectories: every detector family can run."""
    rng = np.random.default_rng(seed)
    true = np.repeat(np.arange(k), n // k)
    x = rng.normal(size=(n, 6)) + 3 * np.eye(k, 6)[true]
    given = true.copy()
    flip = rng.random(n) < 0.15
    given[flip] = (true[flip] + 1) % k
    ann = simulate_annotators(true, 3, accuracy=0.8, n_classes=k, seed=1).labels
    return wb.Dataset(given, features=x, annotators=ann, true_labels=true)


class _DevicesSeen(TorchFunctionMode):
    """Records the device of every tensor a torch function returns."""

    def __init__(self):
        super().__init__()
        self.devices: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.devices.add(t.device.type)
        return out


@pytest.fixture(scope="module")
def dataset():
    return _dataset()


def test_every_detector_that_takes_a_device_gets_the_audit_device(dataset):
    result = wb.audit(dataset, device="cpu", seed=3, progress=False, projection="pca")
    assert result.device == "cpu"
    takes_device = [
        n
        for n in result.results
        if "device" in inspect.signature(type(get_detector(n)).__init__).parameters
    ]
    assert {"knn_disagreement", "recov", "cl_prune_by_noise_rate"} <= set(takes_device)
    for name in takes_device:
        assert result.results[name].params["device"] == "cpu", name
    for name in RANDOM_DETECTORS:
        assert result.results[name].params["seed"] == 3, name


def test_the_work_runs_on_the_requested_device(dataset):
    """On a machine with an accelerator this is the real check: with device='cpu' no tensor
    is ever created elsewhere (kNN graph, ReCoV, statistics pass, probe, projection)."""
    seen = _DevicesSeen()
    with seen:
        wb.audit(dataset, device="cpu", seed=0, progress=False, projection="pca")
    assert seen.devices == {"cpu"}


def test_same_seed_same_audit_other_seed_differs_where_random(dataset):
    def scores(seed):
        r = wb.audit(dataset, device="cpu", seed=seed, progress=False, projection="pca")
        return {n: res.scores for n, res in r.results.items()}

    a, b, c = scores(5), scores(5), scores(6)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # ReCoV draws its splits from the seed; the probe's folds (hence pred_probs) too.
    assert not np.array_equal(a["recov"], c["recov"])
    assert not np.array_equal(a["self_confidence"], c["self_confidence"])


def test_run_detectors_passes_device_and_seed():
    ds = _dataset(seed=1)
    res = wb.run_detectors(ds, ["recov", "knn_disagreement"], progress=False, device="cpu", seed=9)
    assert res["recov"].params["seed"] == 9 and res["recov"].params["device"] == "cpu"
    assert res["knn_disagreement"].params["device"] == "cpu"
    other = wb.run_detectors(ds, ["recov"], progress=False, seed=10)
    assert not np.array_equal(res["recov"].scores, other["recov"].scores)


def test_configure_detector_gives_only_what_a_detector_takes():
    det = configure_detector("annotator_agreement", device="cpu", seed=4)  # takes neither
    assert "device" not in det.get_params() and "seed" not in det.get_params()
    det = configure_detector("dawid_skene", device="cpu", seed=4)
    assert det.get_params()["seed"] == 4
    assert configure_detector("recov").get_params()["seed"] == 0  # None: the default stays
    with pytest.raises(ValueError, match="Unknown detector"):
        configure_detector("nope")
    assert set(list_detectors()) >= set(RANDOM_DETECTORS)
