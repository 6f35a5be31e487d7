"""Per-sample training dynamics: record loss, margin, given-label probability and prediction.

N samples, K classes, E epochs. A :class:`TrajectoryRecorder` plugs into any torch training
loop in three lines and produces the ``trajectories`` a :class:`workbench.Dataset` holds, which
feed the training-dynamics detectors (area under the margin, forgetting events, data maps,
loss mixtures). The built-in trainer of :func:`workbench.compute.cross_val_probs` uses it too.

Recorded kinds, for logits ``z`` (K,) of a sample with given (possibly noisy) label ``y``:

- ``loss``: cross-entropy ``logsumexp(z) - z[y]``;
- ``margin``: ``z[y] - max_{j != y} z[j]`` on logits, as in the area-under-the-margin paper
  (Pleiss et al., NeurIPS 2020); negative when another class wins;
- ``given_prob``: ``softmax(z)[y]``, the probability of the given label;
- ``predicted``: ``argmax(z)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from workbench.core.dataset import TRAJECTORY_KINDS

__all__ = ["TrajectoryRecorder"]

_FLOAT_KINDS = ("loss", "margin", "given_prob")
#: Up to this many N×K elements the recorder keeps an epoch's outputs and computes the
#: signals once per epoch (fewer, larger operations); above it, per batch.
_DEFER_ELEMENTS = 1 << 25
#: Deferred signals are computed in chunks of at most this many outputs and K × outputs
#: elements (one chunk for the benchmark's 100,000 × 10: every operation runs once).
_FLUSH_ROWS = 1 << 17
_FLUSH_ELEMENTS = 1 << 21
#: Storage dtypes; values are converted on the torch side (numpy's float16 casts are slow).
_TORCH_DTYPE = {
    np.dtype(np.float16): torch.float16,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
    np.dtype(np.int16): torch.int16,
    np.dtype(np.int32): torch.int32,
}


class _Layout:
    """Byte layout of one sample's signals in an epoch: a fixed-size record.

    The float kinds in ``dtype``, then the prediction (int16 for K <= 32767, else int32),
    padded to 2, 4, 8 or 16 bytes where they fit: an epoch's N records then move to their
    rows in host memory with one integer-typed scatter, instead of one scatter per kind
    (float16 records of all four kinds take 8 bytes).
    """

    def __init__(self, float_kinds: tuple, dtype: np.dtype, want_pred: bool, k: int):
        fields, end = {}, 0
        for kind in float_kinds:
            fields[kind], end = (end, dtype), end + dtype.itemsize
        if want_pred:
            p = np.dtype(np.int16 if k <= np.iinfo(np.int16).max else np.int32)
            end = -(-end // p.itemsize) * p.itemsize  # aligned
            fields["predicted"], end = (end, p), end + p.itemsize
        unit = max(dt.itemsize for _, dt in fields.values())
        self.size = next((s for s in (2, 4, 8, 16) if end <= s), -(-end // unit) * unit)
        self.fields = fields
        ints = {2: np.int16, 4: np.int32, 8: np.int64}
        self.host_dtype = np.dtype(ints.get(self.size, f"V{self.size}"))
        empty = np.zeros(1, dtype=self.host_dtype)  # the record of an unseen sample
        for kind in fields:
            self.view(empty, kind)[...] = _unseen(kind)
        self.empty = empty[0]

    def view(self, host: np.ndarray, kind: str) -> np.ndarray:
        """One kind of a C-contiguous array of records, same shape, strided, writable."""
        off, dt = self.fields[kind]
        strides = host.strides[:-1] + (self.size,)
        return np.ndarray(host.shape, dt, buffer=host, offset=off, strides=strides)

    def tensor_view(self, records: torch.Tensor, kind: str) -> torch.Tensor:
        """One kind of (n, size) uint8 records on the device, as an (n,) strided tensor."""
        off, dt = self.fields[kind]
        return records.view(_TORCH_DTYPE[dt])[:, off // dt.itemsize]


class TrajectoryRecorder:
    """Collect per-sample, per-epoch training signals from a torch training loop.

    Each call to :meth:`update` stores the signals of one batch into an epoch buffer that
    lives on the device of the logits (no host synchronisation per batch); :meth:`end_epoch`
    copies the epoch's signals to host memory once, one record per sample (float16 by
    default: 8 bytes per sample and epoch for all four kinds, the prediction held as int16
    while K <= 32767).

    Parameters
    ----------
    n_samples : int
        N, the number of samples in the dataset; ``update`` receives positions 0..N-1.
    n_epochs : int, optional
        E, when known: storage is allocated once. None: storage grows with every epoch.
    kinds : sequence of str, default=("loss", "margin", "given_prob", "predicted")
        Which signals to record (a subset of ``workbench.core.dataset.TRAJECTORY_KINDS``).
    dtype : {numpy.float16, numpy.float32, numpy.float64}, default=numpy.float16
        Storage of loss, margin and given_prob. :attr:`trajectories` returns ``predicted``
        as int32.

    Notes
    -----
    A sample not seen during an epoch keeps NaN (``predicted``: -1) in that epoch's column;
    :meth:`to_dataset_kwargs` refuses such incomplete trajectories because detectors need
    every epoch. A sample given twice in one epoch keeps its last values. A sample must not
    appear twice within one ``update`` call. K must stay the same for the whole recording;
    the device may change between epochs.

    For N×K up to 2**25 the recorder keeps an epoch's outputs as they come (N×K float32 on
    the logits' device, plus a scratch chunk of up to 2**21 for the built-in trainer) and
    computes the signals once per epoch; above that, per batch.

    Examples
    --------
    >>> import torch
    >>> from workbench.compute import TrajectoryRecorder
    >>> x, y = torch.randn(100, 5), torch.randint(0, 3, (100,))
    >>> model = torch.nn.Linear(5, 3)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> rec = TrajectoryRecorder(n_samples=100, n_epochs=4)
    >>> for epoch in range(4):
    ...     for idx in torch.randperm(100).split(32):
    ...         logits = model(x[idx])
    ...         loss = torch.nn.functional.cross_entropy(logits, y[idx])
    ...         rec.update(idx, logits, y[idx])  # one line in the loop
    ...         opt.zero_grad()
    ...         loss.backward()
    ...         opt.step()
    ...     rec.end_epoch()  # one line per epoch
    >>> rec.trajectories["loss"].shape
    (100, 4)
    """

    def __init__(
        self,
        n_samples: int,
        n_epochs: int | None = None,
        *,
        kinds: Sequence[str] = TRAJECTORY_KINDS,
        dtype=np.float16,
    ):
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise TypeError(f"n_samples must be an int, found {n_samples!r}.")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, found {n_samples}.")
        if n_epochs is not None and (
            isinstance(n_epochs, bool) or not isinstance(n_epochs, (int, np.integer))
        ):
            raise TypeError(f"n_epochs must be an int or None, found {n_epochs!r}.")
        if n_epochs is not None and n_epochs < 1:
            raise ValueError(f"n_epochs must be at least 1 (or None to grow), found {n_epochs}.")
        if isinstance(kinds, str):
            kinds = (kinds,)
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in TRAJECTORY_KINDS]
        if unknown or not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(
                f"kinds must be distinct names among {TRAJECTORY_KINDS}, found {list(kinds)}."
            )
        dtype = np.dtype(dtype)
        if dtype.kind != "f" or dtype not in _TORCH_DTYPE:
            raise TypeError(f"dtype must be float16, float32 or float64, found {dtype}.")
        self.n_samples = int(n_samples)
        self.n_epochs = None if n_epochs is None else int(n_epochs)
        self.kinds = kinds
        self.dtype = dtype
        self._float_kinds = tuple(k for k in _FLOAT_KINDS if k in kinds)
        self._want_pred = "predicted" in kinds
        self._epoch = 0
        # Host storage: (capacity, N) records, epoch-major (each epoch fills one contiguous
        # row). The layout depends on K, so it is made by the first update.
        self._layout: _Layout | None = None
        self._host: np.ndarray | None = None
        # Epoch state on the logits' device. Small N×K ("deferred"): each batch's outputs are
        # kept as they come, classes first (K, B), and turned into signals once per epoch in a
        # few large operations. Large N×K: signals are computed per batch into (N, ·) buffers.
        self._device: torch.device | None = None
        self._k: int | None = None
        self._zbuf: torch.Tensor | None = None  # (K, capacity) float32: this epoch's outputs
        self._ibuf: torch.Tensor | None = None  # (capacity,) int64: their sample indices
        self._ybuf: torch.Tensor | None = None  # (capacity,) int64: their labels
        self._off = 0  # outputs stored so far this epoch
        self._block: int | None = None  # this epoch's outputs are in blocks (_epoch_buffer)
        self._blocks: tuple | None = None  # ((n, block), its per-batch views of _zbuf)
        self._scratch: torch.Tensor | None = None  # (K * columns,) float32: unblocked outputs
        self._normalized = True  # every batch of the epoch gave log-probabilities
        self._records: torch.Tensor | None = None  # (rows, size) uint8: records being made
        self._buf: torch.Tensor | None = None  # (N, size) uint8: the epoch's, per-batch mode
        self._dirty = False
        self.unseen_per_epoch: list[int] = []

    # --- recording ---------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Number of epochs completed (``end_epoch`` calls so far)."""
        return self._epoch

    def update(
        self, indices, logits, labels, *, normalized: bool = False, check: bool = True
    ) -> None:
        """Record one batch.

        Parameters
        ----------
        indices : tensor or array of shape (B,)
            Dataset positions 0..N-1 of the batch's samples (each at most once).
        logits : tensor of shape (B, K)
            The model's outputs for the batch (any device, any float dtype; not modified and
            not part of the autograd graph).
        labels : tensor or array of shape (B,)
            The given (possibly noisy) labels the model is trained on.
        normalized : bool, default=False
            The logits are already log-probabilities (``log_softmax`` output), which skips
            one log-sum-exp; every signal is the same either way.
        check : bool, default=True
            Check that indices and labels are in range (costs a device synchronisation per
            batch on a GPU; trusted internal loops pass False).
        """
        if self.n_epochs is not None and self._epoch >= self.n_epochs:
            raise ValueError(
                f"All n_epochs={self.n_epochs} epochs are already recorded; create the "
                "recorder with n_epochs=None to let it grow."
            )
        z = torch.as_tensor(logits).detach()
        if z.ndim != 2 or z.shape[1] < 2:
            raise ValueError(f"logits must have shape (B, K) with K >= 2, found {tuple(z.shape)}.")
        dev = z.device
        idx = torch.as_tensor(indices, device=dev).reshape(-1).long()
        y = torch.as_tensor(labels, device=dev).reshape(-1).long()
        if idx.shape[0] != z.shape[0] or y.shape[0] != z.shape[0]:
            raise ValueError(
                f"indices, logits and labels must share the batch size B, found "
                f"{idx.shape[0]}, {z.shape[0]} and {y.shape[0]}."
            )
        if check:
            self._check_batch(idx, y, z.shape[1])
        self._ensure_state(z.device, z.shape[1])
        if self._buf is None:
            self._slot(idx, y, normalized).copy_(z.T)
        else:
            zt = z.T.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
            self._per_batch(idx, zt, y, normalized)  # an own copy: the signals overwrite it

    def _record_batch(self, idx: torch.Tensor, zt: torch.Tensor, y: torch.Tensor) -> None:
        """``update`` for the built-in trainer in per-batch mode: ``zt`` (K, B) float32
        log-probabilities, classes first, an own copy (overwritten); ``idx`` and ``y`` (B,)
        int64 on the same device."""
        self._ensure_state(zt.device, zt.shape[0])
        self._per_batch(idx, zt, y, True)

    def _epoch_buffer(self, idx: torch.Tensor, y: torch.Tensor, k: int, block: int):
        """For a trainer that knows an epoch's order up front and goes through it in batches
        of ``block`` rows: reserve the epoch's rows ``idx`` (labels ``y``) and return one flat
        float32 buffer per batch of b rows for its (K, b) log-probabilities, classes first, to
        fill in place before ``end_epoch``. Each is contiguous, so the trainer writes a batch
        with one ``index_select(..., out=)`` (a column slice of a (K, n) buffer would be
        strided and several times slower). None in per-batch mode (large N×K): then call
        :meth:`_record_batch` per batch instead."""
        self._ensure_state(idx.device, k)
        if self._buf is not None:
            return None
        if self._off:
            raise ValueError("_epoch_buffer must start an epoch (no update before it).")
        self._slot(idx, y, True)
        self._block, shape = int(block), (len(idx), int(block))
        if self._blocks is None or self._blocks[0] != shape:  # the same views every epoch
            flat = self._zbuf.view(-1)[: k * len(idx)]  # batch after batch, each (K, b)
            self._blocks = (shape, flat.split(k * self._block))
        return self._blocks[1]

    def _slot(self, idx: torch.Tensor, y: torch.Tensor, normalized: bool) -> torch.Tensor:
        """Reserve the next ``len(idx)`` columns of the epoch buffer; return them (K, B)."""
        b, off = len(idx), self._off
        if off + b > self._zbuf.shape[1]:  # samples seen more than once: grow
            grow = max(off + b, 2 * self._zbuf.shape[1])
            self._zbuf = torch.cat([self._zbuf, self._zbuf.new_empty(self._k, grow - off)], 1)
            self._blocks = None
            self._ibuf = torch.cat([self._ibuf[:off], self._ibuf.new_empty(grow - off)])
            self._ybuf = torch.cat([self._ybuf[:off], self._ybuf.new_empty(grow - off)])
        self._ibuf[off : off + b] = idx
        self._ybuf[off : off + b] = y
        self._off = off + b
        self._normalized &= bool(normalized)
        self._dirty = True
        return self._zbuf[:, off : off + b]

    def _per_batch(self, idx, zt, y, normalized: bool) -> None:
        records = self._scratch_records(len(idx))
        # on the CPU a host synchronisation costs nothing: search only where another class wins
        self._signals(zt, y, normalized, records, sync=zt.device.type == "cpu")
        self._buf.index_copy_(0, idx, records)
        self._dirty = True

    def _scratch_records(self, n: int) -> torch.Tensor:
        """(n, size) uint8 records on the device, reused between calls."""
        if self._records is None or len(self._records) < n:
            size = self._layout.size
            self._records = torch.empty((n, size), dtype=torch.uint8, device=self._device)
        return self._records[:n]

    def _check_batch(self, idx: torch.Tensor, y: torch.Tensor, k: int) -> None:
        # Cheap range checks (one reduction each) so a wrong index never writes silently.
        if idx.numel() == 0:
            return
        lo, hi = torch.aminmax(idx)
        if int(lo) < 0 or int(hi) >= self.n_samples:
            raise ValueError(
                f"indices must lie in 0..{self.n_samples - 1}, found [{int(lo)}, {int(hi)}]."
            )
        lo, hi = torch.aminmax(y)
        if int(lo) < 0 or int(hi) >= k:
            raise ValueError(f"labels must lie in 0..{k - 1}, found [{int(lo)}, {int(hi)}].")

    def _signals(self, zt, y, normalized: bool, records: torch.Tensor, sync: bool = False):
        """Write the records (n, size) of the columns of ``zt`` (K, n), contiguous, with
        labels ``y`` (n,); overwrites ``zt``. ``sync=True`` may synchronise with the device
        (once per epoch, or any time on the CPU) to search only the columns another class wins.

        Classes run down the rows, so every reduction over them is element-wise across long
        contiguous rows (much faster than reducing short rows).
        """
        field = self._layout.tensor_view
        lse = None if normalized else torch.logsumexp(zt, dim=0)
        # flat positions of the given labels' entries: 1-D index ops beat gather/scatter
        n = zt.shape[1]
        at = torch.add(torch.arange(n, device=zt.device), y, alpha=n)
        z_y = zt.view(-1).index_select(0, at)
        zt.view(-1).index_fill_(0, at, float("-inf"))  # now: the other classes only
        other = zt.amax(0)
        if self._float_kinds:
            loss = -z_y if normalized else lse - z_y
            cols = {"loss": loss, "margin": z_y - other}
            if "given_prob" in self._float_kinds:
                cols["given_prob"] = torch.exp(-loss)
            for kind in self._float_kinds:
                field(records, kind).copy_(cols[kind])  # cast to the storage dtype
        if self._want_pred:
            # The given label wins when the margin is positive; otherwise the first other class
            # reaching the largest logit (ties count as another class winning).
            pred = field(records, "predicted")
            if sync:  # look only at the columns where another class wins
                pred.copy_(y)
                lost = _nonzero(z_y <= other)
                if len(lost):  # index_select/index_copy_: much faster than advanced indexing
                    sub = _first_argmax(zt.index_select(1, lost), other.index_select(0, lost))
                    pred.index_copy_(0, lost, sub.to(pred.dtype))
            else:  # inside a training step on an accelerator: no host synchronisation
                pred.copy_(torch.where(z_y > other, y, _first_argmax(zt, other)))

    def _ensure_state(self, dev: torch.device, k: int) -> None:
        if self._device == dev and self._k == k:
            return
        if self._k is not None and k != self._k:
            raise ValueError(
                f"logits changed from {self._k} to {k} classes; every batch of every epoch "
                "must have the same K."
            )
        if self._dirty:
            raise ValueError(
                f"logits moved from {self._device} to {dev} within one epoch; keep one device "
                "per epoch."
            )
        if self._layout is None:
            self._layout = _Layout(self._float_kinds, self.dtype, self._want_pred, k)
            self._host = self._empty_host(self.n_epochs or 8)
        self._device, self._k = dev, k
        self._zbuf = self._ibuf = self._ybuf = self._buf = self._records = None
        self._scratch = self._blocks = None
        self._off = 0
        if self.n_samples * k <= _DEFER_ELEMENTS:
            self._zbuf = torch.empty((k, self.n_samples), device=dev)
            self._ibuf = torch.empty(self.n_samples, dtype=torch.int64, device=dev)
            self._ybuf = torch.empty(self.n_samples, dtype=torch.int64, device=dev)
        else:
            self._buf = self._empty_records(self.n_samples)

    def _empty_host(self, epochs: int) -> np.ndarray:
        """(epochs, N) host records of unseen samples."""
        return np.full((epochs, self.n_samples), self._layout.empty, self._layout.host_dtype)

    def _empty_records(self, n: int) -> torch.Tensor:
        """(n, size) uint8 records of unseen samples on the device."""
        empty = np.full(1, self._layout.empty).view(np.uint8)
        return torch.from_numpy(empty).to(self._device).expand(n, -1).contiguous()

    def end_epoch(self) -> None:
        """Close the current epoch: compute its signals and copy them to host memory."""
        if self.n_epochs is not None and self._epoch >= self.n_epochs:
            raise ValueError(f"All n_epochs={self.n_epochs} epochs are already recorded.")
        e = self._epoch
        if self._host is not None and e >= len(self._host):
            self._host = np.concatenate([self._host, self._empty_host(len(self._host))])
        unseen = self.n_samples
        if self._dirty and self._buf is None:
            unseen = self._flush_deferred(e)
        elif self._dirty:
            self._host[e] = self._buf.cpu().numpy().view(self._layout.host_dtype)[:, 0]
            self._buf.copy_(self._empty_records(1).expand_as(self._buf))
            unseen = self._count_unseen(e)
        self.unseen_per_epoch.append(unseen)
        self._dirty = False
        self._epoch += 1

    def _flush_deferred(self, e: int) -> int:
        n, k, block = self._off, self._k, self._block
        y, rows = self._ybuf[:n], self._ibuf[:n].cpu().numpy()  # in the order of the outputs
        step = max(1, min(_FLUSH_ROWS, _FLUSH_ELEMENTS // k))
        if block:
            step = max(block, step // block * block)
        host = self._host[e]
        for a in range(0, n, step):
            b = min(a + step, n)
            # contiguous columns for _signals (no copy when one chunk is the whole buffer)
            zt = self._zbuf[:, a:b].contiguous() if block is None else self._unblock(a, b)
            records = self._scratch_records(b - a)
            self._signals(zt, y[a:b], self._normalized, records, sync=True)
            host[rows[a:b]] = records.cpu().numpy().view(self._layout.host_dtype)[:, 0]
        self._off, self._normalized, self._block = 0, True, None
        return self._count_unseen(e)

    def _count_unseen(self, e: int) -> int:
        """Samples of epoch ``e`` with no record (prediction -1, or a NaN first kind)."""
        if self._want_pred:
            return int(np.count_nonzero(self._layout.view(self._host[e], "predicted") < 0))
        return int(np.isnan(self._layout.view(self._host[e], self._float_kinds[0])).sum())

    def _unblock(self, a: int, b: int) -> torch.Tensor:
        """Outputs a..b-1 (``a`` at a block start) of an ``_epoch_buffer`` epoch as (K, b - a),
        contiguous, in a reused scratch buffer: one strided copy per chunk, where writing each
        batch as a column slice would have cost a strided copy per batch inside the loop."""
        k, w = self._k, self._block
        if self._scratch is None or self._scratch.numel() < k * (b - a):
            self._scratch = self._zbuf.new_empty(k * (b - a))
        zt = self._scratch[: k * (b - a)].view(k, b - a)
        src, full = self._zbuf.view(-1)[k * a : k * b], (b - a) // w * w
        zt[:, :full].view(k, -1, w).copy_(src[: k * full].view(-1, k, w).transpose(0, 1))
        zt[:, full:].copy_(src[k * full :].view(k, -1))
        return zt

    # --- results -----------------------------------------------------------------------------
    @property
    def trajectories(self) -> dict[str, np.ndarray]:
        """Recorded epochs as a dict kind -> array of shape (N, E).

        ``loss``, ``margin``, ``given_prob`` in ``dtype`` (NaN where a sample was not seen),
        ``predicted`` int32 (-1 where not seen). E counts completed epochs only. Each access
        returns fresh C-contiguous arrays.
        """
        e, out = self._epoch, {}
        for kind in self.kinds:
            dtype = np.int32 if kind == "predicted" else self.dtype
            if self._host is None:  # no update yet: every recorded epoch is empty
                out[kind] = np.full((self.n_samples, e), _unseen(kind), dtype)
            else:
                values = self._layout.view(self._host[:e], kind).T
                out[kind] = np.array(values, dtype=dtype, order="C")
        return out

    @property
    def nbytes(self) -> int:
        """Host memory of the recorded epochs, in bytes (one record per sample and epoch)."""
        return 0 if self._host is None else self._host[: self._epoch].nbytes

    def to_dataset_kwargs(self) -> dict[str, dict[str, np.ndarray]]:
        """``{"trajectories": ...}`` ready for ``Dataset(labels, **kwargs)``.

        Raises
        ------
        ValueError
            If no epoch was completed, or some sample was not seen in some epoch (detectors
            need every epoch of every sample).
        """
        if self._epoch == 0:
            raise ValueError("No epoch recorded yet; call end_epoch() after each epoch.")
        bad = [(e, n) for e, n in enumerate(self.unseen_per_epoch) if n]
        if bad:
            e, n = bad[0]
            raise ValueError(
                f"{n} samples were not seen in epoch {e} ({len(bad)} incomplete epochs); every "
                "sample must be recorded once per epoch to build a Dataset."
            )
        return {"trajectories": self.trajectories}

    def __repr__(self) -> str:
        return (
            f"TrajectoryRecorder(n_samples={self.n_samples}, epochs={self._epoch}"
            f"{'' if self.n_epochs is None else f'/{self.n_epochs}'}, kinds={list(self.kinds)})"
        )


def _unseen(kind: str) -> float:
    """The value a sample not seen in an epoch keeps: -1 for ``predicted``, else NaN."""
    return -1 if kind == "predicted" else np.nan


def _nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Positions of the True entries of a 1-D mask (numpy's is ~4x faster on the CPU)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return torch.nonzero(mask)[:, 0]


def _first_argmax(zt: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Row index of the first entry equal to ``best`` in each column of ``zt`` (K, n); K - 1
    where none is (a NaN ``best``).

    For K <= 24, class c sets bit c of an exactly summed float32 bitmask; its lowest set bit
    (``m & -m``, a power of two whose log2 rounds exactly) names the first class. A few
    element-wise passes over contiguous rows: much faster than ``argmax(0)`` across short
    columns, with operations every device has.
    """
    k = zt.shape[0]
    if k > 24:
        return zt.argmax(0)
    bit = torch.exp2(torch.arange(k, dtype=torch.float32, device=zt.device))
    mask = torch.where(zt == best, bit[:, None], 0.0).sum(0).to(torch.int32)
    first = torch.log2((mask & -mask).clamp_(min=1).float()).round_().to(torch.int64)
    return torch.where(mask > 0, first, k - 1)
