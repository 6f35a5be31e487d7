"""workbench-audit on a multi-label CSV column ('a|b' strings): detectors on label sets,
tables per sample, per (sample, class) and per class, metrics with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.cli import main
from workbench.core.label_sets import label_set_strings

NAMES = ["cat", "dog", "tree", "car"]


def _table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    true = x > 0.4
    given = true ^ (rng.random(true.shape) < 0.05)
    probs = 1 / (1 + np.exp(-4 * (x - 0.4)))
    df = pd.DataFrame(
        {"tags": label_set_strings(given, NAMES), "truth": label_set_strings(true, NAMES)}
    )
    for j in range(4):
        df[f"p_{j}"] = probs[:, j]
        df[f"f_{j}"] = x[:, j]
    return df, given, true


def test_multilabel_csv_with_pred_probs(tmp_path, capsys):
    df, given, true = _table()
    src = tmp_path / "labels.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "out"
    code = main([str(src), "--out", str(out), "--task", "multilabel", "--label-column", "tags",
                 "--pred-prob-columns", "p_*", "--true-label-column", "truth",
                 "--class-names", *NAMES])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "multi-label" in capsys.readouterr().out
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert len(scores) == 400 and scores["label"].tolist() == df["tags"].tolist()
    assert "multilabel_confident_learning_suggested" in scores
    flagged = pd.read_csv(out / "flagged.csv", keep_default_na=False)
    assert len(flagged) == scores["multilabel_confident_learning_flagged"].sum() > 0
    assert (np.diff(flagged["score"]) <= 0).all()
    notes = pd.read_csv(out / "annotations.csv")
    assert set(notes["class"]) <= set(NAMES)
    classes = pd.read_csv(out / "classes.csv")
    assert len(classes) == 4
    metrics = pd.read_csv(out / "metrics.csv")
    cl = metrics[metrics.detector == "multilabel_confident_learning"].set_index("level")
    assert set(cl.index) == {"sample", "annotation"}
    known = true.any(axis=1)  # an empty truth cell reads as unknown
    assert cl.loc["sample", "n"] == known.sum()
    assert cl.loc["sample", "n_noisy"] == int((given != true)[known].any(axis=1).sum())
    assert cl.loc["annotation", "n_noisy"] == int((given != true)[known].sum())
    assert cl.loc["sample", "precision"] > 0.5


def test_multilabel_csv_with_features_only(tmp_path, capsys):
    df, _, _ = _table(n=300)
    src = tmp_path / "labels.csv"
    df[["tags", "f_0", "f_1", "f_2", "f_3"]].to_csv(src, index=False)
    out = tmp_path / "out"
    code = main([str(src), "--out", str(out), "--task", "multilabel", "--label-column", "tags",
                 "--feature-columns", "f_*", "-q"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    scores = pd.read_csv(out / "scores.csv")
    assert {"multilabel_confident_learning_score", "multilabel_knn_disagreement_score"} <= set(
        scores
    )
    assert not (out / "metrics.csv").exists()


def test_bad_multilabel_column_is_refused(tmp_path, capsys):
    src = tmp_path / "labels.csv"
    pd.DataFrame({"tags": ["cat|dog", "cow"], "p_0": [0.5, 0.5], "p_1": [0.5, 0.5]}).to_csv(
        src, index=False
    )
    code = main([str(src), "--out", str(tmp_path / "o"), "--task", "multilabel", "--label-column",
                 "tags", "--pred-prob-columns", "p_*", "--class-names", "cat", "dog"])  # fmt: skip
    assert code == 2
    assert "cow" in capsys.readouterr().err
