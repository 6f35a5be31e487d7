"""Compute backends: torch code that produces the signals detectors and views need."""

from workbench.compute.device import (
    autocast_dtype,
    float64_device,
    get_device,
    resolve_device,
    set_device,
)
from workbench.compute.probe import MODELS, ProbeResult, cross_val_probs, stratified_folds
from workbench.compute.probe_multilabel import SigmoidProbeResult, cross_val_sigmoid_probs
from workbench.compute.projection import METHODS, pca, project, warm_umap
from workbench.compute.recorder import TrajectoryRecorder
from workbench.compute.recov import RecovResult, recov_scores
from workbench.compute.retrain import RetrainResult, cleaning_sweep, retrain_after_cleaning
from workbench.compute.robust import (
    NoisyTrainingResult,
    co_teaching_losses,
    forward_corrected_cross_entropy,
    generalized_cross_entropy,
    keep_schedule,
    small_loss_mask,
    symmetric_cross_entropy,
    train_with_noisy_labels,
)

__all__ = [
    "METHODS",
    "MODELS",
    "NoisyTrainingResult",
    "ProbeResult",
    "RecovResult",
    "RetrainResult",
    "SigmoidProbeResult",
    "TrajectoryRecorder",
    "autocast_dtype",
    "cleaning_sweep",
    "co_teaching_losses",
    "cross_val_probs",
    "cross_val_sigmoid_probs",
    "float64_device",
    "forward_corrected_cross_entropy",
    "generalized_cross_entropy",
    "get_device",
    "keep_schedule",
    "pca",
    "project",
    "recov_scores",
    "resolve_device",
    "retrain_after_cleaning",
    "set_device",
    "small_loss_mask",
    "stratified_folds",
    "symmetric_cross_entropy",
    "train_with_noisy_labels",
    "warm_umap",
]
