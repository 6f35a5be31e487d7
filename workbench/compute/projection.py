"""2-D maps of features: PCA in torch, UMAP through umap-learn, cached on disk.

N samples, D feature dimensions. :func:`project` returns (N, n_components) float32
coordinates for the embedding map. PCA is exact (eigendecomposition of the covariance,
accumulated chunk by chunk) and its signs are fixed the way scikit-learn fixes them, so the
map does not flip between runs. UMAP reuses a k-nearest-neighbour graph when one is given (or
builds one with ``workbench.compute.knn``), and the first UMAP call in a process spends tens of
seconds compiling with numba: call :func:`warm_umap` early, or pass ``cache_dir`` so a reopened
dataset loads its map instead of recomputing it.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import torch

from workbench.compute.cache import digest, load_arrays, save_arrays
from workbench.compute.device import float64_device, resolve_device
from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import as_array, as_float, check_finite, check_rng

__all__ = ["METHODS", "pca", "project", "warm_umap"]

#: Projection methods.
METHODS = ("pca", "umap")

_CHUNK = 65536
#: Above this many features PCA switches from the exact covariance route to randomised SVD.
_MAX_EXACT_DIM = 4096


def project(
    features: ArrayLike,
    *,
    method: str = "pca",
    n_components: int = 2,
    seed: SeedLike = 0,
    device=None,
    knn=None,
    cache_dir: str | os.PathLike | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    progress: bool = False,
) -> np.ndarray:
    """Project features to ``n_components`` dimensions for the map.

    Parameters
    ----------
    features : array-like of shape (N, D)
        Features, embeddings or predicted probabilities (numpy, torch or pandas).
    method : {"pca", "umap"}, default="pca"
    n_components : int, default=2
        At most D (and at most N for PCA).
    seed : int or numpy.random.Generator, default=0
        UMAP's random state (PCA is exact and ignores it).
    device : str or torch.device, optional
        Where PCA runs (default: the session device; the CPU instead of MPS, which has no
        float64). UMAP runs on the CPU (numba); a kNN graph it builds itself uses ``device``.
    knn : KNNGraph or tuple (indices, distances), optional
        Precomputed neighbours for UMAP, each of shape (N, k), nearest first, with or without
        the sample itself in column 0. Default: built with ``workbench.compute.knn`` when that
        module is available, else by umap-learn. ``n_neighbors`` is capped at k + 1.
    cache_dir : str or path, optional
        Folder for cached maps, keyed by a hash of the features and every parameter; a hit
        loads the ``.npz`` instead of recomputing. A file that cannot be read as the map
        expected here (damaged, foreign, other shape, not finite) is a miss: recomputed and
        overwritten. None: no cache.
    n_neighbors, min_dist, metric
        UMAP parameters (``metric`` is "euclidean" or "cosine" when the graph is built here).
    progress : bool, default=False
        Show UMAP's epoch progress bar.

    Returns
    -------
    ndarray of shape (N, n_components), float32

    Raises
    ------
    ValueError, TypeError
        Unknown method, non-2-D or non-finite features, ``n_components`` out of range, a bad
        device or a malformed ``knn``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 5))
    >>> project(x, method="pca").shape
    (100, 2)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, found {method!r}.")
    x = _check_features(features)
    n, d = x.shape
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise TypeError(f"n_components must be an int, found {n_components!r}.")
    limit = min(n, d) if method == "pca" else d
    if not 1 <= n_components <= limit:
        raise ValueError(f"n_components must be in 1..{limit} for {method}, found {n_components}.")
    dev = resolve_device(device)
    if method == "pca":
        params = dict(method="pca", n_components=int(n_components))
        graph = None
    else:
        seed = int(check_rng(seed).integers(2**31 - 1)) if not _is_int(seed) else int(seed)
        graph = None if knn is None else _check_knn(knn, n)
        if metric not in ("euclidean", "cosine") and graph is None:
            raise ValueError(f"metric must be 'euclidean' or 'cosine', found {metric!r}.")
        params = dict(method="umap", n_components=int(n_components), seed=seed,
                      n_neighbors=int(n_neighbors), min_dist=float(min_dist), metric=metric)  # fmt: skip
    path = None
    if cache_dir is not None:
        key_arrays = (x,) if graph is None else (x, *graph)
        path = os.path.join(os.fspath(cache_dir), f"{method}-{digest(*key_arrays, **params)}.npz")
        hit = load_arrays(path, shapes={"coords": (n, n_components)})
        coords = None if hit is None else hit["coords"]
        if coords is not None and coords.dtype.kind == "f" and np.isfinite(coords).all():
            return coords.astype(np.float32, copy=False)
    if method == "pca":
        coords = _pca(x, int(n_components), dev)[0]
    else:
        coords = _umap(
            x, graph, dev, progress, **{k: v for k, v in params.items() if k != "method"}
        )
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    if path is not None:
        try:
            save_arrays(path, coords=coords)
        except OSError as err:  # the cache only saves time: an unwritable entry costs a warning
            warnings.warn(f"Could not cache the map in {path}: {err}", RuntimeWarning, stacklevel=2)
    return coords


# --- PCA -----------------------------------------------------------------------------------
def pca(features: ArrayLike, n_components: int = 2, *, device=None):
    """Principal components, exact, with scikit-learn's sign convention.

    Parameters
    ----------
    features : array-like of shape (N, D)
    n_components : int, default=2

    Returns
    -------
    scores : ndarray of shape (N, n_components), float32
        Centred data projected on the components (what ``sklearn.decomposition.PCA``'s
        ``fit_transform`` returns).
    components : ndarray of shape (n_components, D), float32
        Unit axes; the largest-magnitude entry of each is positive.
    explained_variance : ndarray of shape (n_components,), float64
    mean : ndarray of shape (D,), float64
    """
    x = _check_features(features)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise TypeError(f"n_components must be an int, found {n_components!r}.")
    if not 1 <= n_components <= min(x.shape):
        raise ValueError(f"n_components must be in 1..{min(x.shape)}, found {n_components}.")
    return _pca(x, int(n_components), resolve_device(device))


