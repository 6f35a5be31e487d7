"""Decision files: the on-disk schema (JSON, CSV, Parquet; never pickle), its validation, and
atomic writes (temporary file in the same folder, fsync, rename over the target).

Every file holds a header ``{"format", "version", "n_samples", "class_names"}`` and the decision
steps (one step = one ``decide`` call, undone as a whole). Rows have the columns of
:data:`COLUMNS`; ``label`` is -1 and ``label_name`` empty unless the action is ``relabel``.

- JSON: the header at the top level and ``"steps"``: a list of objects with one key per column;
  ``index`` is a list, every other column a list or one value shared by the whole step.
- CSV: a first line ``# {header as JSON}``, then one row per decision.
- Parquet: one row per decision, string columns dictionary-encoded, the header in the schema
  metadata under ``workbench``.

In memory a step is a dict: ``step`` an int, ``index``/``label``/``score`` arrays, and each
string column either one ``str`` for the whole step or an object array.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.atomic import atomic_file

__all__ = [
    "ACTIONS",
    "COLUMNS",
    "FORMAT",
    "INT_COLUMNS",
    "STR_COLUMNS",
    "VERSION",
    "atomic_write",
    "column",
    "encode",
    "format_of",
    "read_decisions",
    "steps_frame",
]

#: What a reviewer can decide about a sample.
ACTIONS = ("keep", "remove", "relabel", "needs_review")
FORMAT = "label-noise-workbench/decisions"
VERSION = 1
INT_COLUMNS = ("step", "index", "label")
STR_COLUMNS = ("action", "label_name", "user", "time", "detector", "threshold", "note")
COLUMNS = ("step", "index", "action", "label", "label_name", "user", "time", "detector",
           "threshold", "score", "note")  # fmt: skip
_FORMATS = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_CHUNK = 1 << 16


def format_of(path: Path) -> str:
    """The format named by ``path``'s suffix: "json", "csv" or "parquet"."""
    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(
            f"Decisions file {str(path)!r} must end in one of {sorted(_FORMATS)}, "
            f"found suffix {Path(path).suffix!r}."
        )
    return fmt


# --- steps in memory -----------------------------------------------------------------------------
def column(step: dict, name: str) -> np.ndarray:
    """Column ``name`` of one step as a full array (shared values repeated)."""
    value, n = step[name], len(step["index"])
    if name == "step":
        return np.full(n, value, dtype=np.int64)
    if isinstance(value, str):
        return np.full(n, value, dtype=object)
    return value


def steps_frame(steps: list[dict]) -> pd.DataFrame:
    """All rows of ``steps`` as one DataFrame with the columns of :data:`COLUMNS`."""
    if not steps:
        kinds = {
            c: np.int64 if c in INT_COLUMNS else np.float64 if c == "score" else object
            for c in COLUMNS
        }
        return pd.DataFrame({c: pd.Series([], dtype=k) for c, k in kinds.items()})
    return pd.DataFrame({c: np.concatenate([column(s, c) for s in steps]) for c in COLUMNS})


def _dictionary(steps: list[dict], name: str) -> tuple[np.ndarray, list[str]]:
    """A string column of every step as (int32 codes, dictionary of values), vectorised."""
    values: dict[str, int] = {}
    parts = []
    for s in steps:
        v = s[name]
        if isinstance(v, str):
            code = values.setdefault(v, len(values))
            parts.append(np.full(len(s["index"]), code, dtype=np.int32))
        else:
            codes, uniques = pd.factorize(pd.Series(v, dtype=object))
            remap = np.array(
                [values.setdefault(str(u), len(values)) for u in uniques] or [0], dtype=np.int32
            )
            parts.append(remap[codes])
    codes = np.concatenate(parts) if parts else np.empty(0, np.int32)
    return codes, list(values)


def _arrow_table(header: dict, steps: list[dict]):
    import pyarrow as pa

    arrays = {}
    for c in COLUMNS:
        if c in STR_COLUMNS:
            codes, values = _dictionary(steps, c)
            arrays[c] = pa.DictionaryArray.from_arrays(
                pa.array(codes, pa.int32()), pa.array(values, pa.string())
            )
        else:
            full = (
                np.concatenate([column(s, c) for s in steps])
                if steps
                else np.empty(0, np.float64 if c == "score" else np.int64)
            )
            arrays[c] = pa.array(full, pa.float64() if c == "score" else pa.int64())
    table = pa.table(arrays)
    return table.replace_schema_metadata({b"workbench": json.dumps(header).encode()})


