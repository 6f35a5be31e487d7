"""The headless audit command: ``workbench-audit`` (also ``python -m workbench``).

Reads labels and whatever signals exist from CSV, Parquet, ``.npy`` or ``.npz`` files (never
pickle), runs :func:`workbench.audit` and writes the tables, the decisions template, the
summary and the static HTML report into one folder, atomically. Malformed input is reported in
one line and the command exits with status 2 before anything is written.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main", "build_parser", "load_inputs", "InputError"]

PROG = "workbench-audit"
EXIT_INPUT = 2

_TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_ARRAY_SUFFIXES = {".npy", ".npz"}
#: Keys a single ``.npz`` labels file may hold besides ``labels``.
NPZ_KEYS = ("labels", "pred_probs", "features", "coords", "true_labels", "class_names")

_EPILOG = """\
examples:
  workbench-audit demo --out audit-demo
      digits with 20% symmetric noise: probe, detectors, report (a few seconds on a CPU)
  workbench-audit labels.csv --label-column y --features emb.npy --out audit/
  workbench-audit labels.npy --pred-probs pred_probs.npy --out audit/ --detectors self_confidence
  workbench-audit data.parquet --label-column label --feature-columns 'emb_*' --out audit/
  workbench-audit bundle.npz --out audit/      (keys: labels, pred_probs, features, ...)
  workbench-audit shards/ --out audit/ [--scheduler tcp://10.0.0.5:8786]
      a folder of Parquet or .npy shards, audited on Dask (confident learning)

inputs:
  LABELS_FILE  .csv/.tsv/.parquet (a column of labels, see --label-column), .npy (1-D array)
               or .npz (key 'labels', optionally 'pred_probs', 'features', 'coords',
               'true_labels', 'class_names'). Labels are class indices 0..K-1 or names.
  --pred-probs must be OUT-OF-SAMPLE (cross-validated) probabilities, N rows x K columns.
  .npy/.npz files are read with allow_pickle=False: pickled objects are refused.

outputs (in --out, written atomically):
  scores.csv, flagged.csv, decisions_template.csv (load with DecisionLog.load),
  summary.json, report.html (self-contained, opens offline)

exit status: 0 success, 2 unreadable or malformed input (nothing written), 1 other errors.
"""


class InputError(ValueError):
    """Input files that cannot be read or do not fit together (exit status 2)."""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The argument parser of ``workbench-audit``."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Audit the labels of a classification dataset for label errors: compute\n"
        "the missing signals, run every applicable detector, and write tables plus a\n"
        "static HTML report.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        metavar="LABELS_FILE|demo",
        help="file with the given labels, or 'demo' for the bundled digits with injected noise",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    g = p.add_argument_group("signals")
    g.add_argument(
        "--pred-probs", metavar="FILE", help="out-of-sample predicted probabilities (N x K)"
    )
    g.add_argument("--features", metavar="FILE", help="features or embeddings (N x D)")
    g.add_argument("--coords", metavar="FILE", help="2-D map coordinates (N x 2)")
    g.add_argument(
        "--true-labels", metavar="FILE", help="true labels, when known (-1 where unknown)"
    )
    g = p.add_argument_group("columns of table files")
    g.add_argument(
        "--label-column",
        metavar="C",
        help="column holding the labels (default: 'label' or 'labels', or the only column)",
    )
    g.add_argument(
        "--feature-columns",
        metavar="SPEC",
        help="features taken from LABELS_FILE: comma-separated names or a prefix with '*' "
        "(e.g. 'emb_*')",
    )
    g.add_argument(
        "--pred-prob-columns",
        metavar="SPEC",
        help="pred_probs taken from LABELS_FILE, same syntax as --feature-columns",
    )
    g.add_argument(
        "--id-column",
        metavar="C",
        help="column of unique sample ids (file names, keys): every output names samples by "
        "them, beside their row position (default: row positions)",
    )
    g.add_argument(
        "--true-label-column",
        metavar="C",
        help="column of true labels (in LABELS_FILE, or in --true-labels when it is a table)",
    )
    g.add_argument(
        "--task",
        choices=("multiclass", "multilabel"),
        help="multilabel: every sample carries a set of classes, the label column holding "
        "'a|b' strings (or lists); default: inferred (one label per sample for text columns)",
    )
    g.add_argument(
        "--class-names",
        nargs="+",
        metavar="NAME",
        help="class names in index order (default: 0..K-1, or the sorted names found)",
    )
    g = p.add_argument_group("demo")
    g.add_argument("--noise", default="symmetric", help="demo noise kind (default: symmetric)")
    g.add_argument("--rate", type=float, default=0.2, help="demo noise rate (default: 0.2)")
    g = p.add_argument_group("audit")
    g.add_argument(
        "--detectors",
        metavar="A,B",
        help="comma-separated detectors to run (default: every one that can run)",
    )
    g.add_argument("--primary", metavar="NAME", help="detector whose flags make flagged.csv")
    g.add_argument(
        "--split",
        metavar="COLUMN",
        help="column of LABELS_FILE (a table) holding each sample's split (train, test, ...): "
        "near_duplicate (needs features) reports near duplicates across splits as leakage",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of every random step (default: 0)")
    g.add_argument("--device", help="torch device: cpu, cuda, cuda:1, mps (default: best)")
    g.add_argument(
        "--no-compute",
        action="store_true",
        help="use only the given signals: no probe, no projection",
    )
    g.add_argument(
        "--probe", choices=("linear", "mlp"), default="linear", help="probe model (default: linear)"
    )
    g.add_argument(
        "--folds",
        type=int,
        default=5,
        metavar="K",
        help="folds of the cross-validated probe; every class needs at least K samples "
        "(default: 5)",
    )
    g.add_argument(
        "--projection", choices=("pca", "umap"), default="pca", help="2-D map method (default: pca)"
    )
    g.add_argument(
        "--top", type=int, default=50, help="flagged samples shown in the report (default: 50)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    g = p.add_argument_group("sharded data (LABELS_FILE is a folder of Parquet or .npy shards)")
    g.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run on this Dask scheduler (default: a LocalCluster on this machine)",
    )
    g.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")
    g.add_argument("--memory-limit", default="1GiB", help="per LocalCluster worker (default 1GiB)")
    return p


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """Run the command; returns the exit status (0 ok, 2 bad input, 1 other failure)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    progress = not args.quiet
    if Path(args.source).is_dir() or args.scheduler is not None:
        if args.split is not None:
            return _fail(InputError("--split applies to a single table or array file, not shards."))
        return _sharded_main(args, progress)
    try:
        out = _check_out(args.out)
        if args.top < 0:
            raise InputError(f"--top must be 0 or more, found {args.top}.")
        if args.folds < 2:
            raise InputError(f"--folds must be 2 or more, found {args.folds}.")
        if args.device is not None and not args.no_compute:
            from workbench.compute import resolve_device

            resolve_device(args.device)
        if args.detectors is not None:
            from workbench.analysis.detectors import check_detector_names

            check_detector_names(args.detectors)
        dataset = _load_dataset(args)
        if args.split is not None and dataset.is_multilabel:
            raise InputError("--split applies to single-label data (near_duplicate's leakage).")
        if not (
            dataset.trajectories or any(map(dataset.has, ("pred_probs", "features", "annotators")))
        ):
            raise InputError(
                "the input holds labels only; give --pred-probs (out-of-sample probabilities) "
                "or --features (embeddings a probe can learn from) so the detectors have a signal."
            )
    except (InputError, ValueError, TypeError, OSError) as err:
        return _fail(err)

    if dataset.is_multilabel:
        return _multilabel_main(args, dataset, out, progress)
    from workbench.pipeline.run import audit

    # Some steps draw progress bars of their own; --quiet silences them by holding stderr.
    held = contextlib.redirect_stderr(io.StringIO()) if args.quiet else contextlib.nullcontext()
    try:
        with held, warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore", RuntimeWarning)  # failures are listed below
            result = audit(
                dataset,
                compute_missing=not args.no_compute,
                detectors=args.detectors,
                seed=args.seed,
                device=args.device,
                progress=progress,
                probe={"model": args.probe, "n_folds": args.folds},
                projection=args.projection,
                primary=args.primary,
                split=args.split,
            )
    except (ValueError, TypeError) as err:
        return _fail(err)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written.", file=sys.stderr)
        return 130
    if args.quiet:
        for name, msg in result.failed.items():
            print(f"{PROG}: warning: detector {name} failed: {msg}", file=sys.stderr)
    try:
        files = result.write(out, top=args.top)
    except OSError as err:
        print(f"{PROG}: error: cannot write {out}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written.", file=sys.stderr)
        return 130
    if not args.quiet:
        s = result.summary()
        est = s["estimated_num_errors"]
        print(
            f"{PROG}: {s['n_samples']:,} samples, {s['n_classes']} classes; "
            f"{len(result.results)} detectors ran, {len(result.unavailable)} could not; "
            f"{s['n_flagged']:,} flagged by {result.primary}"
            + (f"; estimated label errors: {est:,}" if est is not None else "")
        )
        print(f"{PROG}: wrote {', '.join(files)} to {out}")
    return 0


def _sharded_main(args, progress: bool) -> int:
    """A folder of shards: confident learning on Dask (workbench.sharded); per-sample Parquet
    parts in --out/scores and --out/summary.json. Progress as tqdm, the dashboard link printed."""
    from workbench.sharded import ShardedDataset, audit_sharded
    from workbench.sharded.engine import filter_by_of

    try:
        if not Path(args.source).is_dir():
            raise InputError(f"--scheduler needs LABELS_FILE to be a folder of shards, found "
                             f"{args.source!r}.")  # fmt: skip
        out = _check_out(args.out)
        cols = args.pred_prob_columns.split(",") if args.pred_prob_columns else None
        ds = ShardedDataset.from_folder(args.source, label_column=args.label_column or "label",
                                        prob_columns=cols, class_names=args.class_names)  # fmt: skip
        result = audit_sharded(
            ds, scheduler=args.scheduler, n_workers=args.workers, out=out,
            memory_limit=args.memory_limit, primary=filter_by_of(args.primary),
            progress=progress, verbose=progress,
        )  # fmt: skip
    except (ValueError, TypeError, OSError) as err:
        return _fail(err)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=sys.stderr)
        return 130
    if progress:
        print(f"{PROG}: {result.n_samples:,} samples in {result.n_shards} shards, "
              f"{result.n_classes} classes; {result.flagged[result.primary]:,} flagged by "
              f"{result.primary}; estimated label errors: {result.estimated_num_errors:,}")  # fmt: skip
        print(f"{PROG}: wrote scores/part-*.parquet, summary.json to {out}")
    return 0


