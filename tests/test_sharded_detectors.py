"""The detectors beyond confident learning on shards (a Dask LocalCluster, small shards): majority
vote and Dawid-Skene, the kNN detectors by exact blockwise search, the ``low_*`` rules, and the
sharded audit that runs every detector its inputs allow; each against the in-memory detector on
the same data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("distributed")

from _sharded import in_process_client, synthetic_arrays  # noqa: E402

from workbench.analysis.detectors import get_detector  # noqa: E402
from workbench.core.dataset import Dataset  # noqa: E402
from workbench.sharded import ShardedDataset, write_npy_shards  # noqa: E402
from workbench.sharded.annotators import annotator_detectors_sharded  # noqa: E402
from workbench.sharded.extras import with_arrays  # noqa: E402

client = pytest.fixture(scope="module", name="client")(in_process_client)


def _annotations(true, k, m, seed, *, accuracy=(0.9, 0.7, 0.55, 0.8, 0.6), missing=0.4):
    """(N, M) annotations: annotator j right with probability accuracy[j], else a uniform other
    class; each annotation missing with probability ``missing``; the first 7 rows unlabelled."""
    rng = np.random.default_rng(seed)
    n = len(true)
    acc = np.resize(np.asarray(accuracy), m)
    right = rng.random((n, m)) < acc
    codes = np.where(right, true[:, None], (true[:, None] + rng.integers(1, k, (n, m))) % k)
    codes[rng.random((n, m)) < missing] = -1
    codes[:7] = -1
    return codes


def _in_memory(name, labels, k, **data):
    ds = Dataset(labels, class_names=[f"c{i}" for i in range(k)], **data)
    return get_detector(name).score(ds, progress=False)


# --- annotators ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "k", "m", "shards", "seed"), [(3000, 4, 5, 4, 0), (1201, 3, 2, 7, 1)]
)
def test_annotator_detectors_equal_in_memory(client, n, k, m, shards, seed):
    ds = ShardedDataset.synthetic(n, k, n_shards=shards, noise=0.2, seed=seed)
    labels, probs = synthetic_arrays(ds)
    codes = _annotations(labels, k, m, seed)
    got = annotator_detectors_sharded(with_arrays(ds, annotators=codes), client=client)

    ref = _in_memory("annotator_agreement", labels, k, annotators=codes)
    res = got["annotator_agreement"]
    np.testing.assert_array_equal(res.scores, ref.scores)
    np.testing.assert_array_equal(res.flags, ref.flags)
    np.testing.assert_array_equal(res.suggested_labels, ref.suggested_labels)
    assert res.n_flagged == ref.flags.sum() > 0

    ref = _in_memory("dawid_skene", labels, k, annotators=codes)
    res = got["dawid_skene"]
    np.testing.assert_allclose(res.scores, ref.scores, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(res.flags, ref.flags)
    np.testing.assert_array_equal(res.suggested_labels, ref.suggested_labels)
    assert res.details["n_iter"] == len(ref.details["log_likelihood"])
    np.testing.assert_allclose(res.details["log_likelihood"], ref.details["log_likelihood"],
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(res.details["confusion"], ref.details["confusion"], atol=1e-12)
    np.testing.assert_allclose(res.details["annotator_quality"],
                               ref.details["annotator_quality"], atol=1e-12)  # fmt: skip
    assert res.n_flagged == ref.flags.sum() > 0


def test_majority_vote_ties_need_the_whole_dataset(client):
    """Two annotators who often disagree: most votes are ties, broken by whole-dataset class
    frequencies and annotator agreement (sums over shards), so a per-shard vote would differ."""
    rng = np.random.default_rng(4)
    n, k = 900, 3
    labels = rng.integers(0, k, n)
    codes = rng.integers(0, k, (n, 3))
    codes[:, 2] = np.where(rng.random(n) < 0.7, -1, codes[:, 2])
    codes[rng.random(n) < 0.1, 0] = 2  # class 2 more frequent overall
    probs = np.full((n, k), 1 / k)
    ds = ShardedDataset.from_dask(*_dask(labels, probs, chunks=100))
    got = annotator_detectors_sharded(with_arrays(ds, annotators=codes), client=client,
                                      detectors=["annotator_agreement"])["annotator_agreement"]  # fmt: skip
    ref = _in_memory("annotator_agreement", labels, k, annotators=codes)
    np.testing.assert_array_equal(got.suggested_labels, ref.suggested_labels)
    np.testing.assert_array_equal(got.scores, ref.scores)
    np.testing.assert_array_equal(got.flags, ref.flags)


def _dask(labels, probs, chunks):
    import dask.array as da

    return da.from_array(labels, chunks=chunks), da.from_array(probs, chunks=(chunks, -1))


def test_annotators_from_npy_files_and_bad_shards(client, tmp_path):
    ds = ShardedDataset.synthetic(1000, 3, n_shards=4, seed=2)
    labels, probs = synthetic_arrays(ds)
    codes = _annotations(labels, 3, 4, 2)
    parts = write_npy_shards(tmp_path, labels, probs, n_shards=4)
    bounds = np.linspace(0, len(labels), 5).astype(int)
    for part, a, b in zip(parts, bounds[:-1], bounds[1:], strict=True):
        np.save(tmp_path / f"annotators-{part}.npy", codes[a:b])
    disk = ShardedDataset.from_npy(tmp_path)
    got = annotator_detectors_sharded(disk, client=client)
    ref = _in_memory("dawid_skene", labels, 3, annotators=codes)
    np.testing.assert_array_equal(got["dawid_skene"].flags, ref.flags)

    bad = codes[bounds[2] : bounds[3]].copy()
    bad[5, 1] = 3  # class 3 of K = 3
    np.save(tmp_path / f"annotators-{parts[2]}.npy", bad)
    with pytest.raises(ValueError, match=rf"shard '{parts[2]}'.*annotators"):
        annotator_detectors_sharded(ShardedDataset.from_npy(tmp_path), client=client)
    with pytest.raises(ValueError, match="init must be 'majority'"):
        annotator_detectors_sharded(disk, client=client, init="random")
    with pytest.raises(ValueError, match="carry no annotators"):
        annotator_detectors_sharded(ds, client=client)
    with pytest.raises(ValueError, match=r"annotators must have shape \(1000, ·\)"):
        with_arrays(ds, annotators=codes[:10])


# --- kNN -------------------------------------------------------------------------------------------
def _clustered(n, k, d, seed):
    """Features in K clusters; labels the clusters with 15% flipped."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d)) * 3
    x = (centres[true] + rng.normal(size=(n, d))).astype(np.float32)
    labels = np.where(rng.random(n) < 0.15, (true + 1) % k, true)
    return labels, x


