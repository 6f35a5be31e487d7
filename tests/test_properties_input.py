"""Property-based tests of the input boundary: arbitrary arrays, frames and files given to
Dataset and to the command line's readers either become a valid Dataset or raise a ValueError /
TypeError whose message names the argument at fault. Bounded (few examples, no deadline) so
they stay fast in CI."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from workbench.cli import load_inputs
from workbench.core.dataset import Dataset

#: More examples for a deeper search: WORKBENCH_HYPOTHESIS_EXAMPLES=2000 pytest ...
EXAMPLES = int(os.environ.get("WORKBENCH_HYPOTHESIS_EXAMPLES", "60"))

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

N_MAX = 8

# --- strategies --------------------------------------------------------------------------------

#: Numbers a careless or hostile user might hand over: edge magnitudes, NaN, infinities.
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [0.0, 1.0, -1.0, 0.5, 1e300, -1e300, 1e-300, 3.5e38, np.nan, np.inf]
)
INTS = st.integers(-3, 6) | st.sampled_from([2**31, 2**63 - 1, -(2**63), 10**12])


def _dtypes():
    return st.sampled_from(
        [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.float16, np.float32, np.float64,
         np.bool_, np.complex64, "U3"]
    )  # fmt: skip


@st.composite
def arrays(draw, shape):
    """An array of ``shape`` in any dtype, values from the hostile pools where they fit."""
    dtype = np.dtype(draw(_dtypes()))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -3), min(info.max, 6)) | st.sampled_from(
            [int(info.max), int(info.min)]
        )
    elif dtype.kind == "f":
        elements = FLOATS.map(lambda v: np.asarray(v).astype(dtype)[()]) if dtype.itemsize < 8 \
            else FLOATS  # fmt: skip
    elif dtype.kind == "c":
        elements = st.complex_numbers(max_magnitude=10, width=64)
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        elements = st.text("abc1", max_size=3)
    with np.errstate(over="ignore", invalid="ignore"):
        return draw(hnp.arrays(dtype, shape, elements=elements))


def pandas_or_list(draw, arr: np.ndarray):
    """``arr`` as numpy, a list, or a pandas object (shuffled index half the time)."""
    kind = draw(st.sampled_from(["numpy", "list", "pandas", "pandas_shuffled"]))
    if kind == "numpy":
        return arr
    if kind == "list":
        return arr.tolist()
    obj = pd.Series(arr) if arr.ndim == 1 else pd.DataFrame(arr) if arr.ndim == 2 else arr
    if kind == "pandas_shuffled" and hasattr(obj, "index") and len(obj) > 1:
        obj = obj.iloc[draw(st.permutations(range(len(obj))))]
    return obj


@st.composite
def labels_strategy(draw, n):
    kind = draw(
        st.sampled_from(["clean", "clean", "ints", "names", "array", "categorical", "mixed"])
    )
    if kind == "clean":  # classes 0, 1, 2 in some order, each present when n >= 3
        arr = np.asarray(draw(st.permutations(np.arange(n) % 3)), dtype=np.int64)
        return pandas_or_list(draw, arr)
    if kind == "ints":
        arr = np.asarray(draw(st.lists(INTS, min_size=n, max_size=n)), dtype=object)
        try:
            arr = arr.astype(np.int64)
        except OverflowError:
            return arr.tolist()
        return pandas_or_list(draw, arr)
    if kind == "names":
        return pandas_or_list(
            draw, np.asarray(draw(st.lists(st.sampled_from(["cat", "dog", "", "owl"]), min_size=n,
                                           max_size=n)))
        )  # fmt: skip
    if kind == "categorical":
        values = draw(st.lists(st.sampled_from([2, 1, 0, None]), min_size=n, max_size=n))
        cats = draw(st.permutations([0, 1, 2]))
        return pd.Categorical(values, categories=cats)
    if kind == "mixed":
        return draw(st.lists(st.one_of(INTS, st.text("ab", max_size=2), st.none(), FLOATS),
                             min_size=n, max_size=n))  # fmt: skip
    return pandas_or_list(draw, draw(arrays(st.just((n,)))))


@st.composite
def signal_strategy(draw, n, width):
    """A 2-D signal: usually (n, width), sometimes another shape, ragged or None."""
    kind = draw(st.sampled_from(["none", "clean", "clean", "clean", "good", "shape", "ragged"]))
    if kind == "none":
        return None
    if kind == "clean":  # the right shape and tame numbers: what a careful user gives
        tame = st.floats(-100, 100) | st.integers(0, 2)
        return pandas_or_list(draw, draw(hnp.arrays(np.float64, (n, width), elements=tame)))
    if kind == "ragged":
        return [[0.5] * draw(st.integers(0, 3)) for _ in range(n)]
    rows = n if kind == "good" else draw(st.integers(0, N_MAX))
    cols = width if kind == "good" else draw(st.integers(0, 4))
    shape = draw(st.sampled_from([(rows, cols), (rows,), (rows, cols, 1)])) if kind == "shape" \
        else (rows, cols)  # fmt: skip
    return pandas_or_list(draw, draw(arrays(st.just(shape))))


@st.composite
def pred_probs_strategy(draw, n, k):
    kind = draw(st.sampled_from(["none", "valid", "valid", "any"]))
    if kind == "none":
        return None
    if kind == "valid":
        raw = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0.01, 1)))
        return pandas_or_list(draw, raw / raw.sum(axis=1, keepdims=True))
    return draw(signal_strategy(n, k))


def maybe(strategy):
    """None three times in four: most datasets hold a few signals, not every one."""
    return st.one_of(st.none(), st.none(), st.none(), strategy)


@st.composite
def dataset_kwargs(draw):
    n = draw(st.integers(0, N_MAX))
    k = draw(st.integers(1, 4))
    kwargs = {"labels": draw(labels_strategy(n))}
    kwargs["pred_probs"] = draw(pred_probs_strategy(n, k))
    kwargs["features"] = draw(signal_strategy(n, draw(st.integers(0, 3))))
    kwargs["coords"] = draw(maybe(signal_strategy(n, 2)))
    kwargs["annotators"] = draw(maybe(signal_strategy(n, 2)))
    kwargs["true_labels"] = draw(maybe(labels_strategy(n)))
    kwargs["trajectories"] = draw(maybe(st.fixed_dictionaries({"loss": signal_strategy(n, 3)})))
    kwargs["class_names"] = draw(
        maybe(
            st.lists(st.sampled_from(["cat", "dog", "owl", "0", "1", "2"]), max_size=5)
            | st.sampled_from(["abc", 3])
        )
    )
    kwargs["previews"] = draw(
        maybe(st.sampled_from([5, "text"]) | st.lists(st.text(max_size=3), min_size=n, max_size=n))
    )
    return {key: v for key, v in kwargs.items() if v is not None or key == "labels"}


# --- checks -------------------------------------------------------------------------------------


def assert_valid(ds: Dataset, kwargs: dict) -> None:
    event("valid dataset")
    n, k = ds.n_samples, ds.n_classes
    assert n >= 2 and k >= 2
    assert ds.labels.dtype == np.int64 and ds.labels.shape == (n,)
    assert ds.labels.min() >= 0 and ds.labels.max() < k
    assert len(ds.class_names) == k == len(set(ds.class_names))
    assert all(isinstance(c, str) for c in ds.class_names)
    if ds.pred_probs is not None:
        assert ds.pred_probs.shape == (n, k) and ds.pred_probs.dtype == np.float32
        assert np.isfinite(ds.pred_probs).all()
        assert ds.pred_probs.min() >= 0 and np.allclose(ds.pred_probs.sum(1), 1, atol=2e-3)
    for name in ("features", "coords"):
        x = getattr(ds, name)
        if x is not None:
            assert x.dtype == np.float32 and x.ndim == 2 and len(x) == n and x.shape[1] >= 1
            assert np.isfinite(x).all()
    for arr in ds.trajectories.values():
        assert len(arr) == n and np.isfinite(arr).all()
    if ds.annotators is not None:
        assert ds.annotators.shape[0] == n and ds.annotators.max() < k
        assert ds.annotators.min() >= -1
    if ds.true_labels is not None:
        assert ds.true_labels.shape == (n,) and ds.true_labels.max() < k
    if ds.previews is not None:
        assert len(ds.previews) == n


#: Phrases of numpy, pandas and Python's own messages: reaching the user with one of them means
#: a check of ours is missing.
FOREIGN = (
    "setting an array element", "inhomogeneous", "invalid literal", "could not convert",
    "object of type", "ScalarType", "out of bounds", "cannot reshape", "unhashable",
    "not supported between", "has no len", "object is not", "Python int too large",
)  # fmt: skip


def assert_names_an_argument(err: Exception, names) -> None:
    event(type(err).__name__)
    msg = str(err)
    assert any(name in msg for name in names), f"{type(err).__name__} names none of {names}: {msg}"
    assert not any(f in msg for f in FOREIGN), f"a library's message reached the user: {msg}"


@pytest.mark.filterwarnings("ignore::workbench.core.dataset.EmptyClassWarning")
@SETTINGS
@given(kwargs=dataset_kwargs())
def test_dataset_is_valid_or_the_error_names_the_argument(kwargs):
    given_names = [k for k in kwargs]
    try:
        ds = Dataset(**kwargs)
    except (ValueError, TypeError) as err:
        assert_names_an_argument(err, given_names)
    else:
        assert_valid(ds, kwargs)


@st.composite
def one_hostile_argument(draw):
    """Good labels (three classes, each present) plus one arbitrary argument."""
    n = draw(st.integers(3, N_MAX))
    labels = np.arange(n) % 3
    name = draw(
        st.sampled_from(["pred_probs", "features", "coords", "annotators", "true_labels",
                         "trajectories", "class_names", "previews", "metadata"])
    )  # fmt: skip
    if name == "pred_probs":
        value = draw(signal_strategy(n, 3))
    elif name in ("features", "coords", "annotators"):
        value = draw(signal_strategy(n, 2))
    elif name == "true_labels":
        value = draw(labels_strategy(n))
    elif name == "trajectories":
        kind = draw(st.sampled_from(["loss", "margin", "given_prob", "predicted", "other"]))
        value = draw(st.fixed_dictionaries({kind: signal_strategy(n, 2)}))
    elif name == "class_names":
        value = draw(
            st.lists(st.text("ab0", max_size=2) | st.integers(0, 3), max_size=4)
            | st.sampled_from(["abc", 3, {"a": 1}])
        )
    elif name == "previews":
        value = draw(st.sampled_from([5, "text", None, {"a": 1}]) | st.lists(st.text(), max_size=n))
    else:
        value = draw(st.sampled_from([5, "m", pd.DataFrame({"a": range(n + 1)}), np.ones(n)]))
    return labels, name, value


@pytest.mark.filterwarnings("ignore::workbench.core.dataset.EmptyClassWarning")
@SETTINGS
@given(case=one_hostile_argument())
def test_an_error_names_the_argument_at_fault(case):
    labels, name, value = case
    try:
        ds = Dataset(labels, **{name: value})
    except (ValueError, TypeError) as err:
        assert_names_an_argument(err, [name])
    else:
        assert_valid(ds, {name: value})


# --- the command line's readers ------------------------------------------------------------------

SUFFIXES = [".csv", ".tsv", ".parquet", ".npy", ".npz"]


def _write(path: Path, table: pd.DataFrame | np.ndarray, key: str) -> None:
    """Write ``table`` to ``path`` in the format its suffix names."""
    arr = table.to_numpy() if isinstance(table, pd.DataFrame) else table
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(np.atleast_2d(arr.T).T)
    frame.columns = [str(c) for c in frame.columns]
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".npy":
        np.save(path, arr, allow_pickle=False)
    else:
        np.savez(path, **{key: arr})


@st.composite
def cli_files(draw):
    n = draw(st.integers(0, N_MAX))
    labels = draw(labels_strategy(n))
    labels = pd.Series(labels).astype(str).to_numpy() if isinstance(labels, list) else labels
    labels = np.asarray(labels)
    if labels.dtype == object:
        labels = labels.astype(str)
    files = {"labels": (draw(st.sampled_from(SUFFIXES)), labels)}
    for name, width in (("pred_probs", draw(st.integers(1, 4))), ("features", 2)):
        value = draw(signal_strategy(n, width))
        if value is not None and not isinstance(value, list):
            files[name] = (draw(st.sampled_from(SUFFIXES)), np.asarray(value))
    if draw(st.booleans()):
        files["garbage"] = (draw(st.sampled_from(SUFFIXES)), draw(st.binary(max_size=40)))
    return files


FLAGS = {"labels": "LABELS_FILE", "pred_probs": "--pred-probs", "features": "--features"}


@pytest.mark.filterwarnings("ignore::workbench.core.dataset.EmptyClassWarning")
@settings(SETTINGS, max_examples=max(EXAMPLES * 2 // 3, 1))
@given(files=cli_files(), garbage_role=st.sampled_from(["labels", "pred_probs", "features"]))
def test_cli_readers_give_a_dataset_or_an_error_naming_the_file_or_argument(files, garbage_role):
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        garbage = files.pop("garbage", None)
        for name, (suffix, value) in files.items():
            path = Path(tmp) / f"{name}{suffix}"
            try:
                _write(path, value, name)
            except Exception:  # noqa: BLE001 - a value that format cannot store
                reject()
            paths[name] = path
        if garbage is not None:
            suffix, data = garbage
            paths[garbage_role] = Path(tmp) / f"garbage{suffix}"
            paths[garbage_role].write_bytes(data)
        given_names = [FLAGS[k] for k in paths] + list(paths) + [str(p) for p in paths.values()]
        try:
            ds = load_inputs(
                paths["labels"],
                pred_probs=paths.get("pred_probs"),
                features=paths.get("features"),
            )
        except (ValueError, TypeError) as err:
            assert_names_an_argument(err, given_names)
        else:
            assert_valid(ds, {})