def _pca(x: np.ndarray, k: int, dev: torch.device):
    dev = float64_device(dev)  # float64 covariance and eigh
    n, d = x.shape
    xt = torch.as_tensor(x, device=dev)
    mean = xt.sum(0, dtype=torch.float64) / n
    mean32 = mean.float()
    if d <= _MAX_EXACT_DIM:
        cov = torch.zeros(d, d, dtype=torch.float64, device=dev)
        for start in range(0, n, _CHUNK):
            xc = xt[start : start + _CHUNK].float() - mean32
            cov += (xc.T @ xc).double()
        cov /= max(n - 1, 1)
        evals, evecs = torch.linalg.eigh(cov)
        order = torch.argsort(evals, descending=True)[:k]
        comps, var = evecs[:, order].T, evals[order].clamp_min(0)
    else:  # randomised SVD, seeded without touching the global generator
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(0)
            _, s, v = torch.svd_lowrank(xt.float(), q=min(k + 10, n, d), niter=6, M=mean32)
        comps, var = v[:, :k].T.double(), s[:k].double() ** 2 / max(n - 1, 1)
    # sign: the largest-magnitude loading of each component is positive (as scikit-learn)
    pivot = comps.abs().argmax(1)
    comps = comps * torch.sign(comps[torch.arange(k, device=dev), pivot])[:, None]
    c32 = comps.float()
    scores = torch.cat([(xt[s : s + _CHUNK].float() - mean32) @ c32.T for s in range(0, n, _CHUNK)])
    return (scores.cpu().numpy(), c32.cpu().numpy(), var.cpu().numpy(), mean.cpu().numpy())


# --- UMAP ----------------------------------------------------------------------------------
def _umap(x, graph, dev, progress, *, n_components, seed, n_neighbors, min_dist, metric):
    import umap

    n = len(x)
    n_neighbors = max(2, min(n_neighbors, n - 1))
    if graph is None:
        graph = _build_knn(x, n_neighbors - 1, metric, dev)
    if graph is not None:
        indices, distances = _with_self(*graph)
        n_neighbors = min(n_neighbors, indices.shape[1])
        precomputed = (indices[:, :n_neighbors], distances[:, :n_neighbors])
    else:
        precomputed = (None, None, None)
    reducer = umap.UMAP(
        n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric,
        random_state=seed, precomputed_knn=precomputed, verbose=False,
        tqdm_kwds={"disable": not progress},
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        warnings.filterwarnings("ignore", message=".*force_all_finite.*")
        return reducer.fit_transform(x)


def _build_knn(x, k, metric, dev):
    """The graph from workbench.compute.knn (self excluded), or None to let umap search."""
    try:
        from workbench.compute.knn import knn_graph
    except ImportError:
        return None
    if metric == "cosine" and not (np.linalg.norm(x, axis=1) > 0).all():
        return None  # a zero vector has no cosine neighbours: leave it to umap
    g = knn_graph(x, k, metric=metric, device=dev, progress=False)
    return g.indices, g.distances


def _with_self(indices: np.ndarray, distances: np.ndarray):
    """umap-learn wants each sample as its own first neighbour (distance 0)."""
    n = len(indices)
    own = np.arange(n)
    if (indices[:, 0] == own).all():
        return indices, distances
    return (
        np.concatenate([own[:, None], indices], axis=1).astype(np.int64),
        np.concatenate([np.zeros((n, 1), distances.dtype), distances], axis=1).astype(np.float32),
    )


def _check_knn(knn, n: int):
    if hasattr(knn, "indices") and hasattr(knn, "distances"):
        indices, distances = knn.indices, knn.distances
    elif isinstance(knn, tuple) and len(knn) in (2, 3):
        indices, distances = knn[0], knn[1]
    else:
        raise TypeError(
            f"knn must be a KNNGraph or a tuple (indices, distances), found {type(knn).__name__}."
        )
    indices = as_array(indices, "knn indices")
    distances = as_float(as_array(distances, "knn distances"), "knn distances")
    if indices.ndim != 2 or indices.shape != distances.shape or indices.shape[0] != n:
        raise ValueError(
            f"knn indices and distances must both have shape (N={n}, k), found "
            f"{indices.shape} and {distances.shape}."
        )
    if indices.dtype.kind not in "iu" or indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"knn indices must be integers in 0..{n - 1}.")
    check_finite(distances, "knn distances")
    return indices.astype(np.int64, copy=False), distances


def warm_umap() -> None:
    """Compile umap-learn's numba code once (tens of seconds), e.g. at notebook start."""
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        project(x, method="umap", n_neighbors=5, seed=0)


# --- helpers -------------------------------------------------------------------------------
def _is_int(seed) -> bool:
    return isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)


def _check_features(features: ArrayLike) -> np.ndarray:
    x = as_array(features, "features")
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D of shape (N, D), found shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.number) or x.dtype.kind in "bc":
        raise TypeError(f"features must be real numbers, found dtype {x.dtype}.")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"features needs at least 2 samples and 1 feature, found {x.shape}.")
    x = np.ascontiguousarray(as_float(x, "features"))
    check_finite(x, "features")
    return x
