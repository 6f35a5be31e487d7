"""Sharded audits on a Dask LocalCluster: the masks of the in-memory engine for every
``filter_by``, every input format, errors naming the bad shard and row, a worker killed mid-run,
and the Parquet outputs keyed by id."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")
pytest.importorskip("zarr")

from _sharded import in_process_client, synthetic_arrays  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from workbench.analysis.detectors.pred_probs import find_label_issues  # noqa: E402
from workbench.sharded import (  # noqa: E402
    FILTER_BYS,
    ShardedDataset,
    audit_sharded,
    write_npy_shards,
)

SLOW_SHARD = Path(__file__).with_name("_slow_shard.py")


client = pytest.fixture(scope="module", name="client")(in_process_client)


def _masks(ds, client, **kw):
    res = audit_sharded(ds, client=client, collect_masks=True, progress=False, verbose=False, **kw)
    return res, {f: res.mask(f) for f in FILTER_BYS}


def _assert_same(labels, probs, masks, **kw):
    for f in FILTER_BYS:
        prune = f in ("prune_by_noise_rate", "prune_by_class", "both")
        ref = find_label_issues(labels, probs, filter_by=f, **(kw if prune else {}))
        got = masks[f]
        assert ref.sum() > 0 or f == "both"
        np.testing.assert_array_equal(got, ref, err_msg=f"filter_by={f}")


# --- same masks ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "k", "shards", "seed"), [(6000, 7, 5, 0), (3001, 30, 9, 1)])
def test_same_masks_as_in_memory(client, n, k, shards, seed):
    ds = ShardedDataset.synthetic(n, k, n_shards=shards, noise=0.2, seed=seed)
    labels, probs = synthetic_arrays(ds)
    _, masks = _masks(ds, client)
    _assert_same(labels, probs, masks)


def test_same_masks_with_ties_empty_and_tiny_classes(client, tmp_path):
    """Coarse probabilities (many equal margins, so ties straddle the cuts), a class nobody was
    given and one given once, float64, min_examples_per_class and frac_noise."""
    rng = np.random.default_rng(3)
    n, k = 4000, 6
    counts = rng.multinomial(8, np.full(k, 1 / k), size=n).astype(np.float64)
    counts[:, 0] += 2  # class 0 predicted often
    probs = counts / counts.sum(axis=1, keepdims=True)
    labels = np.where(rng.random(n) < 0.6, probs.argmax(axis=1), rng.integers(1, k - 1, n))
    labels[labels == k - 1] = 1  # nobody is given the last class ...
    labels[17] = k - 1  # ... but one sample
    labels[labels == k - 2] = 0  # and nobody class k - 2
    write_npy_shards(tmp_path, labels, probs, n_shards=6)
    ds = ShardedDataset.from_npy(tmp_path)
    for kw in ({}, {"min_examples_per_class": 5, "frac_noise": 0.5},
               {"num_to_remove_per_class": [40, 30, 0, 25, 0, 1]}, {"num_to_remove_per_class": 7}):  # fmt: skip
        _, masks = _masks(ds, client, **kw)
        _assert_same(labels, probs, masks, **kw)


def test_same_as_cleanlab(client):
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    ds = ShardedDataset.synthetic(5000, 8, n_shards=4, noise=0.15, seed=5)
    labels, probs = synthetic_arrays(ds)
    _, masks = _masks(ds, client)
    for f in ("prune_by_noise_rate", "both", "confident_learning"):
        ref = cleanlab_filter.find_label_issues(labels, probs, filter_by=f)
        np.testing.assert_array_equal(masks[f], ref, err_msg=f)


# --- input formats ---------------------------------------------------------------------------------
def test_every_input_format_gives_the_same_masks(client, tmp_path):
    import dask.array as da
    import dask.dataframe as dd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr

    ds = ShardedDataset.synthetic(3000, 5, n_shards=3, noise=0.2, seed=2)
    labels, probs = synthetic_arrays(ds)
    ids = np.array([f"s{i}" for i in range(len(labels))])
    _, ref = _masks(ds, client)

    # Parquet: K columns, and a fixed-size list column
    cols_dir, list_dir = tmp_path / "cols", tmp_path / "list"
    cols_dir.mkdir()
    list_dir.mkdir()
    for i, (a, b) in enumerate([(0, 1000), (1000, 2200), (2200, 3000)]):
        frame = {"id": ids[a:b], "label": labels[a:b]}
        frame |= {f"p{j}": probs[a:b, j] for j in range(5)}
        pq.write_table(pa.table(frame), cols_dir / f"part-{i}.parquet")
        flat = pa.array(probs[a:b].reshape(-1))
        table = pa.table({"id": ids[a:b], "label": labels[a:b],
                          "pred_probs": pa.FixedSizeListArray.from_arrays(flat, 5)})  # fmt: skip
        pq.write_table(table, list_dir / f"part-{i}.parquet")
    # Zarr
    store = tmp_path / "data.zarr"
    root = zarr.open_group(str(store), mode="w")
    root.create_array("pred_probs", data=probs, chunks=(500, 5))
    root.create_array("labels", data=labels, chunks=(500,))

    built = {
        "parquet columns": ShardedDataset.from_parquet(cols_dir),
        "parquet list": ShardedDataset.from_parquet(list_dir),
        "zarr": ShardedDataset.from_zarr(store, rows_per_shard=1000),
        "dask array": ShardedDataset.from_dask(
            da.from_array(labels, chunks=700), da.from_array(probs, chunks=(700, 2))
        ),
        "dask dataframe": ShardedDataset.from_dask_dataframe(
            dd.from_pandas(
                pd.DataFrame({"label": labels} | {f"q{j}": probs[:, j] for j in range(5)}),
                npartitions=4,
            ),
            prob_columns=[f"q{j}" for j in range(5)],
        ),  # fmt: skip
    }
    for what, sharded in built.items():
        assert sharded.n_samples == 3000 and sharded.n_classes == 5, what
        _, masks = _masks(sharded, client)
        for f in FILTER_BYS:
            np.testing.assert_array_equal(masks[f], ref[f], err_msg=f"{what}: {f}")


# --- bad shards ------------------------------------------------------------------------------------
def _npy_folder(tmp_path, n=1200, k=4, shards=4, seed=0):
    ds = ShardedDataset.synthetic(n, k, n_shards=shards, seed=seed)
    labels, probs = synthetic_arrays(ds)
    write_npy_shards(tmp_path, labels, probs, n_shards=shards)
    return labels, probs


def test_bad_rows_name_the_shard_and_row(client, tmp_path):
    _npy_folder(tmp_path)
    probs = np.load(tmp_path / "pred_probs-00002.npy")
    probs[7, 1] = np.nan
    np.save(tmp_path / "pred_probs-00002.npy", probs)
    ds = ShardedDataset.from_npy(tmp_path)
    with pytest.raises(ValueError, match=r"shard '00002' row 7: pred_probs is not finite"):
        audit_sharded(ds, client=client, progress=False, verbose=False)

    labels = np.load(tmp_path / "labels-00001.npy")
    labels[11] = 9
    np.save(tmp_path / "labels-00001.npy", labels)
    with pytest.raises(ValueError, match=r"shard '00001' row 11: label 9 is outside 0..3"):
        audit_sharded(ds, client=client, progress=False, verbose=False)


def test_bad_parquet_rows_name_the_shard_row_and_id(client, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    probs = np.full((10, 3), 1 / 3)
    probs[4] = [0.9, 0.9, 0.1]
    for i in range(2):
        pq.write_table(
            pa.table({"id": [f"a{i}-{r}" for r in range(10)], "label": np.zeros(10, int)}
                     | {f"p{j}": probs[:, j] if i == 1 else np.full(10, 1 / 3)
                        for j in range(3)}),
            tmp_path / f"part-{i}.parquet",
        )  # fmt: skip
    ds = ShardedDataset.from_parquet(tmp_path)
    with pytest.raises(
        ValueError, match=r"shard 'part-1' row 4 \(id 'a1-4'\): pred_probs sums to 1.9"
    ):
        audit_sharded(ds, client=client, progress=False, verbose=False)


def test_shape_and_option_errors(client, tmp_path):
    with pytest.raises(ValueError, match="no pred_probs-<part>.npy"):
        ShardedDataset.from_npy(tmp_path)
    _npy_folder(tmp_path)
    np.save(tmp_path / "pred_probs-00003.npy", np.full((300, 5), 0.2))
    ds = ShardedDataset.from_npy(tmp_path)
    with pytest.raises(ValueError, match=r"shard '00003': pred_probs must have shape \(300, 4\)"):
        audit_sharded(ds, client=client, progress=False, verbose=False)
    with pytest.raises(ValueError, match="frac_noise must lie in"):
        audit_sharded(ds, client=client, frac_noise=0)
    with pytest.raises(TypeError, match="ShardedDataset"):
        audit_sharded(np.zeros(3), client=client)


# --- outputs ---------------------------------------------------------------------------------------
def test_outputs_are_parquet_keyed_by_id(client, tmp_path):
    labels, probs = _npy_folder(tmp_path / "in", n=2000, k=5, shards=3, seed=4)
    ids = np.array([f"img-{i:05d}.png" for i in range(2000)])
    for i, (a, b) in enumerate([(0, 666), (666, 1333), (1333, 2000)]):
        np.save(tmp_path / "in" / f"ids-{i:05d}.npy", ids[a:b])
    ds = ShardedDataset.from_npy(tmp_path / "in")
    res = audit_sharded(ds, client=client, out=tmp_path / "out", progress=False, verbose=False)
    parts = sorted((tmp_path / "out" / "scores").glob("part-*.parquet"))
    assert len(parts) == 3 and (tmp_path / "out" / "summary.json").exists()
    frame = res.frame()
    np.testing.assert_array_equal(frame["id"].to_numpy(), ids)
    np.testing.assert_array_equal(frame["label"].to_numpy(), labels)
    ref = find_label_issues(labels, probs)
    np.testing.assert_array_equal(frame["flag_prune_by_noise_rate"].to_numpy(), ref)
    assert res.flagged["prune_by_noise_rate"] == ref.sum()
    flagged = res.flagged_frame()
    assert set(flagged["id"]) == set(ids[ref])
    assert (np.diff(flagged["score"].to_numpy()) <= 0).all()  # most suspicious first


# --- a worker dies mid-run -------------------------------------------------------------------------
def test_a_killed_worker_is_retried_and_the_result_is_unchanged(tmp_path):
    labels, probs = _npy_folder(tmp_path / "in", n=3000, k=5, shards=6, seed=6)
    plain = ShardedDataset.from_npy(tmp_path / "in")
    marker = str(tmp_path / "killed")
    sys.path.insert(0, str(SLOW_SHARD.parent))
    try:
        from _slow_shard import SlowShard
    finally:
        sys.path.remove(str(SLOW_SHARD.parent))
    slow = ShardedDataset([SlowShard(s, marker) for s in plain.inputs], plain.names,
                          plain.lengths, plain.n_classes)  # fmt: skip
    killed = []

    def killer():
        for _ in range(600):
            if os.path.exists(marker) and os.path.getsize(marker):
                pid = int(open(marker).read())
                os.kill(pid, signal.SIGKILL)  # a worker process this test started
                killed.append(pid)
                return
            time.sleep(0.05)

    from workbench.sharded import local_cluster
    from workbench.sharded.cluster import WORKER_MALLOC

    with (
        local_cluster(2, memory_limit="512MiB") as cluster,
        Client(cluster) as c,
    ):
        c.upload_file(str(SLOW_SHARD))  # the test source, importable on the workers
        pids = set(c.run(os.getpid).values())
        thread = threading.Thread(target=killer)
        thread.start()
        res = audit_sharded(slow, client=c, collect_masks=True, progress=False, verbose=False)
        thread.join()
        # The tasks keep workers light: no torch there (workbench.sharded._tasks).
        assert not any(c.run(lambda: "torch" in sys.modules).values())
        # Every worker, the restarted one too, runs with local_cluster's glibc settings.
        for key, value in WORKER_MALLOC.items():
            assert set(c.run(lambda key=key: os.environ.get(key)).values()) == {str(value)}
        assert set(c.run(os.getpid).values()) != pids
    assert killed and killed[0] in pids
    for f in FILTER_BYS:
        np.testing.assert_array_equal(res.mask(f), find_label_issues(labels, probs, filter_by=f))


# --- wb.audit hands a sharded dataset over ---------------------------------------------------------
def test_wb_audit_runs_a_sharded_dataset_on_the_client(client, tmp_path):
    import workbench as wb

    ds = ShardedDataset.synthetic(3000, 6, n_shards=3, seed=8)
    labels, probs = synthetic_arrays(ds)
    res = wb.audit(ds, client=client, out=tmp_path, primary="cl_both", progress=False)
    assert res.primary == "both"
    np.testing.assert_array_equal(
        res.mask("both"), find_label_issues(labels, probs, filter_by="both")
    )
    with pytest.raises(ValueError, match="does not run on a sharded dataset"):
        wb.audit(ds, client=client, primary="knn_disagreement")
    with pytest.raises(ValueError, match="apply to a workbench.sharded.ShardedDataset only"):
        wb.audit(wb.Dataset(labels[:50], pred_probs=probs[:50]), client=client)


# --- the command line ------------------------------------------------------------------------------
def test_cli_audits_a_folder_of_shards_on_a_scheduler(tmp_path, capsys):
    from workbench.cli import main

    labels, probs = _npy_folder(tmp_path / "in", n=2000, k=4, shards=3, seed=9)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster:  # fmt: skip
        code = main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--scheduler",
                     cluster.scheduler_address, "--primary", "cl_prune_by_class"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr()
    assert "dashboard:" in err.err and "flagged by prune_by_class" in err.out
    frame = pd.read_parquet(tmp_path / "out" / "scores")
    ref = find_label_issues(labels, probs, filter_by="prune_by_class")
    np.testing.assert_array_equal(frame["flag_prune_by_class"].to_numpy(), ref)
    # a bad shard: exit status 2, one line naming the shard and row
    bad = np.load(tmp_path / "in" / "labels-00000.npy")
    bad[3] = -1
    np.save(tmp_path / "in" / "labels-00000.npy", bad)
    with LocalCluster(n_workers=1, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster:  # fmt: skip
        code = main([str(tmp_path / "in"), "--out", str(tmp_path / "out2"), "-q",
                     "--scheduler", cluster.scheduler_address])  # fmt: skip
    assert code == 2
    assert "shard '00000' row 3: label -1 is outside 0..3" in capsys.readouterr().err


# --- bounded view and decisions --------------------------------------------------------------------
def test_bounded_view_holds_every_flagged_sample_and_a_stratified_sample(client, tmp_path):
    from workbench.sharded import bounded_view

    ds = ShardedDataset.synthetic(6000, 4, n_shards=3, noise=0.2, seed=10)
    labels, probs = synthetic_arrays(ds)
    res = audit_sharded(ds, client=client, out=tmp_path, progress=False, verbose=False)
    view = bounded_view(res, ds, budget=2000, client=client)
    flagged = np.flatnonzero(find_label_issues(labels, probs))
    pos = view.frame["position"].to_numpy()
    assert set(flagged) <= set(pos)
    assert 1700 < len(pos) < 2300 and view.counts["n_samples"] == 6000
    np.testing.assert_array_equal(view.dataset.pred_probs, probs[pos])
    np.testing.assert_array_equal(view.dataset.labels, labels[pos])
    # weights make the view's class counts estimate the whole dataset's
    per_class = np.bincount(labels[pos], weights=view.frame["weight"], minlength=4)
    np.testing.assert_allclose(per_class, np.bincount(labels, minlength=4), rtol=0.3)
    whole = bounded_view(res, ds, budget=10**6, client=client)  # the budget holds everything
    np.testing.assert_array_equal(np.sort(whole.frame["position"]), np.arange(6000))
    assert (whole.frame["weight"] == 1).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shard_probes_and_shard_above_against_brute_force(dtype):
    """One shard's halves of prune by noise rate, against a brute force over the class: the
    ranked margins of each cell (probes), and every margin at or above a floor with its global
    position, on probabilities with many ties."""
    from workbench.sharded import _tasks
    from workbench.sharded.sources import ShardData

    rng = np.random.default_rng(5)
    n, k, offset = 700, 5, 1000
    counts = rng.multinomial(6, np.full(k, 1 / k), size=n).astype(dtype) + 0.5  # many ties
    probs = (counts / counts.sum(axis=1, keepdims=True)).astype(dtype)
    labels = rng.integers(0, k, n)
    shard = ShardData(None, labels, probs)
    res = _tasks.shard_stats(shard, "s", offset, k)
    cells = np.array([(c, j) for c in range(k) for j in range(k) if j != c])

    def margins(c, j):
        rows = np.flatnonzero(labels == c)
        return probs[rows, j] - probs[rows, c], rows + offset

    size = np.bincount(labels, minlength=k)[cells[:, 0]]
    for deep in (1, 3, 40, 10**6):  # shallow probes use the candidates, deep ones whole classes
        ranks = np.sort(rng.integers(1, np.minimum(size, deep) + 1, (4, len(cells))).T, axis=1)
        got = _tasks.shard_probes(shard, res, cells, ranks, "s", k)
        assert got.dtype == dtype
        for i, (c, j) in enumerate(cells):
            desc = np.sort(margins(c, j)[0])[::-1]
            np.testing.assert_array_equal(got[i], desc[ranks[i] - 1])
    floors = np.array([np.sort(margins(c, j)[0])[len(margins(c, j)[0]) // 2] for c, j in cells])
    floors[0] = -np.inf
    found = _tasks.shard_above(shard, res, cells, floors, "s", k)
    start = np.r_[0, np.cumsum(found["lengths"])]
    for i, (c, j) in enumerate(cells):
        v, rows = margins(c, j)
        got = dict(zip(found["positions"][start[i] : start[i + 1]],
                       found["values"][start[i] : start[i + 1]], strict=True))  # fmt: skip
        assert set(got) == set(rows[v >= floors[i]])
        assert all(got[r] == x for r, x in zip(rows, v, strict=True) if r in got)
    cuts = floors + 0.05
    flagged = _tasks.above_cuts(found, cuts)
    want = np.concatenate([margins(c, j)[1][margins(c, j)[0] >= cuts[i]]
                           for i, (c, j) in enumerate(cells)])  # fmt: skip
    np.testing.assert_array_equal(np.sort(flagged), np.sort(want))


def test_probe_floors_bound_every_cut_from_below():
    """The floor from the probes is at most the cell's cut and keeps at most 60% more values,
    for shards of unequal sizes and a shard holding none of the class."""
    from workbench.sharded.engine import probe_floors, probe_ranks

    rng = np.random.default_rng(0)
    sizes = np.array([[900, 0, 50], [1500, 700, 50], [300, 2000, 50], [2000, 1, 50]])  # (S, C)
    need = np.array([400, 30, 120])
    ranks = probe_ranks(need, sizes.sum(axis=0), sizes)
    values = np.full(ranks.shape, -np.inf)
    columns = [[rng.standard_normal(sizes[s, c]) for c in range(3)] for s in range(4)]
    for s in range(4):
        for c in range(3):
            if sizes[s, c]:
                values[s, c] = np.sort(columns[s][c])[::-1][ranks[s, c] - 1]
    floor = probe_floors(values, ranks, need)
    for c in range(3):
        whole = np.concatenate([columns[s][c] for s in range(4)])
        cut = np.sort(whole)[::-1][need[c] - 1]
        assert floor[c] <= cut
        assert np.count_nonzero(whole >= floor[c]) <= 1.6 * need[c]


def test_write_npy_writes_each_shard_once_and_audits_the_same(client, tmp_path):
    ds = ShardedDataset.synthetic(3000, 5, n_shards=3, noise=0.2, seed=12)
    labels, probs = synthetic_arrays(ds)
    on_disk = ds.write_npy(tmp_path / "data", client=client)
    assert on_disk.n_shards == 3 and list(on_disk.lengths) == list(ds.lengths)
    for s, src in enumerate(on_disk.inputs):
        got = src.read()
        a, b = ds.offsets[s], ds.offsets[s + 1]
        np.testing.assert_array_equal(got.labels, labels[a:b])
        np.testing.assert_array_equal(got.pred_probs, probs[a:b])
        assert got.pred_probs.dtype == np.float32
    _, masks = _masks(on_disk, client)
    _assert_same(labels, probs, masks)


def test_workbench_on_a_bounded_view_counts_the_whole_dataset(client, tmp_path):
    """The header and the detector panel report the whole sharded dataset's samples, flagged
    samples (per rule and per class), not the view's."""
    import html as html_lib

    from workbench.sharded import bounded_view
    from workbench.ui.app import Workbench

    ds = ShardedDataset.synthetic(6000, 4, n_shards=3, noise=0.2, seed=11)
    labels, probs = synthetic_arrays(ds)
    res = audit_sharded(ds, client=client, out=tmp_path, progress=False, verbose=False)
    view = bounded_view(res, ds, budget=1500, client=client)
    n_view = view.dataset.n_samples
    assert n_view < 6000
    wb = Workbench(view, decisions_path=None)
    _ = wb.widget
    assert wb.whole == view.counts
    assert wb.session.dataset is view.dataset
    header = html_lib.unescape(wb.summary.value)
    assert "6,000 samples, 4 classes" in header and f"{n_view:,} shown" in header
    assert wb.header_summary().startswith("6,000 samples, 4 classes")
    # flagged in the whole dataset by the active detector's rule, computed here from the arrays
    rule = wb.session.active.removeprefix("cl_")
    assert rule in FILTER_BYS
    line = wb.selection_html.value
    n_rule = int(find_label_issues(labels, probs, filter_by=rule).sum())
    assert f"{n_rule:,} flagged by <b>{rule}</b> in all 6,000" in line
    assert f"among the {n_view:,} shown" in line
    # the panel: every rule's whole count and the per-class table
    wb.select_tab("Detectors")
    box = wb._boxes["Detectors"].children[0]
    panel_html = box.children[0].value
    for f in FILTER_BYS:
        assert f"{f}: {res.flagged[f]:,}" in panel_html
    whole_flags = find_label_issues(labels, probs)  # the audit's primary rule
    per_class = np.bincount(labels[whole_flags], minlength=4)
    given = np.bincount(labels, minlength=4)
    for c in range(4):
        name = view.dataset.class_names[c]
        row = (
            f"<td>{name}</td><td style='text-align:right'>{given[c]:,}</td>"
            f"<td style='text-align:right'>{per_class[c]:,}</td>"
        )
        assert row in panel_html
    wb.close()


