"""``wb.available_detectors`` says what each of the newer detectors needs: the signal it lacks,
the sample count, the pair of annotators, the split column, the size limit."""

import numpy as np
import pandas as pd

import workbench as wb
from workbench.analysis.detectors import get_detector
from workbench.core.dataset import Dataset

NEW = ("near_duplicate", "crowdlab", "simifeat", "relation_graph", "relation_graph_outlier")


def _probs(n, k, rng):
    return rng.dirichlet(np.ones(k), n)


def test_labels_only_names_every_missing_signal():
    why = wb.available_detectors(Dataset(np.arange(30) % 3))
    for name in NEW:
        assert why[name].startswith("Needs "), (name, why[name])
        for signal in get_detector(name).requires:
            assert signal in why[name], (name, why[name])


def test_each_reason_names_what_is_missing_once_the_signals_exist():
    rng = np.random.default_rng(0)
    labels = np.arange(6) % 3
    few = Dataset(labels, features=rng.normal(size=(6, 4)), pred_probs=_probs(6, 3, rng))
    why = wb.available_detectors(few)
    for name in ("near_duplicate", "simifeat"):
        assert why[name] == "Needs more samples than k=10 neighbours (found N=6).", why[name]
    for name in ("relation_graph", "relation_graph_outlier"):
        assert why[name] is None
        small = get_detector(name, max_samples=5).missing(few)
        assert small.startswith("Needs at most max_samples=5 samples") and "N=6" in small
    # CROWDLAB: annotators and pred_probs, and a sample two annotators labelled
    one = Dataset(labels, pred_probs=_probs(6, 3, rng), annotators=labels[:, None])
    assert wb.available_detectors(one)["crowdlab"] == (
        "Needs a sample labelled by two or more annotators; none is."
    )
    two = Dataset(labels, pred_probs=_probs(6, 3, rng), annotators=np.stack([labels] * 2, 1))
    assert wb.available_detectors(two)["crowdlab"] is None
    assert (
        "pred_probs"
        in wb.available_detectors(Dataset(labels, annotators=two.annotators))["crowdlab"]
    )


def test_near_duplicate_with_a_split_needs_that_metadata_column():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4))
    ds = Dataset(np.arange(30) % 2, features=x, metadata=pd.DataFrame({"part": ["a", "b"] * 15}))
    assert get_detector("near_duplicate", split="part").missing(ds) is None
    why = get_detector("near_duplicate", split="fold").missing(ds)
    assert why.startswith("Needs a metadata column 'fold'") and "['part']" in why
    bare = Dataset(np.arange(30) % 2, features=x)
    assert "found metadata columns []" in get_detector("near_duplicate", split="fold").missing(bare)
