"""Per-class issue tables of a multi-label dataset (cleanlab 2.9's ``multilabel_classification.
dataset``): which classes are most often wrongly present or wrongly absent.

N samples, K classes; ``labels`` label sets, ``pred_probs`` (N, K) independent out-of-sample
per-class probabilities. The counts come from the per-class masks of
:func:`workbench.analysis.multilabel.find_label_issues_per_class` (``prune_by_noise_rate``), so
the tables equal cleanlab's ``common_multilabel_issues`` and
``rank_classes_by_multilabel_quality``, row for row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.analysis.multilabel.filter import check_options, per_class_mask
from workbench.analysis.multilabel.statistics import check_inputs
from workbench.core.typing import ArrayLike

__all__ = [
    "common_multilabel_issues",
    "overall_multilabel_health_score",
    "rank_classes_by_multilabel_quality",
]


def _mask(labels, pred_probs, confident_joint):
    """Checked label sets (N, K) and the per-class prune_by_noise_rate mask (N, K)."""
    Y, P = check_inputs(labels, pred_probs)
    _, joint, _ = check_options(
        P.shape[1], "prune_by_noise_rate", 1.0, None, 1, confident_joint, None, None
    )
    return Y, per_class_mask(Y, P, joint=joint)


def _check_names(class_names, k: int):
    if class_names is None:
        return None
    names = list(class_names)
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names but pred_probs has K={k} classes.")
    return names


def common_multilabel_issues(
    labels, pred_probs: ArrayLike, *, class_names: Sequence[str] | None = None,
    confident_joint: ArrayLike | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Per class, how many samples seem to have it wrongly present / wrongly absent.

    Two rows per class: ``In Given Label`` True / ``In Suggested Label`` False (present but
    should not be) and the reverse; ``Num Examples`` flagged that way and ``Issue Probability``
    = that count / N. Rows sorted by ``Issue Probability``, largest first (ties as pandas
    sorts them); ``Class Name`` first when ``class_names`` is given. Equal to cleanlab's
    ``common_multilabel_issues``.
    """
    Y, mask = _mask(labels, pred_probs, confident_joint)
    return _issues_table(Y, mask, _check_names(class_names, Y.shape[1]))


def _issues_table(Y: np.ndarray, mask: np.ndarray, names) -> pd.DataFrame:
    n, k = Y.shape
    present = np.count_nonzero(mask & Y, axis=0)
    absent = np.count_nonzero(mask & ~Y, axis=0)
    table: dict[str, list] = {}
    if names is not None:
        table["Class Name"] = [names[c] for c in range(k) for _ in (0, 1)]
    table["Class Index"] = [c for c in range(k) for _ in (0, 1)]
    table["In Given Label"] = [True, False] * k
    table["In Suggested Label"] = [False, True] * k
    counts = np.stack([present, absent], axis=1).reshape(-1).astype(np.int64)
    table["Num Examples"] = counts.tolist()
    table["Issue Probability"] = (counts / n).tolist()
    frame = pd.DataFrame.from_dict(table)
    return frame.sort_values(by=["Issue Probability"], ascending=False).reset_index(drop=True)


def rank_classes_by_multilabel_quality(
    labels, pred_probs: ArrayLike, *, class_names: Sequence[str] | None = None,
    joint: ArrayLike | None = None, confident_joint: ArrayLike | None = None,
) -> pd.DataFrame:  # fmt: skip
    """One row per class, worst first: ``Label Issues`` (given but should not be),
    ``Inverse Label Issues`` (missing but should be given), ``Label Noise`` and ``Inverse Label
    Noise`` (those counts / N) and ``Label Quality Score`` = 1 - Label Noise, sorted by it
    ascending. Equal to cleanlab's ``rank_classes_by_multilabel_quality`` (as there, ``joint``
    is the one-vs-rest confident joint the counts use; ``confident_joint`` is accepted for
    cleanlab's signature and not used by the counts).
    """
    Y, mask = _mask(labels, pred_probs, joint)
    issues = _issues_table(Y, mask, _check_names(class_names, Y.shape[1]))
    n = len(Y)
    rows: dict[int, dict] = {}
    for _, row in issues.iterrows():
        entry = rows.setdefault(row["Class Index"], {})
        if class_names is not None:
            entry["Class Name"] = row["Class Name"]
        if row["In Given Label"]:
            entry["Label Issues"] = int(row["Issue Probability"] * n)
            entry["Label Noise"] = row["Issue Probability"]
            entry["Label Quality Score"] = 1 - row["Issue Probability"]
        else:
            entry["Inverse Label Issues"] = int(row["Issue Probability"] * n)
            entry["Inverse Label Noise"] = row["Issue Probability"]
    columns = ["Class Index", "Label Issues", "Inverse Label Issues", "Label Noise",
               "Inverse Label Noise", "Label Quality Score"]  # fmt: skip
    if class_names is not None:
        columns = ["Class Name", *columns]
    table: dict[str, list] = {"Class Index": list(rows)}
    for entry in rows.values():
        for key, value in entry.items():
            table.setdefault(key, []).append(value)
    frame = pd.DataFrame.from_dict(table)
    return frame.sort_values(by="Label Quality Score", ascending=True).reset_index(drop=True)[
        columns
    ]


def overall_multilabel_health_score(
    labels, pred_probs: ArrayLike, *, confident_joint: ArrayLike | None = None
) -> float:
    """Share of samples whose label set is not flagged (1 = no issue found), cleanlab's
    ``overall_multilabel_health_score``."""
    _, mask = _mask(labels, pred_probs, confident_joint)
    return 1.0 - float(np.count_nonzero(mask.any(axis=1))) / len(mask)