def test_decisions_write_cleaned_shards_through_a_join(client, tmp_path):
    from workbench.sharded import apply_decisions

    labels, _ = _npy_folder(tmp_path / "in", n=900, k=3, shards=3, seed=11)
    ids = np.array([f"x{i}" for i in range(900)])
    for s, (a, b) in enumerate([(0, 300), (300, 600), (600, 900)]):
        np.save(tmp_path / "in" / f"ids-{s:05d}.npy", ids[a:b])
    ds = ShardedDataset.from_npy(tmp_path / "in")
    new = (labels[[5, 650]] + 1) % 3
    dec = pd.DataFrame({"id": ["x3", "x400", "x5", "x650", "nobody"],
                        "action": ["remove", "remove", "relabel", "relabel", "keep"],
                        "label": [-1, -1, new[0], new[1], -1]})  # fmt: skip
    got = apply_decisions(ds, dec, tmp_path / "clean", client=client)
    assert got == {"kept": 898, "removed": 2, "relabelled": 2, "unmatched": 1}
    parts = sorted((tmp_path / "clean").glob("part-*.parquet"))
    assert len(parts) == 3
    clean = pd.read_parquet(tmp_path / "clean")
    assert len(clean) == 898 and not {"x3", "x400"} & set(clean["id"])
    want = labels.copy()
    want[[5, 650]] = new
    keep = np.ones(900, bool)
    keep[[3, 400]] = False
    np.testing.assert_array_equal(clean["label"].to_numpy(), want[keep])
    np.testing.assert_array_equal(clean["id"].to_numpy(), ids[keep])
    with pytest.raises(ValueError, match="keep, remove or relabel"):
        apply_decisions(ds, dec.assign(action="drop"), tmp_path / "x", client=client)