def _multilabel_main(args, dataset, out: Path, progress: bool) -> int:
    """The audit of a multi-label dataset: detectors on label sets, CSV tables, summary.json and
    report.html."""
    from workbench.pipeline.multilabel import audit_multilabel

    held = contextlib.redirect_stderr(io.StringIO()) if args.quiet else contextlib.nullcontext()
    try:
        with held, warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore", RuntimeWarning)
            result = audit_multilabel(
                dataset, compute_missing=not args.no_compute, detectors=args.detectors,
                seed=args.seed, device=args.device, progress=progress,
                probe={"model": args.probe, "n_folds": args.folds}, primary=args.primary,
            )  # fmt: skip
        files = result.write(out)
    except (ValueError, TypeError) as err:
        return _fail(err)
    except OSError as err:
        print(f"{PROG}: error: cannot write {out}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=sys.stderr)
        return 130
    if not args.quiet:
        s = result.summary()
        print(
            f"{PROG}: {s['n_samples']:,} samples, {s['n_classes']} classes (multi-label); "
            f"{len(result.results)} detectors ran, {len(result.unavailable)} could not; "
            f"{s['n_flagged']:,} flagged by {result.primary}"
        )
        print(f"{PROG}: wrote {', '.join(files)} to {out}")
    return 0


def _fail(err: BaseException) -> int:
    msg = " ".join(str(err).split()) or type(err).__name__
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return EXIT_INPUT


def _check_out(out: str) -> Path:
    """--out must be a folder we can write (checked before the audit runs, not after)."""
    from workbench.pipeline.result import check_writable

    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder.")
    try:
        check_writable(path)
    except (OSError, ValueError) as err:
        raise InputError(f"--out {out}: {err}") from None
    return path


# --- reading inputs ------------------------------------------------------------------------------
def _load_dataset(args):
    if args.source == "demo":
        from workbench.noise.datasets import load_demo

        if args.split is not None:
            raise InputError("--split names a column of LABELS_FILE; the demo has no split column.")
        if args.id_column is not None:
            raise InputError("--id-column names a column of LABELS_FILE; the demo has no ids.")

        return load_demo(noise=args.noise, rate=args.rate, seed=args.seed)
    return load_inputs(
        args.source,
        pred_probs=args.pred_probs,
        features=args.features,
        coords=args.coords,
        true_labels=args.true_labels,
        label_column=args.label_column,
        feature_columns=args.feature_columns,
        pred_prob_columns=args.pred_prob_columns,
        true_label_column=args.true_label_column,
        class_names=args.class_names,
        task=args.task,
        split_column=args.split,
        id_column=args.id_column,
    )


def load_inputs(
    labels_file,
    *,
    pred_probs=None,
    features=None,
    coords=None,
    true_labels=None,
    label_column: str | None = None,
    feature_columns: str | None = None,
    pred_prob_columns: str | None = None,
    true_label_column: str | None = None,
    class_names=None,
    task: str | None = None,
    split_column: str | None = None,
    id_column: str | None = None,
):
    """Read labels and signals from files into a validated :class:`~workbench.core.dataset.Dataset`.

    Parameters
    ----------
    labels_file : path
        ``.csv``/``.tsv``/``.parquet`` table, ``.npy`` 1-D array, or ``.npz`` bundle (keys
        :data:`NPZ_KEYS`).
    pred_probs, features, coords, true_labels : path, optional
        Separate files: tables (every column, numeric), ``.npy`` or ``.npz`` (the key of that
        name, or the only array). ``pred_probs`` must be out-of-sample. Rows are matched by
        position: row i of every file is sample i (also in Parquet files that kept an index).
    label_column, true_label_column : str, optional
        Columns of a table file.
    feature_columns, pred_prob_columns : str, optional
        Columns of the labels table holding features / pred_probs: comma-separated names or a
        prefix ending in ``*``.
    class_names : sequence of str, optional
    task : {"multiclass", "multilabel"}, optional
        ``"multilabel"``: the labels (and true labels) are label sets, e.g. a column of
        ``"a|b"`` strings; default inferred (see :class:`~workbench.core.dataset.Dataset`).
    split_column : str, optional
        Column of the labels table holding each sample's split (train / test / ...), kept as
        the Dataset's ``metadata`` (for ``near_duplicate``'s leakage between splits).
    id_column : str, optional
        Column of the labels table holding unique sample ids: the Dataset's ``ids``, so every
        output (scores, flagged, decisions template, report) names samples by them.

    Raises
    ------
    InputError
        For a missing, unreadable or malformed file, an unknown column, or a pickled array.
    ValueError, TypeError
        From the Dataset's validation (shape mismatch, NaN, probabilities off, ...).
    """
    from workbench.core.dataset import Dataset

    path = _existing(labels_file, "LABELS_FILE")
    signals: dict[str, np.ndarray | None] = {}
    suffix = path.suffix.lower()
    if id_column is not None and suffix not in _TABLE_SUFFIXES:
        raise InputError(
            f"--id-column {id_column!r} names a column of LABELS_FILE, but {path} is not a table "
            "(.csv, .tsv, .parquet)."
        )
    if split_column is not None and suffix not in _TABLE_SUFFIXES:
        raise InputError(
            f"--split {split_column!r} names a column of LABELS_FILE, but {path} is not a table "
            "(.csv, .tsv, .parquet)."
        )
    if suffix in _TABLE_SUFFIXES:
        table = _read_table(path, "LABELS_FILE")
        col = _label_column(table, label_column, path)
        labels = table[col]
        if feature_columns:
            signals["features"] = _numeric(table[_columns(table, feature_columns, path)], path)
        if pred_prob_columns:
            signals["pred_probs"] = _numeric(table[_columns(table, pred_prob_columns, path)], path)
        if true_label_column and true_labels is None:
            _need_column(table, true_label_column, path)
            signals["true_labels"] = table[true_label_column]
        if split_column is not None:
            _need_column(table, split_column, path)
            signals["metadata"] = table[[split_column]].reset_index(drop=True)
        if id_column is not None:
            _need_column(table, id_column, path)
            signals["ids"] = table[id_column].to_numpy()
    elif suffix == ".npz":
        bundle = _read_npz(path, "LABELS_FILE")
        if "labels" not in bundle:
            raise InputError(
                f"LABELS_FILE {path}: the .npz has no 'labels' array (keys: {sorted(bundle)})."
            )
        unknown = sorted(set(bundle) - set(NPZ_KEYS))
        if unknown:
            raise InputError(
                f"LABELS_FILE {path}: unknown .npz keys {unknown}; allowed: {list(NPZ_KEYS)}."
            )
        labels = bundle.pop("labels")
        if "class_names" in bundle and class_names is None:
            class_names = [str(c) for c in bundle.pop("class_names").tolist()]
        bundle.pop("class_names", None)
        signals.update(bundle)
    elif suffix == ".npy":
        labels = _read_npy(path, "LABELS_FILE")
    else:
        raise InputError(_suffix_message(path, "LABELS_FILE"))
    for name, file in (
        ("pred_probs", pred_probs),
        ("features", features),
        ("coords", coords),
        ("true_labels", true_labels),
    ):
        if file is not None:
            column = true_label_column if name == "true_labels" else None
            signals[name] = _read_signal(file, name, column)
    return Dataset(labels, class_names=class_names, task=task, **signals)


def _existing(file, what: str) -> Path:
    path = Path(file).expanduser()
    if not path.exists():
        raise InputError(f"{what} {file}: no such file.")
    if not path.is_file():
        raise InputError(f"{what} {file}: not a file.")
    return path


def _suffix_message(path: Path, what: str) -> str:
    return (
        f"{what} {path}: unsupported file type {path.suffix!r}; use .csv, .tsv, .parquet, .npy "
        "or .npz."
    )


def _read_table(path: Path, what: str) -> pd.DataFrame:
    kind = _TABLE_SUFFIXES[path.suffix.lower()]
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if kind == "tsv" else ",")
    except Exception as err:  # parser errors of every library become one clear line
        raise InputError(f"{what} {path}: cannot read it as {kind.upper()} ({err}).") from None
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError(f"{what} {path}: the table is empty.")
    return df.reset_index(drop=True)  # files are matched row by row, whatever index Parquet kept


