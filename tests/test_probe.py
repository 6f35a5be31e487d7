"""Cross-validated probes: out-of-fold probabilities, recorded dynamics, reproducibility."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from _mixtures import noisy_mixture
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import PredefinedSplit, cross_val_predict

from workbench.compute import TrajectoryRecorder, cross_val_probs, stratified_folds
from workbench.compute import probe as probe_module
from workbench.compute import recorder as recorder_module
from workbench.core.dataset import Dataset


def _mixture(n=600, d=6, k=3, noise=0.2, seed=0, sep=2.0):
    return noisy_mixture(n, d, k, noise, seed, sep)


def test_shapes_types_and_dataset_handoff():
    x, y, _ = _mixture()
    res = cross_val_probs(x, y, epochs=5, seed=0, progress=False)
    n, k = len(y), 3
    assert res.pred_probs.shape == (n, k) and res.pred_probs.dtype == np.float32
    np.testing.assert_allclose(res.pred_probs.sum(1), 1, atol=1e-5)
    assert set(res.trajectories) == {"loss", "margin", "given_prob", "predicted"}
    assert all(v.shape == (n, 5) for v in res.trajectories.values())
    assert res.fold_of.shape == (n,) and set(np.unique(res.fold_of)) == set(range(5))
    assert res.device == "cpu" and res.seed == 0 and len(res.timings["epochs"]) == 5
    ds = Dataset(y, features=x, **res.to_dataset_kwargs())
    assert ds.has("pred_probs") and ds.has("trajectories.loss")
    assert "linear" in repr(res)


def test_out_of_fold_probs_never_come_from_a_model_that_saw_the_sample():
    # Each "planted" sample carries its own private feature (non-zero for it alone) and a
    # label contradicting its cluster: a model that trains on it memorises it through that
    # feature; the model that never saw it can only go by the cluster.
    rng = np.random.default_rng(1)
    n, n_planted = 400, 10
    true = np.arange(n) % 2
    x = np.zeros((n, 2 + n_planted), np.float32)
    x[:, :2] = np.where(true[:, None] == 1, 1.5, -1.5) + rng.normal(size=(n, 2))
    planted = rng.choice(n, n_planted, replace=False)
    x[planted, 2 + np.arange(n_planted)] = 1.0
    y = true.copy()
    y[planted] = 1 - true[planted]
    res = cross_val_probs(x, y, epochs=60, lr=0.05, batch_size=64, weight_decay=0.0,
                          seed=3, progress=False)  # fmt: skip
    oof_given = res.pred_probs[planted, y[planted]]
    trained_given = res.trajectories["given_prob"][planted, -1].astype(np.float32)
    assert (oof_given < 0.2).all(), oof_given
    assert (trained_given > 0.7).all(), trained_given
    assert (res.record_model != res.fold_of).all()


def test_same_seed_gives_identical_results_and_another_seed_differs():
    x, y, _ = _mixture(n=300)
    kw = dict(model="mlp", epochs=3, hidden=16, progress=False)
    a = cross_val_probs(x, y, seed=7, **kw)
    b = cross_val_probs(x, y, seed=7, **kw)
    c = cross_val_probs(x, y, seed=8, **kw)
    np.testing.assert_array_equal(a.pred_probs, b.pred_probs)
    np.testing.assert_array_equal(a.fold_of, b.fold_of)
    for kind in a.trajectories:
        np.testing.assert_array_equal(a.trajectories[kind], b.trajectories[kind])
    assert not np.array_equal(a.pred_probs, c.pred_probs)
    g1 = cross_val_probs(x, y, seed=np.random.default_rng(5), epochs=2, progress=False)
    g2 = cross_val_probs(x, y, seed=np.random.default_rng(5), epochs=2, progress=False)
    np.testing.assert_array_equal(g1.pred_probs, g2.pred_probs)
    assert g1.seed is None


def test_recorded_early_loss_separates_injected_noise():
    x, y, true = _mixture(n=2000, d=10, k=4, noise=0.25, seed=2, sep=1.5)
    res = cross_val_probs(x, y, epochs=6, seed=0, progress=False)
    noisy = y != true
    early = res.trajectories["loss"][:, :3].astype(np.float32).mean(1)
    assert roc_auc_score(noisy, early) > 0.85
    aum = res.trajectories["margin"].astype(np.float32).mean(1)
    assert roc_auc_score(noisy, -aum) > 0.85
    # out-of-fold self-confidence separates them too
    assert roc_auc_score(noisy, -res.pred_probs[np.arange(len(y)), y]) > 0.85


def test_hand_written_loop_with_recorder_matches_builtin_trainer():
    x, y, _ = _mixture(n=250, d=4)
    seed, folds, epochs, bs, lr, wd = 11, 5, 3, 64, 0.02, 1e-4
    res = cross_val_probs(x, y, n_folds=folds, epochs=epochs, batch_size=bs, lr=lr,
                          weight_decay=wd, seed=seed, progress=False)  # fmt: skip

    # The same training written by hand: a user's loop plus the recorder's two lines.
    rng = np.random.default_rng(seed)
    fold_of = stratified_folds(y, folds, seed=rng)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    mask = torch.from_numpy(fold_of)[:, None] != torch.arange(folds)
    net = probe_module.build_model("linear", xt, mask, 3, generator=gen)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd, fused=True)
    rec_model = torch.from_numpy((fold_of + 1) % folds)
    rec = TrajectoryRecorder(len(y), epochs)
    steps, step = epochs * math.ceil(len(y) / bs), 0
    for _ in range(epochs):
        for idx in torch.as_tensor(rng.permutation(len(y))).split(bs):
            opt.param_groups[0]["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            step += 1
            logits = net(xt[idx])  # (B, folds, K)
            ce = torch.nn.functional.cross_entropy(
                logits.permute(0, 2, 1), yt[idx, None].expand(-1, folds), reduction="none"
            )
            w = mask[idx].float()
            loss = ((ce * w).sum(0) / w.sum(0)).sum()
            rec.update(idx, logits[torch.arange(len(idx)), rec_model[idx]], yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        rec.end_epoch()

    np.testing.assert_array_equal(fold_of, res.fold_of)
    for kind, arr in rec.trajectories.items():
        np.testing.assert_allclose(
            arr.astype(np.float32), res.trajectories[kind].astype(np.float32), atol=2e-3
        )


def test_every_recorder_strategy_records_the_same_trajectories(monkeypatch):
    """Per epoch in one chunk, per epoch in one chunk per batch (plus the short last batch),
    and per batch (large N×K): the built-in trainer's recordings are identical."""
    x, y, _ = _mixture(n=250, d=4)
    kwargs = dict(epochs=3, batch_size=64, seed=5, progress=False)
    runs = [cross_val_probs(x, y, **kwargs).trajectories]
    monkeypatch.setattr(recorder_module, "_FLUSH_ROWS", 16)  # rounded up to one batch
    runs.append(cross_val_probs(x, y, **kwargs).trajectories)
    monkeypatch.setattr(recorder_module, "_DEFER_ELEMENTS", 0)
    runs.append(cross_val_probs(x, y, **kwargs).trajectories)
    for other in runs[1:]:
        for kind, values in runs[0].items():
            np.testing.assert_array_equal(other[kind], values, err_msg=kind)


