"""Label-error detectors behind one interface and a registry.

Every detector returns a per-sample noise score, higher = more likely mislabeled; the few whose
``kind`` is ``"ambiguity"`` (``datamap_variability``), ``"outlier"`` (``knn_outlier``) or
``"duplicate"`` (``near_duplicate``) rank ambiguous, out-of-distribution or duplicated samples
instead, and are kept out of votes across detectors and of default / best-detector picks.
"""

from workbench.analysis.detectors import (  # noqa: F401  (importing a module registers its detectors)
    annotators,
    crowdlab,
    duplicates,
    features,
    multilabel,
    pred_probs,
    recov,
    relation_graph,
    simifeat,
    trajectories,
)
from workbench.analysis.detectors.base import KINDS, Detector, DetectorResult, MissingSignalError
from workbench.analysis.detectors.registry import (
    available_detectors,
    check_detector_names,
    configure_detector,
    detector_attr,
    detector_kind,
    get_detector,
    label_error_detectors,
    list_detectors,
    register,
    run_detectors,
    score_each,
)

__all__ = [
    "KINDS",
    "Detector",
    "DetectorResult",
    "MissingSignalError",
    "available_detectors",
    "check_detector_names",
    "configure_detector",
    "detector_attr",
    "detector_kind",
    "get_detector",
    "label_error_detectors",
    "list_detectors",
    "register",
    "run_detectors",
    "score_each",
]