def encode(fmt: str, header: dict, steps: list[dict]) -> bytes:
    """The bytes of a decisions file in format ``fmt`` ("json", "csv" or "parquet")."""
    if fmt == "json":
        out = []
        for s in steps:
            lab, score = s["label"], s["score"]
            item = {
                "step": int(s["step"]),
                "index": s["index"].tolist(),
                "label": int(lab[0]) if (lab == lab[0]).all() else lab.tolist(),
            }
            nan = np.isnan(score)
            item["score"] = (
                None if nan.all()
                else score.tolist() if not nan.any()
                else [None if v != v else v for v in score.tolist()]
            )  # fmt: skip
            for c in STR_COLUMNS:
                item[c] = s[c] if isinstance(s[c], str) else [str(v) for v in s[c]]
            out.append(item)
        return json.dumps({**header, "steps": out}, ensure_ascii=False, allow_nan=False).encode()
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(_arrow_table(header, steps), sink)
        return sink.getvalue().to_pybytes()
    if fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = _arrow_table(header, steps)
        table = table.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.string()) if f.name in STR_COLUMNS else f
                    for f in table.schema
                ]
            )
        )
        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="needed"))
        head = ("# " + json.dumps(header, ensure_ascii=False) + "\n").encode()
        return head + buf.getvalue().to_pybytes()
    raise ValueError(f"fmt must be 'json', 'csv' or 'parquet', found {fmt!r}.")


# --- writing -------------------------------------------------------------------------------------
def _write_chunk(f, data: bytes) -> None:
    f.write(data)


def atomic_write(path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over
    ``path``; on any failure the previous file stays as it was and the temporary is removed."""
    path = Path(path)
    with atomic_file(path, "wb") as f:
        view = memoryview(data)
        for start in range(0, len(view), _CHUNK):
            _write_chunk(f, view[start : start + _CHUNK])
    return path


# --- reading -------------------------------------------------------------------------------------
def read_decisions(path) -> dict:
    """Parse and validate a decisions file into ``{n_samples, class_names, steps}``.

    The format is recognised from the content, not the suffix. Raises ValueError naming the
    file and what is wrong for anything that is not a valid workbench decisions file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No decisions file at {str(path)!r}.")
    raw = path.read_bytes()
    try:
        if raw[:4] == b"PAR1":
            header, steps = _parse_parquet(raw)
        elif raw.lstrip()[:1] == b"{":
            header, steps = _parse_json(raw)
        elif raw[:2] == b"# ":
            header, steps = _parse_csv(raw)
        else:
            raise ValueError(
                "it is not a workbench decisions file (JSON, CSV with a '# {...}' "
                "header line, or Parquet)"
            )
        _check_steps(header, steps)
    except ValueError as exc:
        raise ValueError(f"Cannot read decisions from {str(path)!r}: {exc}.") from None
    except Exception as exc:  # parser errors of every kind become one clear message
        raise ValueError(
            f"Cannot read decisions from {str(path)!r}: malformed file "
            f"({type(exc).__name__}: {exc})."
        ) from None
    return {
        "n_samples": header["n_samples"],
        "class_names": list(header["class_names"]),
        "steps": steps,
    }


def _check_header(header) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ValueError(
            f"it is not a workbench decisions file (format must be {FORMAT!r}, found {found!r})"
        )
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive int, found {version!r}")
    if version > VERSION:
        raise ValueError(
            f"it was written by a newer workbench (format version {version}; this "
            f"one reads up to {VERSION}); upgrade the package"
        )
    n, names = header.get("n_samples"), header.get("class_names")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n_samples must be a positive int, found {n!r}")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(c, str) for c in names)
        or len(set(names)) != len(names)
    ):
        raise ValueError("class_names must be a non-empty list of unique strings")


def _int_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"column {name!r} must hold integers")
    return arr.astype(np.int64).reshape(-1)


def _parse_json(raw: bytes):
    body = json.loads(raw.decode("utf-8"))
    _check_header(body)
    items = body.get("steps")
    if not isinstance(items, list):
        raise ValueError("'steps' must be a list of step objects")
    steps = []
    for pos, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"step {pos} is not an object")
        missing = [c for c in COLUMNS if c not in item]
        if missing:
            raise ValueError(f"step {pos}: columns {missing} are missing")
        if not isinstance(item["index"], list):
            raise ValueError(f"step {pos}: 'index' must be a list")
        n = len(item["index"])
        step = {"step": item["step"], "index": _int_array(item["index"], "index")}
        if not isinstance(step["step"], int) or isinstance(step["step"], bool):
            raise ValueError(f"step {pos}: 'step' must be an int")
        for c in ("label", "score"):
            v = item[c]
            full = np.full(n, np.nan if v is None else v) if not isinstance(v, list) else v
            if c == "label":
                step[c] = _int_array(full, c)
            else:
                step[c] = np.array([np.nan if x is None else x for x in full], dtype=np.float64)
            if len(step[c]) != n:
                raise ValueError(f"step {pos}: column {c!r} has {len(step[c])} values for {n} rows")
        for c in STR_COLUMNS:
            v = item[c]
            if isinstance(v, str):
                step[c] = v
            elif isinstance(v, list) and len(v) == n and all(isinstance(x, str) for x in v):
                step[c] = np.array(v, dtype=object)
            else:
                raise ValueError(f"step {pos}: column {c!r} must be a string or {n} strings")
        steps.append(step)
    return body, steps