def test_linear_probe_agrees_with_sklearn_logistic_regression_on_the_same_folds():
    x, y, true = _mixture(n=1500, d=8, k=4, noise=0.1, seed=4, sep=1.0)
    res = cross_val_probs(x, y, epochs=30, seed=0, weight_decay=0.0, progress=False)
    ref = cross_val_predict(
        LogisticRegression(C=1e4, max_iter=2000), (x - x.mean(0)) / x.std(0), y,
        cv=PredefinedSplit(res.fold_of), method="predict_proba",
    )  # fmt: skip
    assert np.abs(res.pred_probs - ref).mean() < 0.02
    assert (res.pred_probs.argmax(1) == ref.argmax(1)).mean() > 0.97
    acc, acc_ref = (res.pred_probs.argmax(1) == true).mean(), (ref.argmax(1) == true).mean()
    assert acc >= acc_ref - 0.01


def test_mlp_learns_what_a_linear_probe_cannot():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (800, 2)).astype(np.float32)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(int)  # XOR
    lin = cross_val_probs(x, y, epochs=10, progress=False)
    mlp = cross_val_probs(x, y, model="mlp", epochs=40, hidden=32, lr=0.02, progress=False)
    assert (lin.pred_probs.argmax(1) == y).mean() < 0.7
    assert (mlp.pred_probs.argmax(1) == y).mean() > 0.9


