"""Noise-robust losses, forward correction, small-loss selection and the noisy-label trainer.

The expected values are computed by hand from the papers' formulas on a batch whose softmax is
known exactly: logits (0, ln 3) give p = (0.25, 0.75).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F_

from tests._mixtures import noisy_mixture
from workbench.compute.robust import (
    co_teaching_losses,
    forward_corrected_cross_entropy,
    generalized_cross_entropy,
    keep_schedule,
    small_loss_mask,
    symmetric_cross_entropy,
    train_with_noisy_labels,
)

LOGITS = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])  # p = (0.25, 0.75) per row
TARGETS = torch.tensor([1, 0])  # p_y = 0.75, then 0.25
T = np.array([[0.8, 0.2], [0.3, 0.7]])  # P(given j | true i)


def test_gce_by_hand():
    got = generalized_cross_entropy(LOGITS, TARGETS, q=0.5, reduction="none")
    want = [(1 - 0.75**0.5) / 0.5, (1 - 0.25**0.5) / 0.5]  # 0.267949, 1.0
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    mean = generalized_cross_entropy(LOGITS, TARGETS, q=0.5)
    assert mean.item() == pytest.approx(sum(want) / 2, rel=1e-6)
    total = generalized_cross_entropy(LOGITS, TARGETS, q=0.5, reduction="sum")
    assert total.item() == pytest.approx(sum(want), rel=1e-6)


def test_gce_limits_mae_and_cross_entropy():
    rng = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 7, generator=rng)
    y = torch.randint(0, 7, (50,), generator=rng)
    p_y = torch.softmax(logits, 1)[torch.arange(50), y]
    mae = generalized_cross_entropy(logits, y, q=1.0, reduction="none")
    np.testing.assert_allclose(mae.numpy(), (1 - p_y).numpy(), rtol=1e-5, atol=1e-6)
    nearly_ce = generalized_cross_entropy(logits, y, q=1e-4, reduction="none")
    ce = F_.cross_entropy(logits, y, reduction="none")
    np.testing.assert_allclose(nearly_ce.numpy(), ce.numpy(), rtol=2e-3)


def test_gce_gradient_is_ce_gradient_weighted_by_p_y_to_the_q():
    """The paper's point: dL/dθ = p_y^q · dCE/dθ, so low-p_y (likely wrong) samples weigh less."""
    logits = LOGITS.clone().requires_grad_(True)
    generalized_cross_entropy(logits, TARGETS, q=0.7, reduction="sum").backward()
    ce_logits = LOGITS.clone().requires_grad_(True)
    F_.cross_entropy(ce_logits, TARGETS, reduction="none").backward(
        torch.tensor([0.75**0.7, 0.25**0.7])
    )
    np.testing.assert_allclose(logits.grad.numpy(), ce_logits.grad.numpy(), rtol=1e-5)


def test_sce_by_hand():
    got = symmetric_cross_entropy(LOGITS, TARGETS, alpha=0.1, beta=1.0, reduction="none")
    # alpha * (-ln p_y) + beta * (-A) * (1 - p_y), A = -4
    want = [0.1 * -math.log(0.75) + 4 * 0.25, 0.1 * -math.log(0.25) + 4 * 0.75]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    only_rce = symmetric_cross_entropy(LOGITS, TARGETS, alpha=0, beta=2.0, log_zero=-6.0)
    assert only_rce.item() == pytest.approx((2 * 6 * 0.25 + 2 * 6 * 0.75) / 2, rel=1e-6)


def test_forward_correction_by_hand():
    got = forward_corrected_cross_entropy(LOGITS, TARGETS, T, reduction="none")
    # p @ T = (0.25*0.8 + 0.75*0.3, 0.25*0.2 + 0.75*0.7) = (0.425, 0.575)
    np.testing.assert_allclose(got.numpy(), [-math.log(0.575), -math.log(0.425)], rtol=1e-6)


def test_forward_correction_with_the_identity_is_cross_entropy():
    rng = torch.Generator().manual_seed(1)
    logits = torch.randn(40, 5, generator=rng)
    y = torch.randint(0, 5, (40,), generator=rng)
    got = forward_corrected_cross_entropy(logits, y, torch.eye(5))
    assert got.item() == pytest.approx(F_.cross_entropy(logits, y).item(), rel=1e-5)


def test_small_loss_mask_keeps_the_smallest_share():
    losses = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.3])
    assert small_loss_mask(losses, 0.4).tolist() == [False, True, False, True, False]
    assert small_loss_mask(losses, 0.5).tolist() == [False, True, False, True, True]  # ceil(2.5)
    assert small_loss_mask(losses, 1.0).all()


def test_co_teaching_exchanges_the_small_loss_samples():
    logits_a = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    logits_b = torch.tensor([[0.0, 3.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.0]])
    y = torch.tensor([0, 1, 0, 1])
    ce_a = F_.cross_entropy(logits_a, y, reduction="none")  # small: rows 0, 1
    ce_b = F_.cross_entropy(logits_b, y, reduction="none")  # small: rows 2, 1
    loss_a, loss_b = co_teaching_losses(logits_a, logits_b, y, 0.5)
    assert loss_a.item() == pytest.approx(ce_a[[1, 2]].mean().item())  # A learns from B's pick
    assert loss_b.item() == pytest.approx(ce_b[[0, 1]].mean().item())  # B learns from A's pick


