"""Decision files: the on-disk schema (JSON, CSV, Parquet; never pickle), its validation, and
atomic writes (temporary file in the same folder, fsync, rename over the target).

A decisions file holds a header ``{"format", "version", "n_samples", "class_names"}`` and one row
per decision with the columns of :data:`COLUMNS`. JSON keeps the header at the top level and the
rows as columns under ``"entries"``; CSV puts the header as JSON on a first line starting
``# ``; Parquet keeps it in the schema metadata under ``workbench``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "steps_frame",
    "STR_COLUMNS",
    "INT_COLUMNS",
    "ACTIONS",
    "COLUMNS",
    "FORMAT",
    "VERSION",
    "atomic_write",
    "encode",
    "format_of",
    "read_decisions",
]

#: What a reviewer can decide about a sample.
ACTIONS = ("keep", "remove", "relabel", "needs_review")
FORMAT = "label-noise-workbench/decisions"
VERSION = 1
_FORMATS = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
INT_COLUMNS = ("step", "index", "label")
STR_COLUMNS = ("action", "label_name", "user", "time", "detector", "threshold", "note")
COLUMNS = (
    "step",
    "index",
    "action",
    "label",
    "label_name",
    "user",
    "time",
    "detector",
    "threshold",
    "score",
    "note",
)
_CHUNK = 1 << 16


def format_of(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"Decisions file {str(path)!r} must end in one of {sorted(_FORMATS)}, "
            f"found suffix {path.suffix!r}."
        )
    return fmt


def _jsonable(s: pd.Series) -> list:
    if s.name == "score":
        return [None if v != v else float(v) for v in s.to_numpy()]
    if s.name in INT_COLUMNS:
        return s.to_numpy().astype(np.int64).tolist()
    return [str(v) for v in s.to_numpy()]


def steps_frame(steps: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    if not steps:
        return pd.DataFrame(
            {
                c: pd.Series(
                    [],
                    dtype=np.int64 if c in INT_COLUMNS else np.float64 if c == "score" else object,
                )
                for c in COLUMNS
            }
        )
    return pd.DataFrame({c: np.concatenate([s[c] for s in steps]) for c in COLUMNS})


def _write_chunk(f, data: bytes) -> None:
    f.write(data)


def atomic_write(path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over
    ``path``; on any failure the previous file stays as it was and the temporary is removed."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for start in range(0, len(data), _CHUNK):
                _write_chunk(f, data[start : start + _CHUNK])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some filesystems refuse fsync on folders; the data is already synced
        pass
    return path


def read_decisions(path: Path) -> dict:
    """Parse and validate a decisions file into {n_samples, class_names, steps}."""
    if not path.is_file():
        raise FileNotFoundError(f"No decisions file at {str(path)!r}.")
    raw = path.read_bytes()
    where = f"{str(path)!r}"
    try:
        if raw[:4] == b"PAR1":
            header, df = _parse_parquet(raw)
        elif raw.lstrip()[:1] == b"{":
            header, df = _parse_json(raw)
        elif raw[:2] == b"# ":
            header, df = _parse_csv(raw)
        else:
            raise ValueError(
                "it is not a workbench decisions file (JSON, CSV with a '# {...}' "
                "header line, or Parquet)"
            )
        return _validate(header, df)
    except ValueError as exc:
        raise ValueError(f"Cannot read decisions from {where}: {exc}.") from None
    except Exception as exc:  # parser errors of every kind become one clear message
        raise ValueError(
            f"Cannot read decisions from {where}: malformed file ({type(exc).__name__}: {exc})."
        ) from None


def _parse_json(raw: bytes):
    body = json.loads(raw.decode("utf-8"))
    if not isinstance(body, dict):
        raise ValueError("the JSON is not an object with a 'format' field")
    entries = body.get("entries")
    _check_header(body)
    if not isinstance(entries, dict):
        raise ValueError("'entries' must be an object of columns")
    return body, pd.DataFrame({c: entries.get(c) for c in entries})


def _parse_csv(raw: bytes):
    text = raw.decode("utf-8")
    first, _, rest = text.partition("\n")
    header = json.loads(first[2:])
    _check_header(header)
    df = pd.read_csv(
        io.StringIO(rest),
        dtype={c: str for c in STR_COLUMNS},
        keep_default_na=False,
        na_values={"score": ["", "NaN", "nan"]},
    )
    return header, df


def _parse_parquet(raw: bytes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(raw))
    meta = (table.schema.metadata or {}).get(b"workbench")
    if meta is None:
        raise ValueError("the Parquet file has no workbench header (schema metadata)")
    header = json.loads(meta.decode())
    _check_header(header)
    return header, table.to_pandas()


def _check_header(header) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(
            f"it is not a workbench decisions file (format must be {FORMAT!r}, found "
            f"{header.get('format') if isinstance(header, dict) else header!r})"
        )
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive int, found {version!r}")
    if version > VERSION:
        raise ValueError(
            f"it was written by a newer workbench (format version {version}; this "
            f"one reads up to {VERSION}); upgrade the package"
        )
    n, names = header.get("n_samples"), header.get("class_names")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n_samples must be a positive int, found {n!r}")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(c, str) for c in names)
        or len(set(names)) != len(names)
    ):
        raise ValueError("class_names must be a non-empty list of unique strings")


def _validate(header: dict, df: pd.DataFrame) -> dict:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are missing")
    lengths = {len(df[c]) for c in COLUMNS}
    if len(lengths) > 1:
        raise ValueError("columns have different lengths")
    n, names = header["n_samples"], header["class_names"]
    cols: dict[str, np.ndarray] = {}
    for c in INT_COLUMNS:
        v = pd.to_numeric(df[c], errors="raise").to_numpy()
        if len(v) and (v.dtype.kind not in "iu" and not np.all(v == np.round(v))):
            raise ValueError(f"column {c!r} must hold integers")
        cols[c] = v.astype(np.int64)
    cols["score"] = pd.to_numeric(df["score"], errors="raise").to_numpy(dtype=np.float64)
    for c in STR_COLUMNS:
        cols[c] = np.asarray(["" if v is None or v != v else str(v) for v in df[c]], dtype=object)
    if len(cols["index"]) and (cols["index"].min() < 0 or cols["index"].max() >= n):
        raise ValueError(f"column 'index' must lie in 0..{n - 1}")
    bad = ~np.isin(cols["action"], ACTIONS)
    if bad.any():
        raise ValueError(f"unknown action {cols['action'][bad][0]!r}; actions are {ACTIONS}")
    relabel = cols["action"] == "relabel"
    lab = cols["label"]
    if (relabel & ((lab < 0) | (lab >= len(names)))).any() or (~relabel & (lab != -1)).any():
        raise ValueError(
            f"column 'label' must be a class 0..{len(names) - 1} for relabels and -1 otherwise"
        )
    cols["label_name"] = np.where(
        relabel, np.asarray(names, dtype=object)[np.maximum(lab, 0)], ""
    ).astype(object)
    step = cols["step"]
    if len(step) and (np.diff(step) < 0).any():
        raise ValueError("column 'step' must be non-decreasing")
    steps = []
    if len(step):
        bounds = np.flatnonzero(np.diff(step)) + 1
        for part in np.split(np.arange(len(step)), bounds):
            if len(np.unique(cols["index"][part])) != len(part):
                raise ValueError(f"step {step[part[0]]} names a sample twice")
            steps.append({c: cols[c][part] for c in COLUMNS})
    return {"n_samples": n, "class_names": list(names), "steps": steps}


def encode(fmt: str, header: dict, df: pd.DataFrame) -> bytes:
    """The bytes of a decisions file in format ``fmt`` ("json", "csv" or "parquet")."""
    if fmt == "json":
        body = {**header, "entries": {c: _jsonable(df[c]) for c in COLUMNS}}
        return json.dumps(body, ensure_ascii=False).encode()
    if fmt == "csv":
        buf = io.StringIO()
        buf.write("# " + json.dumps(header, ensure_ascii=False) + "\n")
        df.to_csv(buf, index=False, columns=list(COLUMNS))
        return buf.getvalue().encode()
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        def kind(c):
            return pa.int64() if c in INT_COLUMNS else pa.float64() if c == "score" else pa.string()

        table = pa.table({c: pa.array(df[c].to_numpy(), type=kind(c)) for c in COLUMNS})
        table = table.replace_schema_metadata({b"workbench": json.dumps(header).encode()})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return sink.getvalue().to_pybytes()
    raise ValueError(f"fmt must be 'json', 'csv' or 'parquet', found {fmt!r}.")
