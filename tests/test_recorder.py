"""TrajectoryRecorder: per-sample signals match their definitions, plug into any loop."""

import doctest

import numpy as np
import pytest
import torch

from workbench.compute import TrajectoryRecorder
from workbench.compute import recorder as recorder_module
from workbench.core.dataset import Dataset


@pytest.fixture(params=["deferred", "per_batch"])
def mode(request, monkeypatch):
    """Both storage strategies: raw outputs turned into signals per epoch, or per batch."""
    if request.param == "per_batch":
        monkeypatch.setattr(recorder_module, "_DEFER_ELEMENTS", 0)
    monkeypatch.setattr(recorder_module, "_FLUSH_ROWS", 16)  # several flush chunks
    return request.param


def _reference(logits: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    z = logits.astype(np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    z_y = z[np.arange(len(y)), y]
    other = np.where(np.arange(z.shape[1]) == y[:, None], -np.inf, z).max(1)  # (N, K) mask
    return {
        "loss": lse - z_y,
        "margin": z_y - other,
        "given_prob": np.exp(z_y - lse),
        "predicted": z.argmax(1),
    }


def test_signals_match_definitions_and_land_at_the_right_rows(mode):
    rng = np.random.default_rng(0)
    n, k = 50, 4
    logits = rng.normal(size=(2, n, k)).astype(np.float32) * 3
    y = rng.integers(0, k, n)
    rec = TrajectoryRecorder(n, 2, dtype=np.float32)
    for e in range(2):
        for idx in np.array_split(rng.permutation(n), 3):
            rec.update(idx, torch.from_numpy(logits[e][idx]), y[idx])
        rec.end_epoch()
    traj = rec.trajectories
    assert traj["predicted"].dtype == np.int32 and traj["loss"].dtype == np.float32
    for e in range(2):
        ref = _reference(logits[e], y)
        for kind in ("loss", "margin", "given_prob"):
            np.testing.assert_allclose(traj[kind][:, e], ref[kind], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(traj["predicted"][:, e], ref["predicted"])
    # loss agrees with torch's cross-entropy; margin < 0 exactly when another class wins
    ce = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits[1]), torch.from_numpy(y), reduction="none"
    )
    np.testing.assert_allclose(traj["loss"][:, 1], ce.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(traj["margin"][:, 1] < 0, traj["predicted"][:, 1] != y)


def test_log_probabilities_give_the_same_signals(mode):
    rng = np.random.default_rng(1)
    z = torch.from_numpy(rng.normal(size=(30, 5)).astype(np.float32))
    y = rng.integers(0, 5, 30)
    a, b = TrajectoryRecorder(30, 1, dtype=np.float32), TrajectoryRecorder(30, 1, dtype=np.float32)
    a.update(np.arange(30), z, y)
    b.update(np.arange(30), torch.log_softmax(z, 1), y, normalized=True)
    a.end_epoch()
    b.end_epoch()
    for kind in a.trajectories:
        np.testing.assert_allclose(a.trajectories[kind], b.trajectories[kind], atol=1e-5)


def test_a_sample_seen_twice_in_an_epoch_keeps_its_last_values(mode):
    rng = np.random.default_rng(2)
    n, k = 12, 3
    y = rng.integers(0, k, n)
    first = rng.normal(size=(n, k)).astype(np.float32)
    again = rng.normal(size=(5, k)).astype(np.float32)
    rec = TrajectoryRecorder(n, 1, dtype=np.float64)
    rec.update(np.arange(n), torch.from_numpy(first), y)
    rec.update(np.arange(5), torch.from_numpy(again), y[:5])  # beyond N outputs: buffer grows
    rec.end_epoch()
    expected = first.copy()
    expected[:5] = again
    ref = _reference(expected, y)
    np.testing.assert_allclose(rec.trajectories["loss"][:, 0], ref["loss"], rtol=1e-6)
    np.testing.assert_array_equal(rec.trajectories["predicted"][:, 0], ref["predicted"])


def test_default_storage_is_compact_float16():
    rec = TrajectoryRecorder(10, 3)
    for _ in range(3):
        rec.update(np.arange(10), torch.randn(10, 3), np.zeros(10, dtype=int))
        rec.end_epoch()
    t = rec.trajectories
    assert {k: v.dtype for k, v in t.items()} == {
        "loss": np.float16, "margin": np.float16, "given_prob": np.float16,
        "predicted": np.int32,
    }  # fmt: skip
    # one 8-byte record per sample and epoch: three float16 kinds and an int16 prediction
    assert rec.nbytes == 10 * 3 * 8


@pytest.mark.parametrize(
    ("dtype", "kinds", "k", "size"),
    [
        (np.float16, ("loss", "margin", "given_prob", "predicted"), 3, 8),
        (np.float16, ("loss", "margin", "given_prob", "predicted"), 40_000, 16),  # int32 pred
        (np.float16, ("margin",), 3, 2),
        (np.float32, ("loss", "margin", "given_prob", "predicted"), 3, 16),
        (np.float64, ("loss", "margin", "given_prob", "predicted"), 3, 32),  # no integer view
        (np.float64, ("predicted",), 3, 2),
    ],
)
def test_every_record_layout_round_trips(mode, dtype, kinds, k, size):
    rng = np.random.default_rng(3)
    n = 7
    logits = rng.normal(size=(n, k)).astype(np.float32)
    y = rng.integers(0, k, n)
    y[0] = k - 1
    logits[1, k - 1] = 50.0  # a prediction beyond int16 when K is large
    rec = TrajectoryRecorder(n, 2, kinds=kinds, dtype=dtype)
    rec.update(np.arange(n), torch.from_numpy(logits), y)
    rec.end_epoch()
    rec.update(np.arange(3), torch.from_numpy(logits[:3]), y[:3])  # 4 samples unseen
    rec.end_epoch()
    assert rec.nbytes == n * 2 * size and rec.unseen_per_epoch == [0, 4]
    ref, t = _reference(logits, y), rec.trajectories
    assert set(t) == set(kinds)
    for kind in kinds:
        assert t[kind].shape == (n, 2) and t[kind].flags.c_contiguous
        if kind == "predicted":
            assert t[kind].dtype == np.int32
            np.testing.assert_array_equal(t[kind][:, 0], ref[kind])
            np.testing.assert_array_equal(t[kind][:, 1], np.r_[ref[kind][:3], [-1] * 4])
        else:
            assert t[kind].dtype == dtype
            tol = 1e-2 if dtype == np.float16 else 1e-5
            np.testing.assert_allclose(t[kind][:, 0], ref[kind], rtol=tol, atol=tol)
            np.testing.assert_allclose(t[kind][:3, 1], ref[kind][:3], rtol=tol, atol=tol)
            assert np.isnan(t[kind][3:, 1]).all()
    t[kinds[0]][:] = 0  # fresh arrays: writing to them leaves the recording alone
    assert not np.array_equal(rec.trajectories[kinds[0]], t[kinds[0]])


def test_epochs_without_updates_are_unseen_and_k_must_not_change(mode):
    rec = TrajectoryRecorder(4)
    rec.end_epoch()  # nothing recorded yet
    assert rec.trajectories["loss"].shape == (4, 1) and rec.unseen_per_epoch == [4]
    assert (rec.trajectories["predicted"] == -1).all() and rec.nbytes == 0
    rec.update(np.arange(4), torch.randn(4, 3), [0, 1, 2, 0])
    rec.end_epoch()
    assert rec.unseen_per_epoch == [4, 0] and (rec.trajectories["predicted"][:, 1] >= 0).all()
    assert np.isnan(rec.trajectories["loss"][:, 0]).all()
    with pytest.raises(ValueError, match="from 3 to 4 classes"):
        rec.update(np.arange(4), torch.randn(4, 4), [0, 1, 2, 3])


def test_grows_when_epochs_unknown_and_unseen_samples_are_nan(mode):
    rec = TrajectoryRecorder(6, kinds=("loss", "predicted"))
    for e in range(11):  # beyond the initial capacity
        seen = np.arange(6) if e != 3 else np.arange(4)
        rec.update(seen, torch.full((len(seen), 2), float(e)), np.zeros(len(seen), dtype=int))
        rec.end_epoch()
    t = rec.trajectories
    assert set(t) == {"loss", "predicted"} and t["loss"].shape == (6, 11)
    assert np.isnan(t["loss"][4:, 3]).all() and (t["predicted"][4:, 3] == -1).all()
    assert np.isfinite(t["loss"][:, [0, 1, 2, 4, 10]]).all()
    assert rec.unseen_per_epoch[3] == 2 and sum(rec.unseen_per_epoch) == 2
    with pytest.raises(ValueError, match="not seen in epoch 3"):
        rec.to_dataset_kwargs()


def test_feeds_a_dataset():
    n = 20
    y = np.arange(n) % 3
    rec = TrajectoryRecorder(n, 2)
    for _ in range(2):
        rec.update(torch.arange(n), torch.randn(n, 3), y)
        rec.end_epoch()
    ds = Dataset(y, **rec.to_dataset_kwargs())
    assert ds.has("trajectories.margin") and ds.trajectories["loss"].shape == (n, 2)


def test_ignores_autograd_and_casts_low_precision_logits(mode):
    n = 8
    lin = torch.nn.Linear(3, 2)
    logits = lin(torch.randn(n, 3)).to(torch.bfloat16)
    rec = TrajectoryRecorder(n, 1)
    rec.update(torch.arange(n), logits, torch.zeros(n, dtype=torch.long))
    rec.end_epoch()
    assert np.isfinite(rec.trajectories["loss"]).all()


def test_bad_input_raises_clear_errors(mode):
    with pytest.raises(ValueError, match="n_samples"):
        TrajectoryRecorder(0)
    with pytest.raises(TypeError, match="n_samples"):
        TrajectoryRecorder(2.5)
    with pytest.raises(ValueError, match="n_epochs"):
        TrajectoryRecorder(5, 0)
    with pytest.raises(ValueError, match="kinds"):
        TrajectoryRecorder(5, kinds=("loss", "accuracy"))
    for dtype in (np.int8, np.int16, np.int32, "U3"):
        with pytest.raises(TypeError, match="dtype"):
            TrajectoryRecorder(5, dtype=dtype)
    rec = TrajectoryRecorder(5, 1)
    with pytest.raises(ValueError, match=r"shape \(B, K\)"):
        rec.update([0, 1], torch.randn(2), [0, 0])
    with pytest.raises(ValueError, match="batch size"):
        rec.update([0, 1], torch.randn(3, 2), [0, 0, 1])
    with pytest.raises(ValueError, match="indices must lie in 0..4"):
        rec.update([0, 5], torch.randn(2, 2), [0, 0])
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        rec.update([0, 1], torch.randn(2, 2), [0, 2])
    with pytest.raises(ValueError, match="No epoch"):
        rec.to_dataset_kwargs()
    rec.update([0, 1, 2, 3, 4], torch.randn(5, 2), [0, 0, 1, 1, 0])
    rec.end_epoch()
    with pytest.raises(ValueError, match="already recorded"):
        rec.update([0], torch.randn(1, 2), [0])
    with pytest.raises(ValueError, match="already recorded"):
        rec.end_epoch()


def test_docstring_example_runs():
    torch.manual_seed(0)
    result = doctest.testmod(recorder_module, verbose=False)
    assert result.attempted >= 1 and result.failed == 0


@pytest.mark.parametrize("k", [2, 5, 24, 30])
def test_ties_count_as_another_class_winning_and_the_first_such_class_is_predicted(mode, k):
    rng = np.random.default_rng(4)
    n = 64
    logits = rng.normal(size=(n, k)).astype(np.float32)
    y = rng.integers(0, k, n)
    rows = np.arange(n)
    second, last = (y + 1) % k, (y + k - 1) % k
    logits[rows[:20], second[:20]] = logits[rows[:20], last[:20]] = 9.0  # two others tie on top
    logits[rows[20:30], y[20:30]] = logits[rows[20:30], second[20:30]] = 9.0  # given label ties
    rec = TrajectoryRecorder(n, 1, dtype=np.float32)
    rec.update(rows, torch.from_numpy(logits), y)
    rec.end_epoch()
    t = rec.trajectories
    expected = _reference(logits, y)["predicted"]  # numpy: the first of the tied maxima
    expected[20:30] = second[20:30]  # a tie with the given label: the other class wins
    np.testing.assert_array_equal(t["predicted"][:, 0], expected)
    assert (t["margin"][20:30, 0] == 0).all() and (t["margin"][:20, 0] < 0).all()
