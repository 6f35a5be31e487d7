"""Exact k-nearest-neighbour graphs on torch, in square tiles, on the CPU or a GPU.

N samples, D feature dimensions, k neighbours per sample.

The similarity matrix is never held whole: it is computed tile by tile (``chunk_size`` ×
``chunk_size``), and every sample keeps a running list of its best ``k + margin`` candidates.
Because the graph is a self-join, each tile of the upper triangle is computed once and used for
both its rows and its columns (half the matrix products of a plain query-by-database loop). After
the first (diagonal) tiles, a sample's current worst candidate is a threshold, and only tile
entries beating it are merged, so most tiles cost one matrix product and two comparisons.

Candidates are finally re-ranked with distances recomputed per pair in float64 from the input,
so the neighbours are exact up to ties (they agree with scikit-learn's brute-force search), the
distances are non-negative and match scikit-learn's conventions (cosine distance =
1 - cosine similarity, euclidean = true L2 distance), and exact ties go to the lower index.
Two limits of float32 products: points whose distances to a sample differ by less than float32
resolution (~1e-7 relative; e.g. nearly parallel vectors for cosine) can trade places before the
re-ranking; and when more than ``k + margin`` points tie at the k-th distance, which of them
are kept is deterministic (same input, device and chunk size) but not always the lowest indices.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse

from workbench.compute.device import resolve_device
from workbench.compute.threads import limit_threads
from workbench.core.typing import ArrayLike
from workbench.core.validation import as_array, check_finite

__all__ = ["KNNGraph", "METRICS", "knn_between", "knn_graph", "knn_graph_from_csr"]

#: Distances ``knn_graph`` computes.
METRICS = ("cosine", "euclidean")

_DEFAULT_CHUNK = {"cpu": 4096, "cuda": 8192, "mps": 8192}
#: Candidates kept beyond k during the search, re-ranked exactly at the end.
_MIN_MARGIN = 5
#: Rows re-ranked at once (each gathers rows × (k + margin) × D float64 values).
_RERANK_ROWS = 1024


@dataclass(frozen=True, eq=False)
class KNNGraph:
    """The k nearest neighbours of every sample, nearest first.

    Attributes
    ----------
    indices : ndarray of shape (N, k), int64
        ``indices[i]`` are the neighbours of sample i, nearest first; equal distances are
        ordered by index. Sample i itself is excluded unless the graph was built with
        ``exclude_self=False``.
    distances : ndarray of shape (N, k), float32
        Matching distances, non-decreasing along each row: ``1 - cosine similarity`` for
        ``metric="cosine"`` (in [0, 2]), the L2 distance for ``metric="euclidean"``.
    metric : str
        ``"cosine"`` or ``"euclidean"``.
    device : str
        The torch device the search ran on (e.g. ``"cpu"``, ``"cuda"``).
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str
    device: str = "cpu"

    def __post_init__(self):
        if self.indices.shape != self.distances.shape or self.indices.ndim != 2:
            raise ValueError(
                "indices and distances must have the same shape (N, k), found "
                f"{self.indices.shape} and {self.distances.shape}."
            )

    @property
    def n_samples(self) -> int:
        return self.indices.shape[0]

    @property
    def n_neighbors(self) -> int:
        return self.indices.shape[1]

    def __repr__(self) -> str:
        return (
            f"KNNGraph(N={self.n_samples}, k={self.n_neighbors}, metric={self.metric!r}, "
            f"device={self.device!r})"
        )

    def truncate(self, n_neighbors: int) -> KNNGraph:
        """The graph of the ``n_neighbors`` nearest neighbours (the first columns)."""
        n_neighbors = _check_k(n_neighbors, self.n_neighbors, "n_neighbors", "the graph's k")
        if n_neighbors == self.n_neighbors:
            return self
        return KNNGraph(
            np.ascontiguousarray(self.indices[:, :n_neighbors]),
            np.ascontiguousarray(self.distances[:, :n_neighbors]),
            self.metric,
            self.device,
        )

    def to_csr(self) -> sparse.csr_matrix:
        """The graph as an N × N sparse distance matrix, the layout cleanlab's Datalab takes.

        Row i stores its k neighbours in order of increasing distance (not sorted by column),
        with explicit zeros kept, so ``graph.data.reshape(N, k)`` gives :attr:`distances`; this is
        what ``cleanlab.Datalab.find_issues(knn_graph=...)`` and scikit-learn's
        ``kneighbors_graph(mode="distance")`` produce. Calling ``sort_indices()`` or
        ``eliminate_zeros()`` on it breaks that layout.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (N, N), float32, k stored entries per row
        """
        n, k = self.indices.shape
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        return sparse.csr_matrix(
            (self.distances.reshape(-1), self.indices.reshape(-1), indptr), shape=(n, n)
        )