def _sharded(labels, k, rows):
    """labels in shards of the given row counts (uniform pred_probs: not read by the kNN)."""
    import dask.array as da

    probs = np.full((len(labels), k), 1 / k)
    return ShardedDataset.from_dask(da.from_array(labels, chunks=(rows,)),
                                    da.from_array(probs, chunks=(rows, -1)))  # fmt: skip


@pytest.mark.parametrize(
    ("d", "metric", "weighting", "rows"),
    [(8, "auto", "uniform", (400, 1, 350, 249)), (2, "euclidean", "distance", (300, 300, 400))],
)
def test_knn_detectors_equal_in_memory(client, d, metric, weighting, rows):
    from workbench.sharded.knn import knn_detectors_sharded

    k = 3
    labels, x = _clustered(sum(rows), k, d, seed=d)
    ds = with_arrays(_sharded(labels, k, rows), features=x)
    got = knn_detectors_sharded(ds, client=client, k=10, metric=metric, weighting=weighting,
                                chunk_size=128)  # fmt: skip
    names = [f"c{i}" for i in range(k)]
    mem = Dataset(labels, class_names=names, features=x)
    ref = get_detector("knn_disagreement", k=10, metric=metric, weighting=weighting).score(
        mem, progress=False
    )
    res = got["knn_disagreement"]
    np.testing.assert_array_equal(res.scores, ref.scores)
    np.testing.assert_array_equal(res.flags, ref.flags)
    np.testing.assert_array_equal(res.suggested_labels, ref.suggested_labels)
    assert res.n_flagged == ref.flags.sum() > 0
    assert res.details["metric"] == ref.details["metric"]
    ref = get_detector("knn_outlier", k=10, metric=metric).score(mem, progress=False)
    res = got["knn_outlier"]
    np.testing.assert_array_equal(res.scores, ref.scores)
    np.testing.assert_array_equal(res.flags, ref.flags)
    assert res.details["threshold"] == ref.details["threshold"]
    assert res.n_flagged == ref.flags.sum() > 0