def _split_table(table, header) -> list[dict]:
    """Rows of an arrow table (one per decision) back into steps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"columns {missing} are missing")
    ints = {c: _int_array(table[c].to_numpy(zero_copy_only=False), c) for c in INT_COLUMNS}
    score = table["score"]
    if not pa.types.is_floating(score.type) and not pa.types.is_integer(score.type):
        if not pa.types.is_null(score.type):
            raise ValueError("column 'score' must hold numbers")
    score = np.asarray(
        pc.fill_null(score.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )
    strs = {}
    for c in STR_COLUMNS:
        col = table[c]
        if pa.types.is_null(col.type):
            col = pa.array([""] * len(table), pa.string())
        col = col.cast(pa.string()) if not pa.types.is_dictionary(col.type) else col
        col = pc.fill_null(col.combine_chunks() if hasattr(col, "combine_chunks") else col, "")
        enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
        strs[c] = (
            enc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            np.asarray(enc.dictionary.to_pylist(), dtype=object),
        )
    step = ints["step"]
    if len(step) and (np.diff(step) < 0).any():
        raise ValueError("column 'step' must be non-decreasing")
    bounds = np.flatnonzero(np.diff(step)) + 1 if len(step) else np.empty(0, np.int64)
    starts = np.concatenate([[0], bounds]) if len(step) else np.empty(0, np.int64)
    stops = np.concatenate([bounds, [len(step)]]) if len(step) else np.empty(0, np.int64)
    steps = []
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        s = {
            "step": int(step[a]),
            "index": ints["index"][a:b],
            "label": ints["label"][a:b],
            "score": score[a:b],
        }
        for c, (codes, values) in strs.items():
            part = codes[a:b]
            s[c] = str(values[part[0]]) if (part == part[0]).all() else values[part]
        steps.append(s)
    return steps


def _parse_parquet(raw: bytes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(raw))
    meta = (table.schema.metadata or {}).get(b"workbench")
    if meta is None:
        raise ValueError("the Parquet file has no workbench header (schema metadata)")
    header = json.loads(meta.decode())
    _check_header(header)
    return header, _split_table(table, header)


def _parse_csv(raw: bytes):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first, _, rest = raw.partition(b"\n")
    header = json.loads(first[2:].decode("utf-8"))
    _check_header(header)
    types = {c: pa.int64() for c in INT_COLUMNS}
    types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in STR_COLUMNS})
    types["score"] = pa.float64()
    table = pacsv.read_csv(
        io.BytesIO(rest),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            strings_can_be_null=False,
            null_values=["", "nan", "NaN"],
            quoted_strings_can_be_null=False,
        ),
    )
    return header, _split_table(table, header)


def _check_steps(header: dict, steps: list[dict]) -> None:
    """Validate every step against the header; nothing is returned, errors raise ValueError."""
    n, names = header["n_samples"], header["class_names"]
    k = len(names)
    last = None
    name_of = np.asarray(names + [""], dtype=object)
    for s in steps:
        if last is not None and s["step"] <= last:
            raise ValueError("step numbers must increase")
        last = s["step"]
        idx, lab = s["index"], s["label"]
        if len(idx) == 0:
            raise ValueError(f"step {s['step']} has no rows")
        if idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"column 'index' must lie in 0..{n - 1}")
        if np.bincount(idx, minlength=n).max() > 1:
            raise ValueError(f"step {s['step']} names a sample twice")
        action = s["action"]
        if isinstance(action, str):
            if action not in ACTIONS:
                raise ValueError(f"unknown action {action!r}; actions are {ACTIONS}")
            relabel = np.full(len(idx), action == "relabel")
        else:
            bad = ~np.isin(action, ACTIONS)
            if bad.any():
                raise ValueError(f"unknown action {action[bad][0]!r}; actions are {ACTIONS}")
            relabel = action == "relabel"
        if ((relabel & ((lab < 0) | (lab >= k))).any()) or ((~relabel) & (lab != -1)).any():
            raise ValueError(
                f"column 'label' must be a class 0..{k - 1} for relabels and -1 otherwise"
            )
        # label names follow from the labels and the header's class names
        label_name = name_of[np.where(relabel, lab, k)]
        s["label_name"] = str(label_name[0]) if (label_name == label_name[0]).all() else label_name