def _read_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise InputError(
                f"{what} {path}: holds pickled Python objects, which are refused for safety; "
                "save a plain numeric or string array (np.save with allow_pickle=False)."
            ) from None
        raise InputError(f"{what} {path}: not a valid .npy file ({err}).") from None
    except (OSError, EOFError) as err:
        raise InputError(f"{what} {path}: not a valid .npy file ({err}).") from None


def _read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            # np.load hands back a member that is not a .npy as raw bytes: refuse it by name
            other = [m for m in z.zip.namelist() if not m.endswith(".npy")]
            if other:
                raise InputError(
                    f"{what} {path}: the .npz holds members that are not .npy arrays "
                    f"({_list(repr(m) for m in other)}); keep only arrays (np.savez) in it."
                )
            return {k: z[k] for k in z.files}
    except InputError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise InputError(
                f"{what} {path}: holds pickled Python objects, which are refused for safety; "
                "store plain numeric or string arrays."
            ) from None
        raise InputError(f"{what} {path}: not a valid .npz file ({err}).") from None
    except Exception as err:
        raise InputError(f"{what} {path}: not a valid .npz file ({err}).") from None


def _read_signal(file, name: str, column: str | None):
    flag = "--" + name.replace("_", "-")
    path = _existing(file, flag)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path, flag)
    if suffix == ".npz":
        arrays = _read_npz(path, flag)
        if name in arrays:
            return arrays[name]
        if len(arrays) == 1:
            return next(iter(arrays.values()))
        raise InputError(
            f"{flag} {path}: the .npz holds {sorted(arrays)}; name the array {name!r} or keep "
            "one array per file."
        )
    if suffix in _TABLE_SUFFIXES:
        table = _read_table(path, flag)
        if name == "true_labels":
            if column is not None:
                _need_column(table, column, path)
                return table[column]
            if table.shape[1] != 1:
                raise InputError(
                    f"{flag} {path}: the table has {table.shape[1]} columns; give "
                    "--true-label-column."
                )
            return table.iloc[:, 0]
        return _numeric(table, path)
    raise InputError(_suffix_message(path, flag))


