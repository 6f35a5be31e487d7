"""Device choice: cuda > mps > cpu, overridable, with clear errors for devices that are absent."""

import numpy as np
import pytest
import torch

from workbench.compute import (
    autocast_dtype,
    cross_val_probs,
    float64_device,
    get_device,
    resolve_device,
    set_device,
)
from workbench.compute import device as device_module


@pytest.fixture(autouse=True)
def _restore_default():
    yield
    set_device(None)


def test_automatic_choice_prefers_accelerators(monkeypatch):
    monkeypatch.delenv("WORKBENCH_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None:
        mps = getattr(torch.backends, "mps", None)
        expected = "mps" if mps is not None and mps.is_available() else "cpu"
    assert resolve_device(None).type == expected == get_device().type
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_module._best_available().type in ("mps", "cpu")


def test_bad_and_absent_devices_raise_value_errors(monkeypatch):
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu0")
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("cuda:-3")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="does not exist: 1 CUDA device"):
        resolve_device("cuda:3")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")


def test_environment_variable_overrides_the_automatic_choice(monkeypatch):
    monkeypatch.setenv("WORKBENCH_DEVICE", "cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setenv("WORKBENCH_DEVICE", "tpu")
    with pytest.raises(ValueError, match="tpu"):
        resolve_device(None)


def test_set_device_wins_over_environment_and_can_be_undone(monkeypatch):
    monkeypatch.setenv("WORKBENCH_DEVICE", "nonsense")
    assert set_device("cpu") == torch.device("cpu")
    assert get_device() == torch.device("cpu")
    assert resolve_device(torch.device("cpu")).type == "cpu"
    with pytest.raises(ValueError):
        set_device("cuda:99" if torch.cuda.is_available() else "cuda")
    assert get_device() == torch.device("cpu")  # a failed set keeps the old default
    assert set_device(None) is None
    monkeypatch.setenv("WORKBENCH_DEVICE", "cpu")
    assert get_device().type == "cpu"


def test_every_result_reports_its_device():
    set_device("cpu")
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = rng.normal(size=(60, 3)) + y[:, None]
    assert cross_val_probs(x, y, epochs=1, progress=False).device == "cpu"
    from workbench.compute import recov_scores

    assert recov_scores(x, y, n_repeats=2, progress=False).device == "cpu"


def test_mixed_precision_only_on_gpu():
    assert autocast_dtype(torch.device("cpu")) is None
    if torch.cuda.is_available():
        assert autocast_dtype(torch.device("cuda")) in (torch.bfloat16, torch.float16)


def test_float64_work_leaves_mps_for_the_cpu_and_stays_elsewhere():
    # MPS has no float64: the sums, normal equations and eigh that need it run on the CPU
    assert float64_device(torch.device("mps")) == torch.device("cpu")
    for name in ("cpu", "cuda", "cuda:1"):
        assert float64_device(torch.device(name)) == torch.device(name)