def knn_graph(
    features: ArrayLike,
    n_neighbors: int = 10,
    *,
    metric: str = "cosine",
    device: str | torch.device | None = None,
    chunk_size: int | None = None,
    exclude_self: bool = True,
    progress: bool = True,
) -> KNNGraph:
    """Exact k-nearest-neighbour graph of the rows of ``features``.

    Parameters
    ----------
    features : array-like of shape (N, D)
        numpy, torch or pandas; any real dtype. Products run in float32; the final distances are
        recomputed in float64 from the values given.
    n_neighbors : int, default=10
        k, the neighbours per sample: 1 <= k <= N - 1 (k <= N with ``exclude_self=False``).
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` needs every row to have a non-zero norm (a zero vector has no direction).
    device : str or torch.device, optional
        Where to compute; default: the session device (cuda > mps > cpu).
    chunk_size : int, optional
        Side of the square tiles of the similarity matrix computed at once; memory is about
        ``5 * chunk_size**2`` bytes plus ``O(N * k)``. Default 4096 on the CPU, 8192 on a GPU.
    exclude_self : bool, default=True
        Leave each sample out of its own neighbours (as scikit-learn's ``kneighbors()`` with
        no query and cleanlab do).
    progress : bool, default=True
        Show a progress bar over the tiles. Ctrl-C interrupts between tiles.

    Returns
    -------
    KNNGraph
        ``indices`` (N, k) int64 and ``distances`` (N, k) float32, nearest first.

    Raises
    ------
    TypeError
        If ``features`` is not numeric, or an option has the wrong type.
    ValueError
        If ``features`` is not 2-D, has NaN/inf, has a zero row for cosine, if ``n_neighbors``
        is out of range, or ``metric``/``device``/``chunk_size`` is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [1.0, 0.1]])
    >>> g = knn_graph(x, 1, metric="euclidean", device="cpu", progress=False)
    >>> g.indices.ravel().tolist()
    [1, 0, 3, 2]
    """
    x = _check_features(features)
    n = x.shape[0]
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, found {metric!r}.")
    if metric == "cosine":
        _check_nonzero_rows(x)
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise TypeError(f"exclude_self must be True or False, found {exclude_self!r}.")
    n_avail = n - 1 if exclude_self else n
    k = _check_k(n_neighbors, n_avail, "n_neighbors", "N - 1" if exclude_self else "N")
    if chunk_size is not None:
        if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(
            chunk_size, (int, np.integer)
        ):
            raise TypeError(f"chunk_size must be a positive int or None, found {chunk_size!r}.")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, found {chunk_size}.")
    dev = resolve_device(device)
    chunk = int(chunk_size or _DEFAULT_CHUNK.get(dev.type, 4096))
    # one torch thread for a small graph (and BLAS on one thread): see workbench.compute.threads
    with limit_threads(device=dev, total=float(n) * n * x.shape[1]):
        return _knn_graph(x, k, metric, dev, chunk, bool(exclude_self), bool(progress))


