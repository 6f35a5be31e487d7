"""2-D projection: PCA equals scikit-learn's, UMAP reuses a kNN graph, maps are cached."""

import os
import sys

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from workbench.compute import pca, project
from workbench.compute import projection as projection_module
from workbench.compute.cache import digest, load_arrays, save_arrays


def _data(n=300, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 5).astype(np.float32)


def test_pca_equals_sklearn_up_to_sign():
    x = _data()
    ours = project(x, method="pca", n_components=3)
    ref = PCA(n_components=3).fit_transform(x.astype(np.float64))
    signs = np.sign((ours * ref).sum(0))
    np.testing.assert_allclose(ours, ref * signs, atol=1e-3 * np.abs(ref).max())
    assert ours.dtype == np.float32 and ours.shape == (300, 3)
    scores, comps, var, mean = pca(x, 3)
    skl = PCA(n_components=3).fit(x.astype(np.float64))
    np.testing.assert_allclose(var, skl.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(np.abs(comps), np.abs(skl.components_), atol=1e-4)
    np.testing.assert_allclose(mean, skl.mean_, rtol=1e-6)


def test_pca_sign_convention_is_deterministic():
    x = _data()
    a, comps, _, _ = pca(x, 2)
    b, _, _, _ = pca(-x, 2)  # mirrored data: same axes after the sign rule, mirrored scores
    np.testing.assert_allclose(a, -b, atol=1e-3)
    pivot = np.abs(comps).argmax(1)
    assert (comps[np.arange(2), pivot] > 0).all()
    np.testing.assert_array_equal(project(x), project(torch.from_numpy(x)))


def test_randomised_pca_path_for_wide_data(monkeypatch):
    monkeypatch.setattr(projection_module, "_MAX_EXACT_DIM", 4)
    x = _data(d=20)
    ours = project(x, method="pca")
    ref = PCA(n_components=2).fit_transform(x.astype(np.float64))
    signs = np.sign((ours * ref).sum(0))
    np.testing.assert_allclose(ours, ref * signs, atol=1e-2 * np.abs(ref).max())
    np.testing.assert_array_equal(ours, project(x, method="pca"))


def test_cache_hit_skips_the_computation(tmp_path, monkeypatch):
    x = _data()
    first = project(x, cache_dir=tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    with np.load(files[0], allow_pickle=False) as f:
        np.testing.assert_array_equal(f["coords"], first)

    def fail(*args, **kw):
        raise AssertionError("recomputed despite a cached map")

    monkeypatch.setattr(projection_module, "_pca", fail)
    np.testing.assert_array_equal(project(x, cache_dir=tmp_path), first)
    with pytest.raises(AssertionError, match="recomputed"):
        project(x, n_components=3, cache_dir=tmp_path)  # other parameters: another key
    x2 = x.copy()
    x2[0, 0] += 1
    with pytest.raises(AssertionError, match="recomputed"):
        project(x2, cache_dir=tmp_path)  # other data: another key


def test_corrupt_cache_file_is_recomputed_and_replaced(tmp_path):
    x = _data()
    first = project(x, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not a zip file")
    np.testing.assert_array_equal(project(x, cache_dir=tmp_path), first)
    assert load_arrays(path) is not None
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def _npz_with_member(path, name, payload):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, payload)


@pytest.mark.parametrize(
    "damage",
    [
        "zip_magic_then_garbage",
        "truncated",
        "member_not_npy",
        "other_member",
        "other_shape",
        "strings",
        "not_finite",
        "bare_npy",
        "empty",
        "folder",
    ],
)
def test_any_unreadable_cache_file_is_a_miss(tmp_path, damage):
    x = _data(n=40)
    first = project(x, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    good = path.read_bytes()
    path.unlink()
    if damage == "zip_magic_then_garbage":
        path.write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "member_not_npy":
        _npz_with_member(path, "coords.npy", b"junk")
    elif damage == "other_member":
        np.savez(path, other=first)
    elif damage == "other_shape":
        np.savez(path, coords=first[:-1])
    elif damage == "strings":
        np.savez(path, coords=first.astype(str))
    elif damage == "not_finite":
        np.savez(path, coords=np.full_like(first, np.nan))
    elif damage == "bare_npy":
        with open(path, "wb") as f:
            np.save(f, first)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.mkdir()
    if damage == "folder":  # a folder in the way stays; the map is returned with a warning
        with pytest.warns(RuntimeWarning, match="Could not cache the map"):
            np.testing.assert_array_equal(project(x, cache_dir=tmp_path), first)
        assert path.is_dir()
        return
    np.testing.assert_array_equal(project(x, cache_dir=tmp_path), first)
    np.testing.assert_array_equal(load_arrays(path)["coords"], first)  # replaced


def test_load_arrays_checks_headers_before_reading(tmp_path):
    path = tmp_path / "a.npz"
    save_arrays(path, coords=np.zeros((3, 2), np.float32))
    assert load_arrays(path, shapes={"coords": (3, 2)})["coords"].shape == (3, 2)
    assert load_arrays(path, shapes={"coords": (4, 2)}) is None
    assert load_arrays(path, shapes={"coords": (3, 2), "more": (1,)}) is None
    _npz_with_member(path, "coords.npy", b"junk")
    assert load_arrays(path) is None and load_arrays(path, shapes={"coords": (3, 2)}) is None


def test_cache_writes_atomically(tmp_path, monkeypatch):
    target = tmp_path / "a.npz"
    save_arrays(target, coords=np.zeros((3, 2), np.float32))

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        save_arrays(target, coords=np.ones((3, 2), np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # old file intact, no temp left
    np.testing.assert_array_equal(load_arrays(target)["coords"], np.zeros((3, 2)))


def test_digest_depends_on_values_dtype_shape_and_params():
    a = np.arange(6, dtype=np.float32)
    assert digest(a, p=1) == digest(a.copy(), p=1)
    assert digest(a, p=1) != digest(a, p=2)
    assert digest(a) != digest(a.astype(np.float64))
    assert digest(a) != digest(a.reshape(2, 3))
    assert digest(a[::2]) == digest(np.ascontiguousarray(a[::2]))


def test_bad_input_raises_clear_errors():
    x = _data(n=20, d=3)
    with pytest.raises(ValueError, match="method must be one of"):
        project(x, method="tsne")
    with pytest.raises(ValueError, match="n_components must be in 1..3"):
        project(x, n_components=4)
    with pytest.raises(TypeError, match="n_components must be an int"):
        project(x, n_components=2.0)
    with pytest.raises(ValueError, match="2-D"):
        project(x[:, 0])
    bad = x.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="features contains NaN or infinity"):
        project(bad)
    with pytest.raises(ValueError, match="device="):
        project(x, device="quantum")
    with pytest.raises(TypeError, match="knn must be"):
        project(x, method="umap", knn=np.zeros((20, 3)))
    with pytest.raises(ValueError, match="knn indices and distances"):
        project(x, method="umap", knn=(np.zeros((20, 3), int), np.zeros((20, 4))))
    with pytest.raises(ValueError, match="knn indices must be integers in 0..19"):
        project(x, method="umap", knn=(np.full((20, 3), 25), np.zeros((20, 3))))
    with pytest.raises(ValueError, match="metric"):
        project(x, method="umap", metric="manhattan")


@pytest.mark.slow
def test_umap_reuses_the_knn_graph_and_separates_clusters(monkeypatch, tmp_path):
    from workbench.compute.knn import knn_graph

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 6, (3, 10))
    true = np.repeat(np.arange(3), 100)
    x = (centers[true] + rng.normal(size=(300, 10))).astype(np.float32)
    graph = knn_graph(x, 20, metric="euclidean", progress=False)

    emb = project(x, method="umap", knn=graph, seed=0, n_neighbors=15)
    assert emb.shape == (300, 2) and emb.dtype == np.float32
    centroids = np.stack([emb[true == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(emb[true == c] - centroids[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centroids[a] - centroids[b]) for a in range(3) for b in range(a)]
    assert min(gaps) > 3 * spread

    # given graph == graph built here with workbench.compute.knn (same neighbours, same seed)
    np.testing.assert_array_equal(project(x, method="umap", seed=0, n_neighbors=15), emb)
    # a tuple with the sample itself in column 0 is taken as is
    with_self = projection_module._with_self(graph.indices, graph.distances)
    np.testing.assert_array_equal(
        project(x, method="umap", knn=with_self, seed=0, n_neighbors=15), emb
    )
    # without workbench.compute.knn, umap-learn searches itself
    monkeypatch.setitem(sys.modules, "workbench.compute.knn", None)
    own = project(x, method="umap", seed=0, n_neighbors=15, cache_dir=tmp_path)
    assert own.shape == (300, 2) and np.isfinite(own).all()
    assert len(os.listdir(tmp_path)) == 1
    np.testing.assert_array_equal(project(x, method="umap", seed=0, n_neighbors=15,
                                          cache_dir=tmp_path), own)  # fmt: skip