def _label_column(table: pd.DataFrame, column: str | None, path: Path) -> str:
    if column is not None:
        _need_column(table, column, path)
        return column
    for c in ("label", "labels"):
        if c in table.columns:
            return c
    if table.shape[1] == 1:
        return table.columns[0]
    raise InputError(
        f"LABELS_FILE {path}: no 'label' column; give --label-column (columns: "
        f"{_list(table.columns)})."
    )


def _need_column(table: pd.DataFrame, column: str, path: Path) -> None:
    if column not in table.columns:
        raise InputError(f"{path}: no column {column!r} (columns: {_list(table.columns)}).")


def _columns(table: pd.DataFrame, spec: str, path: Path) -> list[str]:
    cols: list[str] = []
    for part in (s.strip() for s in spec.split(",")):
        if not part:
            continue
        if part.endswith("*"):
            hits = [c for c in table.columns if str(c).startswith(part[:-1])]
            if not hits:
                raise InputError(
                    f"{path}: no column starts with {part[:-1]!r} (columns: "
                    f"{_list(table.columns)})."
                )
            cols.extend(hits)
        else:
            _need_column(table, part, path)
            cols.append(part)
    if not cols:
        raise InputError(f"{path}: the column list {spec!r} names no column.")
    return list(dict.fromkeys(cols))


def _numeric(df: pd.DataFrame, path: Path) -> np.ndarray:
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise InputError(
            f"{path}: columns {_list(bad)} are not numeric; signals must be numbers (check for "
            "text or a header row)."
        )
    return df.to_numpy(dtype=np.float64)


def _list(cols) -> str:
    cols = [str(c) for c in cols]
    return ", ".join(cols[:12]) + (f", ... ({len(cols)} in all)" if len(cols) > 12 else "")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
