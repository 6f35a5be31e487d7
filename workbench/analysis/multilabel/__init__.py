"""Multi-label label errors: confident learning per class, label-quality scores, class tables.

N samples, K classes; a sample carries a *set* of classes. ``labels`` are label sets (an N×K 0/1
matrix, or N lists of class indices / names, see :mod:`workbench.core.label_sets`);
``pred_probs`` (N, K) are independent per-class probabilities (K sigmoid outputs, rows need not
sum to 1) and must be out-of-sample (cross-validated).

cleanlab 2.9's ``multilabel_classification`` is the reference: the masks of
:func:`find_label_issues` are cleanlab's for every option, the scores are ``1 - `` cleanlab's
qualities (ours: higher = more likely mislabeled), the tables are cleanlab's.
"""

from workbench.analysis.multilabel.filter import (
    FILTERS,
    confident_joint,
    find_label_issues,
    find_label_issues_per_class,
)
from workbench.analysis.multilabel.rank import (
    METHODS,
    POOLINGS,
    label_noise_scores,
    per_class_noise_scores,
    pool_qualities,
)
from workbench.analysis.multilabel.summary import (
    common_multilabel_issues,
    overall_multilabel_health_score,
    rank_classes_by_multilabel_quality,
)

__all__ = [
    "FILTERS",
    "METHODS",
    "POOLINGS",
    "common_multilabel_issues",
    "confident_joint",
    "find_label_issues",
    "find_label_issues_per_class",
    "label_noise_scores",
    "overall_multilabel_health_score",
    "per_class_noise_scores",
    "pool_qualities",
    "rank_classes_by_multilabel_quality",
]