@pytest.mark.slow
def test_cnn_on_digits_images():
    from sklearn.datasets import load_digits

    digits = load_digits()
    res = cross_val_probs(digits.images, digits.target, model="cnn", seed=0, progress=False)
    assert res.pred_probs.shape == (1797, 10)
    assert (res.pred_probs.argmax(1) == digits.target).mean() > 0.93
    assert res.trajectories["loss"].shape == (1797, res.epochs)
    flat = cross_val_probs(digits.data, digits.target, model="cnn", epochs=1, progress=False)
    assert flat.pred_probs.shape == (1797, 10)


def test_accepts_torch_pandas_and_string_labels():
    x, y, _ = _mixture(n=200)
    names = np.array(["cat", "dog", "emu"])[y]
    a = cross_val_probs(torch.from_numpy(x), pd.Series(names), epochs=2, progress=False)
    b = cross_val_probs(pd.DataFrame(x), y, epochs=2, progress=False)
    np.testing.assert_allclose(a.pred_probs, b.pred_probs, atol=1e-6)


def test_stratified_folds_are_balanced_per_class():
    y = np.repeat([0, 1, 2], [50, 23, 7])
    f = stratified_folds(y, 5, seed=0)
    for c in range(3):
        counts = np.bincount(f[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    sizes = np.bincount(f)
    assert sizes.max() - sizes.min() <= 1
    with pytest.raises(ValueError, match="smallest class"):
        stratified_folds(y, 8)


def test_keyboard_interrupt_propagates(monkeypatch):
    x, y, _ = _mixture(n=100)

    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(TrajectoryRecorder, "end_epoch", interrupt)
    with pytest.raises(KeyboardInterrupt):
        cross_val_probs(x, y, epochs=3, progress=False)


def test_bad_input_raises_clear_errors():
    x, y, _ = _mixture(n=100)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="features contains NaN"):
        cross_val_probs(bad, y)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        cross_val_probs(x, y, epochs=0)
    with pytest.raises(ValueError, match="Inconsistent numbers of samples"):
        cross_val_probs(x, y[:-1])
    with pytest.raises(ValueError, match="device="):
        cross_val_probs(x, y, device="tpu")
    with pytest.raises(ValueError, match="device="):
        cross_val_probs(x, y, device="cuda:7" if torch.cuda.is_available() else "cuda")
    with pytest.raises(ValueError, match="at least 2 classes"):
        cross_val_probs(x, np.zeros(100, dtype=int))
    with pytest.raises(ValueError, match="smallest class"):
        cross_val_probs(x, np.r_[np.zeros(97, int), np.ones(3, int)], n_folds=5)
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        cross_val_probs(x, y, n_folds=1)
    with pytest.raises(ValueError, match="model must be one of"):
        cross_val_probs(x, y, model="forest")
    with pytest.raises(ValueError, match="square width"):
        cross_val_probs(x, y, model="cnn")
    with pytest.raises(ValueError, match="2-D"):
        cross_val_probs(x[:, :, None], y)
    with pytest.raises(ValueError, match="lr must be"):
        cross_val_probs(x, y, lr=-1.0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        cross_val_probs(x, y, batch_size=1.5)
    with pytest.raises(TypeError, match="features must be real"):
        cross_val_probs(x.astype(bool), y)


def test_docstring_examples_run():
    import doctest

    from workbench.compute import projection

    for module in (probe_module, projection):
        result = doctest.testmod(module, verbose=False)
        assert result.attempted >= 1 and result.failed == 0, module.__name__