def test_decisions_join_positional_ids_in_their_own_dtype(client, tmp_path):
    from workbench.sharded import apply_decisions

    ds = ShardedDataset.synthetic(600, 3, n_shards=2, seed=13)
    labels, _ = synthetic_arrays(ds)
    dec = pd.DataFrame({"id": [7, 450.0, 10**6], "action": ["remove", "relabel", "remove"],
                        "label": [-1, (labels[450] + 1) % 3, -1]})  # fmt: skip
    got = apply_decisions(ds, dec, tmp_path / "clean", client=client)
    assert got == {"kept": 599, "removed": 1, "relabelled": 1, "unmatched": 1}
    clean = pd.read_parquet(tmp_path / "clean")
    assert clean["id"].dtype == np.int64 and 7 not in set(clean["id"])
    assert clean.loc[clean["id"] == 450, "label"].item() == (labels[450] + 1) % 3


# --- training dynamics per shard -------------------------------------------------------------------
def test_training_dynamics_scores_per_shard_equal_the_detectors(client, tmp_path):
    import workbench as wb
    from workbench.analysis.detectors import run_detectors

    rng = np.random.default_rng(12)
    ds0 = ShardedDataset.synthetic(1500, 4, n_shards=3, seed=12)
    labels, probs = synthetic_arrays(ds0)
    e = 6
    traj = {
        "margin": rng.normal(size=(1500, e)).astype(np.float32),
        "predicted": np.where(rng.random((1500, e)) < 0.7, labels[:, None],
                              rng.integers(0, 4, (1500, e))),
        "given_prob": rng.random((1500, e)).astype(np.float32),
    }  # fmt: skip
    write_npy_shards(tmp_path / "in", labels, probs, trajectories=traj, n_shards=3)
    ds = ShardedDataset.from_npy(tmp_path / "in")
    res, _ = _masks(ds, client)
    names = {"aum": "aum", "forgetting_events": "forgetting_events",
             "first_learned_epoch": "first_learned_epoch",
             "datamap_confidence": "datamap_confidence"}  # fmt: skip
    mem = wb.Dataset(labels, pred_probs=probs, trajectories=traj)
    ref = run_detectors(mem, list(names.values()), progress=False)
    for col, det in names.items():
        np.testing.assert_allclose(res.dynamics[col], ref[det].scores, rtol=0, atol=1e-12)