def test_knn_between_blocks_merge_to_knn_graph():
    """The block step itself: lists of one block against every block, merged by (distance,
    index), are knn_graph's neighbours and distances, bit for bit."""
    from workbench.compute.knn import knn_between, knn_graph

    _, x = _clustered(700, 4, 6, seed=9)
    for metric in ("cosine", "euclidean"):
        g = knn_graph(x, 7, metric=metric, device="cpu", progress=False)
        bounds = [0, 250, 251, 700]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            idx, dist = [], []
            for c, e in zip(bounds[:-1], bounds[1:], strict=True):
                i, dd = knn_between(x[a:b], None if c == a else x[c:e], 7, metric=metric,
                                    device="cpu", chunk_size=64)  # fmt: skip
                idx.append(i + c)
                dist.append(dd)
            idx, dist = np.concatenate(idx, axis=1), np.concatenate(dist, axis=1)
            order = np.lexsort((idx, dist), axis=1)[:, :7]
            np.testing.assert_array_equal(np.take_along_axis(idx, order, 1), g.indices[a:b])
            np.testing.assert_array_equal(
                np.take_along_axis(dist, order, 1).astype(np.float32), g.distances[a:b]
            )


def test_knn_features_from_parquet_and_bad_shards(client, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.sharded.knn import knn_detectors_sharded

    labels, x = _clustered(600, 3, 5, seed=3)
    probs = np.full((600, 3), 1 / 3)
    for i, (a, b) in enumerate([(0, 200), (200, 450), (450, 600)]):
        table = pa.table({
            "label": labels[a:b],
            "pred_probs": pa.FixedSizeListArray.from_arrays(pa.array(probs[a:b].ravel()), 3),
            "features": pa.FixedSizeListArray.from_arrays(pa.array(x[a:b].ravel()), 5),
        })  # fmt: skip
        pq.write_table(table, tmp_path / f"part-{i}.parquet")
    ds = ShardedDataset.from_parquet(tmp_path)
    got = knn_detectors_sharded(ds, client=client, detectors=["knn_disagreement"], k=5)
    mem = Dataset(labels, class_names=["a", "b", "c"], features=x)
    ref = get_detector("knn_disagreement", k=5).score(mem, progress=False)
    np.testing.assert_array_equal(got["knn_disagreement"].scores, ref.scores)

    bad = x.copy()
    bad[460] = 0.0
    with pytest.raises(ValueError, match=r"shard 'block 2' row 10: features are all zero"):
        knn_detectors_sharded(with_arrays(_sharded(labels, 3, 225), features=bad),
                              client=client, metric="cosine")  # fmt: skip
    bad[460] = np.nan
    with pytest.raises(ValueError, match=r"shard 'block 2' row 10: features are not finite"):
        knn_detectors_sharded(with_arrays(_sharded(labels, 3, 225), features=bad), client=client)
    with pytest.raises(ValueError, match="carry no features"):
        knn_detectors_sharded(_sharded(labels, 3, 225), client=client)


# --- the low_* rules and the sharded audit ---------------------------------------------------------
LOW = ("low_self_confidence", "low_normalized_margin")


@pytest.mark.parametrize("coarse", [False, True])
def test_low_rules_same_masks_as_in_memory(client, coarse, tmp_path):
    """Continuous probabilities (the cut is a single value) and coarse ones (many samples tie
    at the cut: numpy's sort over the whole dataset decides, as in memory)."""
    from workbench.analysis.detectors.pred_probs import find_label_issues
    from workbench.sharded import audit_sharded

    if coarse:
        rng = np.random.default_rng(7)
        counts = rng.multinomial(6, np.full(4, 1 / 4), size=2000).astype(np.float64) + 0.0
        probs = counts / counts.sum(axis=1, keepdims=True)
        labels = np.where(rng.random(2000) < 0.5, probs.argmax(axis=1), rng.integers(0, 4, 2000))
        write_npy_shards(tmp_path, labels, probs, n_shards=5)
        ds = ShardedDataset.from_npy(tmp_path)
    else:
        ds = ShardedDataset.synthetic(3000, 6, n_shards=4, noise=0.2, seed=11)
        labels, probs = synthetic_arrays(ds)
    res = audit_sharded(ds, client=client, collect_masks=True, progress=False, verbose=False)
    for rule in LOW:
        ref = find_label_issues(labels, probs, filter_by=rule)
        assert ref.sum() > 0
        np.testing.assert_array_equal(res.mask(rule), ref, err_msg=rule)
        assert res.flagged[rule] == ref.sum()
    if coarse:  # the cut is tied: the whole-array sort was needed
        from workbench.analysis.detectors.pred_probs import noise_scores

        score = noise_scores(labels, probs, method="self_confidence")
        cut = np.sort(score)[::-1][res.flagged["low_self_confidence"] - 1]
        assert np.count_nonzero(score == cut) > np.count_nonzero(
            score[res.mask("low_self_confidence")] == cut
        )


def test_sharded_audit_runs_every_detector_the_inputs_allow(client, tmp_path):
    import workbench as wb

    ds = ShardedDataset.synthetic(1500, 4, n_shards=3, noise=0.2, seed=6)
    labels, probs = synthetic_arrays(ds)
    codes = _annotations(labels, 4, 3, 6)
    _, x = _clustered(1500, 4, 6, seed=6)
    full = with_arrays(ds, annotators=codes, features=x)
    res = wb.audit(full, client=client, out=tmp_path / "audit", progress=False)
    assert set(res.detectors) == {"annotator_agreement", "dawid_skene", "knn_disagreement",
                                  "knn_outlier"} and not res.unavailable  # fmt: skip
    frame = res.frame().sort_values("position")
    mem = Dataset(labels, class_names=[f"c{i}" for i in range(4)], pred_probs=probs,
                  annotators=codes, features=x)  # fmt: skip
    for name in res.detectors:
        ref = get_detector(name).score(mem, progress=False)
        if name == "dawid_skene":
            np.testing.assert_allclose(frame[name], ref.scores, rtol=0, atol=1e-10)
        else:
            np.testing.assert_array_equal(frame[name].to_numpy(), ref.scores, err_msg=name)
        np.testing.assert_array_equal(frame[f"flag_{name}"].to_numpy(), ref.flags, err_msg=name)
        if ref.suggested_labels is not None:
            np.testing.assert_array_equal(frame[f"suggested_{name}"].to_numpy(),
                                          ref.suggested_labels, err_msg=name)  # fmt: skip
        assert res.detectors[name].n_flagged == ref.flags.sum()
    for rule, name in zip(LOW, ("self_confidence", "normalized_margin"), strict=True):
        ref = get_detector(name).score(mem, progress=False)
        np.testing.assert_array_equal(frame[f"flag_{rule}"].to_numpy(), ref.flags, err_msg=rule)
    summary = (tmp_path / "audit" / "summary.json").read_text()
    assert '"dawid_skene"' in summary and '"knn_outlier"' in summary

    # only the detectors asked for; without the inputs they are unavailable, with a reason
    res = wb.audit(ds, client=client, progress=False)
    assert not res.detectors
    assert set(res.unavailable) == {"annotator_agreement", "dawid_skene", "knn_disagreement",
                                    "knn_outlier"}  # fmt: skip
    assert "Needs features" in res.unavailable["knn_outlier"]
    from workbench.sharded import audit_sharded

    res = audit_sharded(full, client=client, detectors=["knn_outlier"], progress=False,
                        verbose=False, collect_masks=True,
                        detector_options={"features": {"k": 5}})  # fmt: skip
    assert set(res.detectors) == {"knn_outlier"} and res.detectors["knn_outlier"].details["k"] == 5
    ref = get_detector("knn_outlier", k=5).score(mem, progress=False)
    np.testing.assert_array_equal(res.detectors["knn_outlier"].flags, ref.flags)
    with pytest.raises(ValueError, match="need annotators"):
        audit_sharded(ds, client=client, detectors=["dawid_skene"], progress=False,
                      verbose=False)  # fmt: skip
    nobody = np.full_like(codes, -1)
    res = audit_sharded(with_arrays(ds, annotators=nobody), client=client, progress=False,
                        verbose=False)  # fmt: skip
    assert "at least one annotation" in res.unavailable["dawid_skene"]


def test_audit_detectors_argument_picks_the_sharded_ones(client):
    import workbench as wb

    ds = ShardedDataset.synthetic(600, 3, n_shards=2, seed=8)
    labels, _ = synthetic_arrays(ds)
    full = with_arrays(ds, annotators=_annotations(labels, 3, 3, 8))
    res = wb.audit(full, client=client, progress=False, detectors="cl_both, annotator_agreement")
    assert set(res.detectors) == {"annotator_agreement"}
    with pytest.raises(ValueError, match="detectors on shards must be among"):
        wb.audit(full, client=client, progress=False, detectors=["hoc_transition"])