def test_keep_schedule():
    assert keep_schedule(0, 0.4, 10) == 1.0
    assert keep_schedule(5, 0.4, 10) == pytest.approx(0.8)
    assert keep_schedule(10, 0.4, 10) == pytest.approx(0.6)
    assert keep_schedule(50, 0.4, 10) == pytest.approx(0.6)
    assert keep_schedule(0, 0.4, 0) == pytest.approx(0.6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: generalized_cross_entropy(LOGITS, TARGETS, q=0), r"q must lie in \(0, 1\]"),
        (lambda: generalized_cross_entropy(LOGITS[0], TARGETS), r"logits must be a \(B, K\)"),
        (lambda: generalized_cross_entropy(LOGITS, TARGETS[:1]), r"targets must be .* \(2,\)"),
        (lambda: generalized_cross_entropy(LOGITS, torch.tensor([0, 2])), r"0\.\.1 \(K=2\)"),
        (lambda: generalized_cross_entropy(LOGITS, TARGETS, reduction="avg"), "reduction"),
        (lambda: symmetric_cross_entropy(LOGITS, TARGETS, alpha=0, beta=0), "both 0"),
        (lambda: symmetric_cross_entropy(LOGITS, TARGETS, log_zero=1.0), "log_zero"),
        (lambda: forward_corrected_cross_entropy(LOGITS, TARGETS, T.T * 0.5), "rows must sum"),
        (lambda: forward_corrected_cross_entropy(LOGITS, TARGETS, np.eye(3)), "2 classes"),
        (lambda: small_loss_mask(torch.zeros(3), 0.0), r"keep must lie in \(0, 1\]"),
        (lambda: keep_schedule(1, 1.0), r"forget_rate must lie in \[0, 1\)"),
        (lambda: keep_schedule(-1, 0.2), "epoch must be"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_targets_must_be_integers():
    with pytest.raises(TypeError, match="int64 class indices"):
        generalized_cross_entropy(LOGITS, TARGETS.float())


# --- the trainer ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixture():
    x, y, true = noisy_mixture(900, 8, 4, 0.4, seed=3, sep=1.2)
    return x[:600], y[:600], true[:600], x[600:], true[600:]


def test_trainer_records_every_epoch_and_is_reproducible(mixture):
    x, y, _, x_eval, _ = mixture
    a = train_with_noisy_labels(x, y, method="gce", eval_features=x_eval, epochs=5, seed=0)
    b = train_with_noisy_labels(x, y, method="gce", eval_features=x_eval, epochs=5, seed=0)
    assert a.train_predictions.shape == (5, 600) and a.eval_predictions.shape == (5, 300)
    assert a.eval_probs.shape == (300, 4)
    np.testing.assert_allclose(a.eval_probs.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(a.train_predictions, b.train_predictions)
    np.testing.assert_array_equal(a.eval_probs, b.eval_probs)
    assert a.params["q"] == 0.7 and a.n_epochs == 5


def test_robust_methods_fit_fewer_wrong_labels_than_cross_entropy(mixture):
    """40 % symmetric noise, trained long: CE memorises wrong labels, the others resist."""
    x, y, true, x_eval, true_eval = mixture
    wrong = y != true
    fitted, accuracy = {}, {}
    for method in ("ce", "gce", "sce", "coteaching"):
        r = train_with_noisy_labels(
            x, y, method=method, eval_features=x_eval, epochs=150, hidden=256, lr=3e-3,
            forget_rate=0.4, seed=0,
        )  # fmt: skip
        fitted[method] = (r.train_predictions[-1, wrong] == y[wrong]).mean()
        accuracy[method] = r.eval_accuracy(true_eval)[-1]
    for method in ("gce", "sce", "coteaching"):
        assert fitted[method] < fitted["ce"] - 0.05, fitted
        assert accuracy[method] > accuracy["ce"], accuracy


def test_forward_correction_with_the_true_matrix_beats_cross_entropy_under_pair_flips():
    rng = np.random.default_rng(5)
    x, _, true = noisy_mixture(900, 8, 4, 0.0, seed=5, sep=1.5)
    t = np.eye(4) * 0.6 + np.roll(np.eye(4), 1, axis=1) * 0.4  # i -> i+1 with 0.4
    y = np.array([rng.choice(4, p=t[c]) for c in true])
    kw = dict(eval_features=x[600:], epochs=150, hidden=256, lr=3e-3, seed=0)
    ce = train_with_noisy_labels(x[:600], y[:600], method="ce", **kw)
    fwd = train_with_noisy_labels(x[:600], y[:600], method="forward", transition=t, **kw)
    assert fwd.eval_accuracy(true[600:])[-1] > ce.eval_accuracy(true[600:])[-1] + 0.05


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "mae"}, "method must be one of"),
        ({"method": "forward"}, "needs transition"),
        ({"transition": np.eye(4)}, 'only used by method="forward"'),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"eval_features": np.zeros((3, 2))}, r"eval_features must have shape \(M, 8\)"),
        ({"method": "coteaching", "forget_rate": 1.5}, "forget_rate"),
    ],
)
def test_trainer_bad_input(mixture, kwargs, match):
    x, y, *_ = mixture
    with pytest.raises((ValueError, TypeError), match=match):
        train_with_noisy_labels(x, y, **kwargs)