def knn_between(
    queries: ArrayLike,
    database: ArrayLike | None,
    n_neighbors: int,
    *,
    metric: str = "cosine",
    device: str | torch.device | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_neighbors`` nearest rows of ``database`` for every row of ``queries``, found and
    re-ranked as :func:`knn_graph` does, with the float64 distances of its re-ranking.

    The block step of an exact search over shards (:mod:`workbench.sharded.knn`): lists of the
    same queries against several databases, merged by (distance, index), give the neighbours
    and distances of :func:`knn_graph` over their union (the float32 cast last).

    Parameters
    ----------
    queries : array-like of shape (Nq, D)
    database : array-like of shape (Nd, D), or None
        None: the queries themselves, each row left out of its own list (a self-join).
    n_neighbors : int
        k; lists hold ``min(k, Nd)`` entries (``Nd - 1`` for the self-join).
    metric, device, chunk_size
        As :func:`knn_graph` (``metric`` "cosine" or "euclidean"; no zero rows for cosine).

    Returns
    -------
    indices : ndarray of shape (Nq, k'), int64
        Rows of ``database``, nearest first, equal distances by index.
    distances : ndarray of shape (Nq, k'), float64
        ``1 - cosine similarity`` or the L2 distance, recomputed from the input values.
    """
    q = as_array(queries, "queries")
    same = database is None
    d = q if same else as_array(database, "database")
    for name, arr in (("queries", q), ("database", d)):
        if arr.ndim != 2 or arr.dtype.kind not in "iuf" or arr.shape[0] < 1:
            raise ValueError(
                f"{name} must be a non-empty 2-D array of real numbers (N, D), found shape "
                f"{arr.shape} and dtype {arr.dtype}."
            )
        check_finite(arr, name)
    if d.shape[1] != q.shape[1]:
        raise ValueError(
            f"queries and database must have the same D, found {q.shape[1]} and {d.shape[1]}."
        )
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, found {metric!r}.")
    if metric == "cosine":
        _check_nonzero_rows(q)
        if not same:
            _check_nonzero_rows(d)
    avail = len(d) - 1 if same else len(d)
    k = min(_check_k(n_neighbors, np.iinfo(np.int64).max, "n_neighbors", "any"), avail)
    if k < 1:
        return np.empty((len(q), 0), np.int64), np.empty((len(q), 0), np.float64)
    dev = resolve_device(device)
    chunk = int(chunk_size or _DEFAULT_CHUNK.get(dev.type, 4096))
    x = q if same else np.concatenate([q, d.astype(q.dtype, copy=False)])
    nq, shift = len(q), 0 if same else len(q)
    kk = min(avail, k + max(_MIN_MARGIN, k // 2))
    xt = _prepare(x, metric, dev)
    sq = (xt * xt).sum(1) if metric == "euclidean" else None
    qt, dt = xt[:nq], xt[shift:]
    sq_q, sq_d = (None, None) if sq is None else (sq[:nq], sq[shift:])
    with _exact_float32(dev), torch.inference_mode():
        best_v = torch.full((nq, kk), -torch.inf, dtype=torch.float32, device=dev)
        best_i = torch.full((nq, kk), -1, dtype=torch.int64, device=dev)
        side = min(chunk, len(x))
        s_buf = torch.empty(side * side, dtype=torch.float32, device=dev)
        m_buf = torch.zeros(side * side + 8, dtype=torch.bool, device=dev)
        cols = list(range(0, len(dt), chunk))
        for a in range(0, nq, chunk):
            # the diagonal tile first in a self-join (it sets every row's threshold early)
            order = sorted(cols, key=lambda b, a=a: b != a) if same else cols
            for b in order:
                s = _cross_scores(qt, dt, sq_q, sq_d, a, b, chunk, s_buf)
                if same and a == b:
                    s.fill_diagonal_(-torch.inf)
                _update(best_v, best_i, s, a, b, kk, 1, m_buf)
        if (best_i < 0).any():  # pragma: no cover - cannot happen while kk <= avail
            raise RuntimeError("kNN search left a query with too few candidates.")
        idx, dist = _rerank(x, best_i + shift, metric, k, dev, wide_out=True)
    return idx - shift, dist


def knn_graph_from_csr(graph: sparse.spmatrix, *, metric: str) -> KNNGraph:
    """Read a k-nearest-neighbour graph stored as an N × N sparse distance matrix.

    Accepts what cleanlab's Datalab stores (``datalab.get_info("statistics")
    ["weighted_knn_graph"]``) and scikit-learn's ``kneighbors_graph(mode="distance")``.

    Parameters
    ----------
    graph : scipy sparse matrix of shape (N, N)
        The same number of stored entries in every row, in order of increasing distance.
    metric : {"cosine", "euclidean"}
        The distance the graph holds (a sparse matrix does not say).

    Returns
    -------
    KNNGraph
        With ``device="cpu"``; rows are re-sorted by (distance, index) when needed.

    Raises
    ------
    TypeError
        If ``graph`` is not a scipy sparse matrix.
    ValueError
        If it is not square, rows hold different numbers of neighbours, or distances are
        negative or not finite.
    """
    if not sparse.issparse(graph):
        raise TypeError(f"graph must be a scipy sparse matrix, found {type(graph).__name__}.")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, found {metric!r}.")
    graph = sparse.csr_matrix(graph)
    n, m = graph.shape
    if n != m:
        raise ValueError(f"graph must be square (N, N), found shape {graph.shape}.")
    counts = np.diff(graph.indptr)
    if n == 0 or counts.min() != counts.max() or counts[0] == 0:
        raise ValueError(
            "graph must store the same number (>= 1) of neighbours in every row, found between "
            f"{counts.min() if n else 0} and {counts.max() if n else 0}."
        )
    k = int(counts[0])
    dist = np.asarray(graph.data, dtype=np.float32).reshape(n, k)
    idx = np.asarray(graph.indices, dtype=np.int64).reshape(n, k)
    check_finite(dist, "graph distances")
    if dist.min() < 0:
        raise ValueError(f"graph distances must be >= 0, found {dist.min()}.")
    order = np.lexsort((idx, dist), axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    return KNNGraph(idx, dist, metric, "cpu")


# --- validation ------------------------------------------------------------------------------


def _check_features(features: ArrayLike) -> np.ndarray:
    x = as_array(features, "features")
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D of shape (N, D), found shape {x.shape}.")
    if x.dtype.kind not in "iuf":
        raise TypeError(f"features must be real numbers, found dtype {x.dtype}.")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"features must have N >= 2 rows and D >= 1 columns, found {x.shape}.")
    check_finite(x, "features")
    return x


def _check_nonzero_rows(x: np.ndarray, block: int = 1 << 16) -> None:
    rows = np.concatenate(
        [
            a + np.flatnonzero(~np.any(x[a : a + block] != 0, axis=1))
            for a in range(0, len(x), block)
        ]
    )
    if rows.size:
        raise ValueError(
            f"features has {rows.size} all-zero row(s) (first at index {rows[:5].tolist()}); "
            "cosine distance is undefined for a zero vector. Drop those rows or use "
            'metric="euclidean".'
        )


def _check_k(k, high: int, name: str, high_name: str) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name} must be an int, found {k!r}.")
    if not 1 <= k <= high:
        raise ValueError(f"{name} must lie in 1..{high} ({high_name}), found {k}.")
    return int(k)


# --- the search ------------------------------------------------------------------------------


def _knn_graph(x, k, metric, dev, chunk, exclude_self, progress) -> KNNGraph:
    """The search on checked input: tiles, candidate lists, exact re-ranking."""
    from tqdm.auto import tqdm

    n = x.shape[0]
    kk = min(n - 1 if exclude_self else n, k + max(_MIN_MARGIN, k // 2))
    xt = _prepare(x, metric, dev)
    sq = (xt * xt).sum(1) if metric == "euclidean" else None
    best_v = torch.full((n, kk), -torch.inf, dtype=torch.float32, device=dev)
    best_i = torch.full((n, kk), -1, dtype=torch.int64, device=dev)
    starts = list(range(0, n, chunk))
    # Diagonal tiles first: they give every sample a threshold that later tiles must beat.
    tiles = [(a, a) for a in starts] + [(a, b) for a in starts for b in starts if b > a]
    with _exact_float32(dev), torch.inference_mode():
        # Reused tile buffers: fresh 4·chunk² byte allocations would page-fault on every tile.
        side = min(chunk, n)
        s_buf = torch.empty(side * side, dtype=torch.float32, device=dev)
        m_buf = torch.zeros(side * side + 8, dtype=torch.bool, device=dev)  # 8: word padding
        bar = tqdm(total=len(tiles), desc="kNN graph", unit="tile", disable=not progress)
        try:
            for a, b in tiles:
                s = _tile_scores(xt, sq, a, b, chunk, s_buf)
                if a == b and exclude_self:
                    s.fill_diagonal_(-torch.inf)
                _update(best_v, best_i, s, a, b, kk, 1, m_buf)
                if a != b:
                    _update(best_v, best_i, s, a, b, kk, 0, m_buf)
                bar.update()
        finally:
            bar.close()
        # Cannot happen while kk <= the neighbours available; checked rather than trusted.
        if (best_i < 0).any() or not torch.isfinite(best_v).all():  # pragma: no cover
            raise RuntimeError("kNN search left a sample with too few candidates.")
        idx, dist = _rerank(x, best_i, metric, k, dev)
    return KNNGraph(idx, dist, metric, str(dev))


def _prepare(x: np.ndarray, metric: str, dev: torch.device) -> torch.Tensor:
    """float32 copy on ``dev``: unit rows for cosine, centred rows for euclidean (so the
    ||a||² + ||b||² - 2ab expansion loses less to cancellation)."""
    src = np.ascontiguousarray(x)
    if not src.flags.writeable:  # torch wants writable memory even though it only reads here
        src = src.copy()
    t = torch.as_tensor(src).to(torch.float32).to(dev)  # cast first: MPS has no float64
    if metric == "cosine":
        t = t / torch.linalg.vector_norm(t, dim=1, keepdim=True)
    else:
        t = t - t.mean(0, keepdim=True)
        if not torch.isfinite((t * t).sum(1)).all():
            raise ValueError(
                "features are too large for float32 squared distances (|values| up to "
                f"{float(np.abs(x).max()):.3g}); rescale them."
            )
    if not torch.isfinite(t).all():
        raise ValueError(
            "features do not fit float32 (values overflow, or a row's norm underflows to 0); "
            "rescale them."
        )
    return t.contiguous()


def _tile_scores(xt, sq, a, b, chunk, buf) -> torch.Tensor:
    """:func:`_cross_scores` of rows a.. against rows b.. of one tensor ``xt`` (``sq``: its
    rows' squared norms, None for cosine)."""
    return _cross_scores(xt, xt, sq, sq, a, b, chunk, buf)


def _cross_scores(qt, dt, sq_q, sq_d, a, b, chunk, buf) -> torch.Tensor:
    """Similarity tile of query rows a.. against database rows b.., written into ``buf``;
    larger = nearer: the cosine similarity, or -||x - y||² for euclidean (``sq_q``, ``sq_d``:
    the rows' squared norms, None for cosine)."""
    x, y = qt[a : a + chunk], dt[b : b + chunk]
    s = buf[: len(x) * len(y)].view(len(x), len(y))
    if sq_q is None:
        return torch.mm(x, y.T, out=s)
    torch.addmm(sq_d[b : b + chunk].neg()[None, :], x, y.T, alpha=2.0, out=s)
    return s.sub_(sq_q[a : a + chunk][:, None])


def _update(best_v, best_i, s, a, b, kk, axis, m_buf) -> None:
    """Merge the entries of tile ``s`` (rows a.. × columns b..) that beat their owner's current
    worst candidate into the running top-``kk`` lists. Owners are the tile's rows (axis=1) or
    its columns (axis=0: the transposed half of a symmetric tile)."""
    n_own, n_nb = (s.shape[0], s.shape[1]) if axis == 1 else (s.shape[1], s.shape[0])
    own0, nb0 = (a, b) if axis == 1 else (b, a)
    thr = best_v[own0 : own0 + n_own, -1]
    cand_v = cand_i = None
    if not bool(torch.isneginf(thr).any()):  # every owner has kk candidates: take what beats them
        mask = m_buf[: s.numel()].view(s.shape)
        torch.gt(s, thr[:, None] if axis == 1 else thr[None, :], out=mask)
        r, c = _mask_pairs(m_buf, s.shape)
        if r.numel() == 0:
            return
        if r.numel() <= 2 * kk * n_own:
            v = s[r, c]
            own, nb = (r, c) if axis == 1 else (c, r)
            if axis == 0:  # nonzero lists row-major: group the pairs by owner (column)
                order = torch.argsort(own, stable=True)
                own, nb, v = own[order], nb[order], v[order]
            sizes = torch.bincount(own, minlength=n_own)
            width = int(sizes.max())
            if width <= 8 * kk:
                first = torch.cumsum(sizes, 0) - sizes
                pos = torch.arange(own.numel(), device=s.device) - first[own]
                cand_v = torch.full((n_own, width), -torch.inf, dtype=s.dtype, device=s.device)
                cand_i = torch.full((n_own, width), -1, dtype=torch.int64, device=s.device)
                cand_v[own, pos] = v
                cand_i[own, pos] = nb + nb0
    if cand_v is None:  # first tiles, or many entries to merge: a dense top-k
        cand_v, j = torch.topk(s, min(kk, n_nb), dim=axis)
        if axis == 0:
            cand_v, j = cand_v.T, j.T
        cand_i = torch.where(cand_v > -torch.inf, j + nb0, -1)
    merged_v = torch.cat([best_v[own0 : own0 + n_own], cand_v], dim=1)
    merged_i = torch.cat([best_i[own0 : own0 + n_own], cand_i], dim=1)
    top_v, top_j = torch.topk(merged_v, kk, dim=1)
    best_v[own0 : own0 + n_own] = top_v
    best_i[own0 : own0 + n_own] = merged_i.gather(1, top_j)


def _mask_pairs(m_buf, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of the True entries of the row-major mask ``m_buf[:rows*cols]``, in
    row-major order. Few entries are set, so scanning 8-byte words first is several times
    faster than ``nonzero`` on the bytes."""
    numel = shape[0] * shape[1]
    padded = -(-numel // 8) * 8
    m_buf[numel:padded] = False
    raw = m_buf[:padded].view(torch.uint8)
    words = torch.nonzero(raw.view(torch.int64))[:, 0]
    flat = (words[:, None] * 8 + torch.arange(8, device=words.device)).reshape(-1)
    flat = flat[raw[flat] != 0]
    return flat // shape[1], flat % shape[1]


def _rerank(x, cand, metric, k, dev, wide_out=False) -> tuple[np.ndarray, np.ndarray]:
    """Exact distances of the candidates from the input values, sorted by (distance, index).
    Rows ``0..len(cand)-1`` of ``x`` are re-ranked; candidates index any row of ``x``.
    ``wide_out``: distances in the precision they were computed in (float64 but on MPS)."""
    n, kk = cand.shape
    wide = torch.float32 if dev.type == "mps" else torch.float64
    src = np.ascontiguousarray(x)
    if not src.flags.writeable:
        src = src.copy()
    src = torch.as_tensor(src)
    if src.dtype == torch.float64 and dev.type == "mps":
        src = src.to(torch.float32)
    src = src.to(dev)
    if metric == "cosine":  # 1 / ||x_i||, once per sample
        inv = torch.cat(
            [
                torch.linalg.vector_norm(src[a : a + _RERANK_ROWS].to(wide), dim=1)
                for a in range(0, len(src), _RERANK_ROWS)
            ]
        ).reciprocal_()
    out_i = np.empty((n, k), dtype=np.int64)
    out_d = np.empty((n, k), dtype=np.float64 if wide_out else np.float32)
    for a in range(0, n, _RERANK_ROWS):
        c = cand[a : a + _RERANK_ROWS]
        r = len(c)
        q = src[a : a + r].to(wide)
        nb = src.index_select(0, c.reshape(-1)).to(wide).view(r, kk, -1)
        if metric == "cosine":
            dots = torch.bmm(nb, q[:, :, None])[:, :, 0]
            d = (1.0 - dots * inv[a : a + r, None] * inv[c]).clamp_(0.0, 2.0)
        else:
            d = torch.linalg.vector_norm(nb - q[:, None, :], dim=2)
        order = torch.argsort(c, dim=1, stable=True)
        c, d = c.gather(1, order), d.gather(1, order)
        order = torch.argsort(d, dim=1, stable=True)[:, :k]
        out_i[a : a + r] = c.gather(1, order).cpu().numpy()
        out_d[a : a + r] = d.gather(1, order).to(wide if wide_out else torch.float32).cpu().numpy()
    return out_i, out_d


@contextlib.contextmanager
def _exact_float32(dev: torch.device):
    """Keep float32 matrix products in full float32 on CUDA (no TF32) while searching."""
    matmul = getattr(torch.backends.cuda, "matmul", None)
    if dev.type != "cuda" or not hasattr(matmul, "fp32_precision"):
        yield
        return
    previous = matmul.fp32_precision
    matmul.fp32_precision = "ieee"
    try:
        yield
    finally:
        matmul.fp32_precision = previous
