"""The detector registry: names to detector classes, and which of them can run on a dataset."""

from __future__ import annotations

from workbench.analysis.detectors.base import KINDS, Detector, DetectorResult
from workbench.core.dataset import Dataset

__all__ = [
    "check_detector_names",
    "configure_detector",
    "register",
    "get_detector",
    "list_detectors",
    "available_detectors",
    "run_detectors",
    "score_each",
    "detector_attr",
    "detector_kind",
    "label_error_detectors",
]

_REGISTRY: dict[str, type[Detector]] = {}


def _registry() -> dict[str, type[Detector]]:
    # Importing this module runs the package's __init__ first, which imports every detector
    # module: the registry is complete whatever was imported first.
    return _REGISTRY


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator adding a detector to the registry under ``cls.name``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a class attribute `name` to be registered.")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"A detector named {cls.name!r} is already registered.")
    if cls.kind not in KINDS:
        raise ValueError(f"{cls.__name__}.kind must be one of {KINDS}, found {cls.kind!r}.")
    _REGISTRY[cls.name] = cls
    return cls


def list_detectors() -> list[str]:
    """Names of every registered detector."""
    return sorted(_registry())


def check_detector_names(detectors) -> list[str] | None:
    """Detector names from a list or a comma-separated string, checked and de-duplicated in
    order; None stays None (every detector that can run)."""
    if detectors is None:
        return None
    if isinstance(detectors, str):
        detectors = [d.strip() for d in detectors.split(",") if d.strip()]
    names = list(detectors)
    if not names:
        raise ValueError("detectors is empty; name at least one detector or pass None for all.")
    unknown = [n for n in names if n not in _registry()]
    if unknown:
        raise ValueError(f"Unknown detector(s) {unknown}; choose from {list_detectors()}.")
    return list(dict.fromkeys(names))


def configure_detector(name: str, *, device=None, seed=None, **params) -> Detector:
    """Detector ``name`` built with ``params``, and with ``device`` / ``seed`` wherever its
    constructor takes them (None leaves the detector's own default): the run-wide options of
    an audit reach every detector that computes on a device or draws random numbers."""
    import inspect

    cls = _registry().get(name)
    if cls is None:
        return get_detector(name, **params)  # the error message lists the names
    accepted = inspect.signature(cls.__init__).parameters
    common = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
    return get_detector(name, **{k: v for k, v in common.items() if k in accepted}, **params)


def get_detector(name: str, **params) -> Detector:
    """Instantiate the detector registered as ``name`` with ``params``."""
    try:
        cls = _registry()[name]
    except KeyError:
        raise ValueError(f"Unknown detector {name!r}; choose from {list_detectors()}.") from None
    return cls(**params)


def detector_kind(name: str) -> str:
    """What the detector ``name`` ranks (see ``Detector.kind``); ``"label_error"`` for a name
    that is not registered (results made by hand)."""
    cls = _registry().get(name)
    return cls.kind if cls is not None else "label_error"


def detector_attr(name: str, attr: str) -> str:
    """A registered detector's class attribute as text (``summary``, ``reference``...); ``""``
    for a name that is not registered or an attribute it does not have."""
    cls = _registry().get(name)
    return str(getattr(cls, attr, "") or "") if cls is not None else ""


def label_error_detectors(names) -> list[str]:
    """The names among ``names`` whose scores rank label errors, in the given order."""
    return [n for n in names if detector_kind(n) == "label_error"]


def available_detectors(dataset: Dataset) -> dict[str, str | None]:
    """Map every detector name to None when it can run on ``dataset``, else the reason why not."""
    return {name: cls().missing(dataset) for name, cls in sorted(_registry().items())}


def run_detectors(
    dataset: Dataset,
    names=None,
    *,
    progress: bool = True,
    errors: str = "raise",
    device=None,
    seed=None,
) -> dict[str, DetectorResult]:
    """Run the named detectors (default: every one that can run) and return their results.

    ``device`` and ``seed`` reach every detector that takes them (kNN search, statistics pass,
    ReCoV, Dawid-Skene, loss mixture); None leaves each detector's default.
    ``progress=False`` silences every progress bar, the detectors' own included.
    ``errors="warn"`` leaves a detector that fails out of the result with a RuntimeWarning
    (Ctrl-C and running out of memory still stop everything); ``"raise"`` re-raises.
    """
    if errors not in ("raise", "warn"):
        raise ValueError(f"errors must be 'raise' or 'warn', found {errors!r}.")
    results, _, _ = score_each(
        dataset, names, progress=progress, raise_errors=errors == "raise", device=device, seed=seed
    )
    return results


def score_each(
    dataset: Dataset,
    names=None,
    *,
    progress: bool = True,
    raise_errors: bool = False,
    device=None,
    seed=None,
    params: dict[str, dict] | None = None,
):
    """Run the named detectors (default: every one that can run), one failure not stopping
    the others; ``device`` / ``seed`` as in :func:`run_detectors`; ``params`` maps a detector
    name to keyword options of its constructor (e.g. ``{"near_duplicate": {"split": "fold"}}``).
    Returns ``(results, failed, seconds)``: the results, ``{name: "Error:
    message"}`` of the detectors that failed (each also a RuntimeWarning), and the seconds
    each took."""
    import time
    import warnings

    from tqdm.auto import tqdm

    if names is None:
        names = [n for n, why in available_detectors(dataset).items() if why is None]
    results, failed, seconds = {}, {}, {}
    for name in tqdm(names, desc="detectors", disable=not progress):
        t0 = time.perf_counter()
        try:
            options = (params or {}).get(name, {})
            detector = configure_detector(name, device=device, seed=seed, **options)
            results[name] = detector.score(dataset, progress=progress)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as err:  # one broken detector must not sink the others
            if raise_errors:
                raise
            failed[name] = f"{type(err).__name__}: {err}"
            warnings.warn(f"Detector {name!r} failed: {failed[name]}", RuntimeWarning, stacklevel=3)
        seconds[name] = time.perf_counter() - t0
    return results, failed, seconds
