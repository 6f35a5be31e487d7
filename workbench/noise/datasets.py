"""Datasets to learn on: seeded Gaussian mixtures of any size, the digits demo with simulated
noise, and the real, crowd-verified label errors of the MNIST and 20 Newsgroups test sets.

N samples, K classes, D features. Noise kinds are those of :mod:`workbench.noise`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from workbench import noise as nz
from workbench.core.dataset import Dataset
from workbench.core.typing import ArrayLike, SeedLike
from workbench.core.validation import check_rng, check_transition
from workbench.noise._base import _check_rate

__all__ = [
    "DEMO_NOISE_KINDS",
    "LABEL_ERROR_SETS",
    "LabelErrors",
    "load_demo",
    "load_label_errors",
    "load_label_errors_dir",
    "make_gaussian_mixture",
]

#: Noise kinds ``load_demo`` understands (or pass a K×K transition matrix).
DEMO_NOISE_KINDS = ("none", "symmetric", "pair", "random", "instance", "open_set", "annotators")

#: Real label-error sets shipped with the package.
LABEL_ERROR_SETS = ("mnist", "20news")

_CHUNK = 1 << 22  # floats generated at once


# --- synthetic data --------------------------------------------------------------------------


def make_gaussian_mixture(
    n_samples: int,
    n_classes: int,
    n_features: int,
    *,
    separation: float = 3.0,
    class_weights: ArrayLike | None = None,
    seed: SeedLike = None,
    return_centers: bool = False,
):
    """Seeded Gaussian blobs with known true labels, at any N (float32, built in chunks).

    Each class is a unit-variance Gaussian around its own centre. Centres are ``separation``
    apart: exactly (orthogonal directions) when K <= D, approximately (random directions) when
    K > D. ``separation`` around 2 gives overlapping classes, 4 or more well separated ones.

    Parameters
    ----------
    n_samples, n_classes, n_features : int
        N >= 1, K >= 2, D >= 1.
    separation : float, default=3.0
        Distance between class centres in units of the within-class standard deviation.
    class_weights : array-like of shape (K,), optional
        Class proportions (normalised); default balanced.
    seed : int or numpy.random.Generator, optional
    return_centers : bool, default=False
        Also return the (K, D) centres.

    Returns
    -------
    features : ndarray of shape (N, D), float32
    labels : ndarray of shape (N,), int64
    centers : ndarray of shape (K, D), float64, only with ``return_centers=True``

    Examples
    --------
    >>> from workbench.noise.datasets import make_gaussian_mixture
    >>> x, y = make_gaussian_mixture(1000, 3, 2, seed=0)
    >>> x.shape, x.dtype.name, y[:5].tolist()
    ((1000, 2), 'float32', [1, 2, 1, 2, 2])
    """
    for name, v, low in (("n_samples", n_samples, 1), ("n_classes", n_classes, 2),
                         ("n_features", n_features, 1)):  # fmt: skip
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, found {v!r}.")
    if (
        not isinstance(separation, (int, float, np.number))
        or not np.isfinite(separation)
        or (separation < 0)
    ):
        raise ValueError(f"separation must be a non-negative number, found {separation!r}.")
    n, k, d = int(n_samples), int(n_classes), int(n_features)
    if class_weights is None:
        p = np.full(k, 1.0 / k)
    else:
        p = np.asarray(class_weights, dtype=np.float64)
        if p.shape != (k,) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
            raise ValueError(
                f"class_weights must be K={k} non-negative numbers with a positive sum, found "
                f"{class_weights!r}."
            )
        p = p / p.sum()
    rng = check_rng(seed)
    if k <= d:
        q, _ = np.linalg.qr(rng.standard_normal((d, k)))
        directions = q.T
    else:
        directions = rng.standard_normal((k, d))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    centers = directions * (separation / np.sqrt(2.0))
    labels = rng.choice(k, size=n, p=p).astype(np.int64)
    features = np.empty((n, d), dtype=np.float32)
    step = max(1, _CHUNK // d)
    centers32 = centers.astype(np.float32)
    for lo in range(0, n, step):
        block = features[lo : lo + step]
        rng.standard_normal(out=block, dtype=np.float32)
        block += centers32[labels[lo : lo + step]]
    return (features, labels, centers) if return_centers else (features, labels)


# --- the digits demo ---------------------------------------------------------------------------


def load_demo(
    noise: str | ArrayLike = "symmetric",
    rate: float = 0.2,
    seed: SeedLike = 0,
    *,
    imbalance_ratio: float | None = None,
) -> Dataset:
    """The default demo: scikit-learn's bundled 8×8 digits (1,797 images) with simulated noise.

    Works offline. The Dataset holds the given (noisy) labels, the true labels, the 64 pixel
    values scaled to [0, 1] as ``features``, the images as uint8 ``previews`` (8×8, 0..255),
    class names "0".."9", and ``metadata`` with ``digit_index`` (row in ``load_digits``),
    ``is_noisy`` (the given label is wrong) and ``true_digit``. ``metadata.attrs["noise"]``
    records the kind, the requested and realised rates and the realised transition matrix.

    Parameters
    ----------
    noise : str or array-like of shape (10, 10), default="symmetric"
        One of :data:`DEMO_NOISE_KINDS`, or a transition matrix ``T[i, j] = P(given = j |
        true = i)``:

        - ``"symmetric"``, ``"pair"`` (digit d -> d+1), ``"random"`` (a random valid matrix with
          trace ``10 (1 - rate)``), ``"instance"`` (hard digits flip more, to look-alikes):
          ``rate`` is the flip probability;
        - ``"open_set"``: two digits are held out; ``rate`` of the final dataset are images of
          those digits, labelled as the nearest kept digit (capped by the images available).
          Class names are then the 8 kept digits and their ``true_labels`` are -1 (unknown:
          none of the classes), so use ``metadata["is_noisy"]`` as the ground truth;
        - ``"annotators"``: five simulated annotators (one a spammer, the others right with
          probability ``1 - rate``) label each image three times; the given label is their
          majority vote (so fewer than ``rate`` are wrong) and ``annotators`` holds all votes;
        - ``"none"``: clean labels.
    rate : float in [0, 1), default=0.2
    seed : int or numpy.random.Generator, default=0
    imbalance_ratio : float >= 1, optional
        First subsample to a long-tailed profile (digit 0 largest, digit 9 ``imbalance_ratio``
        times smaller), then add the noise.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> from workbench.noise.datasets import load_demo
    >>> ds = load_demo("pair", rate=0.1, seed=0)
    >>> ds
    Dataset(N=1797, K=10, signals=['features', 'true_labels', 'previews'])
    >>> round(float(ds.is_noisy.mean()), 3)
    0.098
    """
    from sklearn.datasets import load_digits

    transition = None
    if isinstance(noise, str):
        if noise not in DEMO_NOISE_KINDS:
            raise ValueError(f"Unknown noise kind {noise!r}; choose from {DEMO_NOISE_KINDS}.")
    else:
        transition = check_transition(noise, name="noise", n_classes=10)
        noise = "transition"
    rate = _check_rate(rate)
    rng = check_rng(seed)
    digits = load_digits()
    true = digits.target.astype(np.int64)
    features = (digits.data / 16.0).astype(np.float32)
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    rows = np.arange(len(true))
    names = [str(i) for i in range(10)]
    if imbalance_ratio is not None:
        rows = nz.long_tailed(true, imbalance_ratio, seed=rng).indices
    y, x = true[rows], features[rows]
    annotators, kept, true_out = None, None, y
    if noise == "open_set":
        outside = np.sort(rng.choice(10, size=2, replace=False))
        n_avail = int(np.isin(y, outside).sum())
        n_open = min(n_avail, int(round(rate / (1 - rate) * (len(y) - n_avail))))
        o = nz.open_set_noise(y, n_open, outside_classes=outside, features=x, seed=rng)
        rows, given, true_out = rows[o.indices], o.noisy_labels, o.true_labels
        kept, is_noisy, y = o.kept_classes, o.is_open_set, y[o.indices]
        names = [names[c] for c in kept]
        info = {"outside_digits": [str(c) for c in outside]}
    elif noise == "annotators":
        sim = nz.simulate_annotators(
            y, 5, accuracy=1 - rate, n_spammers=1, labels_per_sample=3, seed=rng
        )
        given = sim.majority_vote(seed=rng)
        annotators, is_noisy = sim.labels, given != y
        info = {"is_spammer": sim.is_spammer.tolist(), "annotator_accuracy": sim.accuracy.tolist()}
    else:
        if noise == "none":
            result = nz.noise_from_transition(y, np.eye(10), seed=rng)
        elif noise == "symmetric":
            result = nz.symmetric_noise(y, rate, n_classes=10, seed=rng)
        elif noise == "pair":
            result = nz.pair_flip_noise(y, rate, n_classes=10, seed=rng)
        elif noise == "random":
            t = nz.random_transition_matrix(10, 10 * (1 - rate), seed=rng, valid=rate < 0.9)
            result = nz.noise_from_transition(y, t, seed=rng)
        elif noise == "instance":
            result = nz.instance_dependent_noise(y, x, rate, n_classes=10, seed=rng)
        else:
            result = nz.noise_from_transition(y, transition, seed=rng)
        given, is_noisy = result.noisy_labels, result.is_flipped
        info = {}
    known = true_out >= 0
    metadata = pd.DataFrame(
        {"digit_index": rows, "is_noisy": is_noisy, "true_digit": y.astype(str)}
    )
    realised = nz.realised_transition(true_out[known], given[known], n_classes=len(names))
    metadata.attrs["noise"] = {
        "kind": noise,
        "rate": rate,
        "realised_rate": float(is_noisy.mean()),
        "imbalance_ratio": imbalance_ratio,
        "transition": realised.tolist(),
        **info,
    }
    return Dataset(
        given,
        class_names=names,
        true_labels=true_out,
        features=features[rows],
        previews=images[rows],
        annotators=annotators,
        metadata=metadata,
    )


# --- real label errors -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LabelErrors:
    """A dataset with real, crowd-verified label errors.

    Attributes
    ----------
    name : str
    dataset : Dataset
        Given labels and out-of-sample ``pred_probs``; ``metadata`` has ``reviewed``,
        ``confirmed_error`` and ``guessed_label`` (-1 where not reviewed). ``true_labels`` is
        not set: an unreviewed sample is unknown, not clean.
    candidates : pandas.DataFrame
        One row per reviewed candidate: ``index``, ``given_label``, ``guessed_label``, their
        names, the worker votes ``votes_given``, ``votes_guessed``, ``votes_neither``,
        ``votes_both`` and ``confirmed`` (fewer than 3 of 5 workers chose the given label).
    """

    name: str
    dataset: Dataset
    candidates: pd.DataFrame

    @property
    def confirmed_errors(self) -> np.ndarray:
        """Indices of the confirmed label errors, ascending."""
        return np.sort(self.candidates.loc[self.candidates["confirmed"], "index"].to_numpy())

    @property
    def is_confirmed(self) -> np.ndarray:
        """Boolean (N,): confirmed label error."""
        out = np.zeros(self.dataset.n_samples, dtype=bool)
        out[self.confirmed_errors] = True
        return out

    @property
    def is_reviewed(self) -> np.ndarray:
        """Boolean (N,): reviewed by the crowd workers."""
        out = np.zeros(self.dataset.n_samples, dtype=bool)
        out[self.candidates["index"].to_numpy()] = True
        return out

    def __repr__(self) -> str:
        return (
            f"LabelErrors({self.name!r}, N={self.dataset.n_samples}, K={self.dataset.n_classes}, "
            f"reviewed={len(self.candidates)}, confirmed={len(self.confirmed_errors)})"
        )


def load_label_errors(name: str) -> LabelErrors:
    """Load the MNIST or 20 Newsgroups test set with its crowd-verified label errors.

    Shipped with the package (Apache-2.0, from the public label-errors release of Northcutt,
    Athalye, Mueller, "Pervasive Label Errors in Test Sets Destabilize Machine Learning
    Benchmarks", NeurIPS 2021). ``pred_probs`` are out-of-sample (cross-validated).

    Parameters
    ----------
    name : {"mnist", "20news"}

    Returns
    -------
    LabelErrors

    Examples
    --------
    >>> from workbench.noise.datasets import load_label_errors
    >>> load_label_errors("mnist")
    LabelErrors('mnist', N=10000, K=10, reviewed=100, confirmed=15)
    """
    if name not in LABEL_ERROR_SETS:
        raise ValueError(f"Unknown label-error set {name!r}; choose from {LABEL_ERROR_SETS}.")
    with resources.as_file(resources.files("workbench") / "data" / "label_errors") as folder:
        return load_label_errors_dir(folder, name)


def load_label_errors_dir(directory: str | os.PathLike, name: str) -> LabelErrors:
    """Read a label-errors set from ``directory``: ``NAME_test_set_pyx.npy`` (N×K
    out-of-sample predicted probabilities), ``NAME_test_set_original_labels.npy`` (N labels) and
    ``NAME_mturk.json`` (the reviewed candidates and their votes).

    Raises
    ------
    FileNotFoundError
        If the folder or one of the three files is missing.
    ValueError
        If a file is malformed or the files disagree.
    """
    folder = os.fspath(directory)
    if not isinstance(name, str) or not name or os.sep in name:
        raise ValueError(f"name must be a set name such as 'mnist', found {name!r}.")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Label-errors folder {folder!r} does not exist.")
    paths = {
        part: os.path.join(folder, f"{name}_{part}")
        for part in ("test_set_pyx.npy", "test_set_original_labels.npy", "mturk.json")
    }
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        found = sorted(f[: -len("_test_set_pyx.npy")] for f in os.listdir(folder)
                       if f.endswith("_test_set_pyx.npy"))  # fmt: skip
        raise FileNotFoundError(
            f"Label-errors set {name!r} is incomplete in {folder!r}: missing "
            f"{[os.path.basename(p) for p in missing]}. Sets found there: {found}."
        )
    pyx = _load_npy(paths["test_set_pyx.npy"])
    labels = _load_npy(paths["test_set_original_labels.npy"])
    if pyx.ndim != 2:
        raise ValueError(f"{paths['test_set_pyx.npy']}: expected an N×K array, found {pyx.shape}.")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{paths['test_set_original_labels.npy']}: expected N integer labels, found shape "
            f"{labels.shape} and dtype {labels.dtype}."
        )
    n, k = pyx.shape
    candidates = _read_candidates(paths["mturk.json"], labels, k)
    names = _class_names(candidates, k)
    reviewed = np.zeros(n, dtype=bool)
    reviewed[candidates["index"].to_numpy()] = True
    guessed = np.full(n, -1, dtype=np.int64)
    guessed[candidates["index"].to_numpy()] = candidates["guessed_label"].to_numpy()
    confirmed = np.zeros(n, dtype=bool)
    confirmed[candidates.loc[candidates["confirmed"], "index"].to_numpy()] = True
    metadata = pd.DataFrame(
        {"reviewed": reviewed, "confirmed_error": confirmed, "guessed_label": guessed}
    )
    try:
        dataset = Dataset(
            labels,  # checked there: overflow, range and the cast to float32 named
            class_names=names,
            pred_probs=pyx,
            metadata=metadata,
            renormalize=True,
        )
    except (ValueError, TypeError) as err:
        raise ValueError(f"Label-errors set {name!r} in {folder!r} is malformed: {err}") from err
    return LabelErrors(name, dataset, candidates)


def _load_npy(path: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:  # object arrays need pickle, which we never allow
        raise ValueError(f"{path}: not a plain numeric .npy array ({err}).") from err
    except OSError as err:
        raise ValueError(f"{path}: not a readable .npy file ({err}).") from err
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iuf":
        raise ValueError(f"{path}: expected a numeric array, found dtype {arr.dtype}.")
    return arr


def _read_candidates(path: str, labels: np.ndarray, k: int) -> pd.DataFrame:
    try:
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}).") from err
    if not isinstance(records, list):
        raise ValueError(
            f"{path}: expected a list of reviewed candidates, found {type(records).__name__}."
        )
    rows = []
    for i, rec in enumerate(records):
        try:
            idx, votes = int(rec["id"]), rec["mturk"]
            given, guessed = int(rec["given_original_label"]), int(rec["our_guessed_label"])
            row = {
                "index": idx,
                "given_label": given,
                "guessed_label": guessed,
                "given_name": str(rec.get("given_original_label_name", given)),
                "guessed_name": str(rec.get("our_guessed_label_name", guessed)),
                **{
                    f"votes_{v}": int(votes.get(v, 0))
                    for v in ("given", "guessed", "neither", "both")
                },
            }
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(
                f"{path}: record {i} is malformed ({err!r}); each needs 'id', "
                "'given_original_label', 'our_guessed_label' and 'mturk' votes."
            ) from err
        if not 0 <= idx < len(labels):
            raise ValueError(f"{path}: record {i} has id {idx} outside 0..{len(labels) - 1}.")
        if labels[idx] != given:
            raise ValueError(
                f"{path}: record {i} says sample {idx} is labelled {given} but the labels file "
                f"has {labels[idx]}; the files do not belong together."
            )
        if not 0 <= guessed < k:
            raise ValueError(f"{path}: record {i} guesses class {guessed}, outside 0..{k - 1}.")
        rows.append(row)
    columns = ["index", "given_label", "guessed_label", "given_name", "guessed_name",
               "votes_given", "votes_guessed", "votes_neither", "votes_both"]  # fmt: skip
    df = pd.DataFrame(rows, columns=columns)
    ints = [c for c in columns if not c.endswith("_name")]
    df[ints] = df[ints].astype(np.int64)
    if df["index"].duplicated().any():
        raise ValueError(f"{path}: sample ids appear more than once.")
    df["confirmed"] = df["votes_given"] < 3
    return df.sort_values("index", kind="stable").reset_index(drop=True)


def _class_names(candidates: pd.DataFrame, k: int) -> list[str]:
    """Class names from the candidates' given/guessed names when they cover all K classes
    consistently; otherwise "0".."K-1"."""
    pairs = pd.concat(
        [
            candidates[["given_label", "given_name"]].set_axis(["c", "n"], axis=1),
            candidates[["guessed_label", "guessed_name"]].set_axis(["c", "n"], axis=1),
        ]
    ).drop_duplicates()
    if pairs["c"].nunique() == k == len(pairs) and pairs["n"].nunique() == k:
        return pairs.sort_values("c")["n"].tolist()
    return [str(i) for i in range(k)]
