"""Decision files: the schema (version 2), its JSON, CSV and Parquet forms (never pickle), their
validation, and atomic writes.

A decisions history is a header ``{"format", "version", "n_samples", "class_names", "ids",
"fingerprint"}`` and a list of **steps** (one step = one ``decide`` call, undone as a whole).
Each row of a step is one decision about one sample, with the columns of :data:`COLUMNS`:

- ``step``: the step number (increasing); ``id`` and ``index``: the sample's id and its
  position when decided; ``action``: one of :data:`ALL_ACTIONS`, or ``"undo"`` for an undo record
  (one row: ``undoes`` names the step it undid, ``id`` is empty and ``index`` -1);
- ``label``: the new class of a ``relabel`` (-1 otherwise), ``label_name`` its name;
  ``given``: the sample's label when it was decided (-1 unknown);
- ``added`` / ``removed``: for ``edit_labels`` (a label-set edit, multi-label), the classes
  added and removed as JSON lists of class indices (``"[2, 5]"``), empty otherwise;
- ``user``, ``time`` (UTC, ISO 8601), ``detector``, ``threshold``, ``score`` (noise score,
  higher = more likely mislabeled), ``note``.

``ids`` in the header says how samples are named: ``"position"`` (ids are positions),
``"int"`` or ``"str"``; ``fingerprint`` is :func:`workbench.core.identity.fingerprint` of the
dataset (or null when unknown).

- JSON: the header at the top level and ``"steps"``: one object per step with one key per
  column; ``id`` and ``index`` are lists, every other column a list or one value shared by the
  step. Non-finite scores are ``"Infinity"`` / ``"-Infinity"`` strings and ``null`` (NaN).
- CSV: a plain table (``pandas.read_csv`` reads it) with one row per decision; the header sits
  in a sidecar file ``<name>.header.json`` beside it (:func:`sidecar_path`). Text cells are
  neutralised against spreadsheet formulas (:mod:`workbench.core.csv_safety`) and restored on
  reading. Without its sidecar a CSV can still be read into a log made for its dataset.
- Parquet: one row per decision, string columns dictionary-encoded, the header in the schema
  metadata under ``workbench``.

Version 1 files (no ids, no undo records; CSV with a first line ``# {header}``) still load.

In memory a step is a dict: ``step`` and ``undoes`` ints, ``index``/``label``/``given``/``score``
arrays, each text column either one ``str`` for the whole step or an object array; steps read
from a file also carry ``id`` (an array, the ids as the file names them).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.atomic import atomic_file
from workbench.core.csv_safety import neutralize, restore

__all__ = [
    "ACTIONS",
    "ALL_ACTIONS",
    "COLUMNS",
    "FORMAT",
    "INT_COLUMNS",
    "STR_COLUMNS",
    "UNDO",
    "VERSION",
    "atomic_write",
    "column",
    "encode",
    "format_of",
    "make_header",
    "check_header",
    "check_steps",
    "read_decisions",
    "sidecar_path",
    "steps_frame",
]

#: What a reviewer can decide about a sample (single-label review).
ACTIONS = ("keep", "remove", "relabel", "needs_review")
#: Every decision action: ACTIONS plus ``edit_labels`` (a label-set edit, multi-label).
ALL_ACTIONS = (*ACTIONS, "edit_labels")
#: The action of an undo record.
UNDO = "undo"
FORMAT = "label-noise-workbench/decisions"
SIDECAR_FORMAT = "label-noise-workbench/decisions-csv-header"
VERSION = 2
INT_COLUMNS = ("step", "index", "label", "given", "undoes")
STR_COLUMNS = ("action", "label_name", "added", "removed", "user", "time", "detector",
               "threshold", "note")  # fmt: skip
COLUMNS = ("step", "id", "index", "action", "label", "label_name", "given", "added", "removed",
           "user", "time", "detector", "threshold", "score", "note", "undoes")  # fmt: skip
V1_COLUMNS = ("step", "index", "action", "label", "label_name", "user", "time", "detector",
              "threshold", "score", "note")  # fmt: skip
STEP_SCALARS = ("step", "undoes")
_FORMATS = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_CHUNK = 1 << 16


def format_of(path: Path) -> str:
    """The file format named by ``path``'s suffix: "json", "csv" or "parquet"."""
    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(
            f"Decisions file {str(path)!r} must end in one of {sorted(_FORMATS)}, "
            f"found suffix {Path(path).suffix!r}."
        )
    return fmt


def sidecar_path(path) -> Path:
    """Where a CSV export keeps its header: ``decisions.csv`` -> ``decisions.header.json``."""
    return Path(path).with_suffix(".header.json")


def make_header(n_samples: int, class_names, ids: str = "position", fingerprint=None) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "n_samples": int(n_samples),
        "class_names": list(class_names),
        "ids": ids,
        "fingerprint": fingerprint,
    }


# --- steps in memory -----------------------------------------------------------------------------
def column(step: dict, name: str) -> np.ndarray:
    """Column ``name`` of one step as a full array (shared values repeated)."""
    value, n = step[name], len(step["index"])
    if name in STEP_SCALARS:
        return np.full(n, value, dtype=np.int64)
    if isinstance(value, str):
        return np.full(n, value, dtype=object)
    return value


def _ids_of(index: np.ndarray, ids) -> np.ndarray:
    """Ids for positions ``index`` (-1 for undo rows gives None)."""
    out = np.empty(len(index), dtype=object)
    ok = index >= 0
    if ids is None:
        out[ok] = index[ok]
    else:
        out[ok] = ids[index[ok]]
    out[~ok] = None
    return out


def steps_frame(steps: list[dict], ids=None, kind: str | None = None) -> pd.DataFrame:
    """All rows of ``steps`` as one DataFrame with the columns of :data:`COLUMNS`.

    ``ids`` (N ids, or None for positions) fill the ``id`` column from ``index``; a step that
    carries its own ``id`` keeps it.
    """
    if not steps:
        kinds = {
            c: np.int64 if c in INT_COLUMNS else np.float64 if c == "score" else object
            for c in COLUMNS
        }
        return pd.DataFrame({c: pd.Series([], dtype=k) for c, k in kinds.items()})
    cols = {}
    for c in COLUMNS:
        if c == "id":
            parts = [s["id"] if "id" in s else _ids_of(s["index"], ids) for s in steps]
            cols[c] = np.concatenate([np.asarray(p, dtype=object) for p in parts])
        else:
            cols[c] = np.concatenate([column(s, c) for s in steps])
    df = pd.DataFrame(cols)
    numeric = kind in ("position", "int") if kind is not None else (
        ids is None or np.asarray(ids).dtype.kind in "iu")  # fmt: skip
    if numeric and not df["id"].isna().any():
        df["id"] = df["id"].astype(np.int64)
    return df


def _dictionary(steps: list[dict], name: str) -> tuple[np.ndarray, list[str]]:
    """A text column of every step as (int32 codes, dictionary of values), vectorised."""
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


def _id_array(header: dict, steps: list[dict], ids):
    import pyarrow as pa

    if not steps:
        return pa.array([], pa.string() if header["ids"] == "str" else pa.int64())
    index = np.concatenate([s["index"] for s in steps])
    values = _ids_of(index, ids)
    mask = index < 0
    if header["ids"] == "str":
        return pa.array([("" if m else str(v)) for v, m in zip(values, mask, strict=True)],
                        pa.string())  # fmt: skip
    ints = np.where(mask, 0, values).astype(np.int64)
    return pa.array(ints, pa.int64(), mask=mask)


def _arrow_table(header: dict, steps: list[dict], ids, *, safe: bool = False):
    """The rows as an arrow table; ``safe`` neutralises text cells (CSV)."""
    import pyarrow as pa

    arrays = {}
    for c in COLUMNS:
        if c == "id":
            arrays[c] = _id_array(header, steps, ids)
            if safe and header["ids"] == "str":
                arrays[c] = pa.array(neutralize(arrays[c].to_pylist()).tolist(), pa.string())
        elif c in STR_COLUMNS:
            codes, values = _dictionary(steps, c)
            if safe:
                values = [neutralize(v) for v in values]
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


def _json_scores(score: np.ndarray):
    """Scores for JSON: finite numbers, ``null`` for NaN, ``"Infinity"``/``"-Infinity"``."""
    finite = np.isfinite(score)
    if finite.all():
        values = score.tolist()
    else:
        values = [
            v if math.isfinite(v) else None if v != v else ("Infinity" if v > 0 else "-Infinity")
            for v in score.tolist()
        ]
    return values[0] if all(v == values[0] or (v is None and values[0] is None)
                            for v in values) else values  # fmt: skip


def encode(fmt: str, header: dict, steps: list[dict], ids=None) -> bytes:
    """The bytes of a decisions file in format ``fmt`` ("json", "csv" or "parquet").

    ``ids`` are the dataset's N ids (None for positions); a CSV's header goes to its sidecar
    (:func:`encode_sidecar`).
    """
    if fmt == "json":
        out = []
        for s in steps:
            idx = s["index"]
            item = {"step": int(s["step"])}
            item["id"] = None if (idx < 0).all() else _ids_of(idx, ids).tolist()
            item["index"] = idx.tolist()
            for c in ("label", "given"):
                v = s[c]
                item[c] = int(v[0]) if len(v) and (v == v[0]).all() else v.tolist()
            item["score"] = _json_scores(s["score"]) if len(s["score"]) else []
            for c in STR_COLUMNS:
                item[c] = s[c] if isinstance(s[c], str) else [str(v) for v in s[c]]
            item["undoes"] = int(s["undoes"])
            out.append(item)
        return json.dumps({**header, "steps": out}, ensure_ascii=False, allow_nan=False).encode()
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(_arrow_table(header, steps, ids), sink)
        return sink.getvalue().to_pybytes()
    if fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = _arrow_table(header, steps, ids, safe=True)
        table = table.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.string()) if f.name in STR_COLUMNS else f
                    for f in table.schema
                ]
            )
        ).replace_schema_metadata(None)
        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="needed"))
        return buf.getvalue().to_pybytes()
    raise ValueError(f"fmt must be 'json', 'csv' or 'parquet', found {fmt!r}.")


def encode_sidecar(header: dict) -> bytes:
    """The bytes of a CSV export's header file (:func:`sidecar_path`)."""
    body = {**header, "format": SIDECAR_FORMAT, "decisions_format": header["format"]}
    return (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode()


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


def write_file(path, header: dict, steps: list[dict], ids=None, *, fmt: str | None = None) -> Path:
    """Write a decisions file in format ``fmt`` (default: the one ``path``'s suffix names),
    atomically (a CSV's sidecar first, unless it already holds this header)."""
    path = Path(path)
    fmt = format_of(path) if fmt is None else fmt
    if fmt == "csv":
        side = sidecar_path(path)
        data = encode_sidecar(header)
        try:
            same = side.read_bytes() == data
        except OSError:
            same = False
        if not same:
            atomic_write(side, data)
    return atomic_write(path, encode(fmt, header, steps, ids))


# --- reading -------------------------------------------------------------------------------------
def read_decisions(path, *, expect: dict | None = None) -> dict:
    """Parse and validate a decisions file into ``{"header", "steps"}``.

    The format is recognised from the content, not the suffix. ``expect`` is the header of
    the log it is read for: its ``n_samples``, ``class_names`` and ``fingerprint`` are compared
    with the file's before any step is read (a hostile header costs nothing), and it stands in
    for a CSV's missing sidecar. Work and memory are bounded by the file's size, whatever its
    header claims. Raises ValueError naming the file and what is wrong for anything that is not
    a valid workbench decisions file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No decisions file at {str(path)!r}.")
    try:
        raw = path.read_bytes()
        if raw[:4] == b"PAR1":
            header, steps = _parse_parquet(raw, expect)
        elif raw.lstrip()[:1] == b"{":
            header, steps = _parse_json(raw, expect)
        elif raw[:2] == b"# ":
            header, steps = _parse_csv_v1(raw, expect)
        elif path.suffix.lower() == ".csv" or raw[:6] == b'"step"':
            header, steps = _parse_csv(raw, path, expect)
        else:
            raise ValueError(
                "it is not a workbench decisions file (JSON, CSV or Parquet); SQLite stores "
                "open with DecisionLog(..., path='decisions.db')"
            )
        check_steps(header, steps)
    except ValueError as exc:
        raise ValueError(f"Cannot read decisions from {str(path)!r}: {exc}.") from None
    except MemoryError:
        raise ValueError(f"Cannot read decisions from {str(path)!r}: out of memory.") from None
    except Exception as exc:  # parser errors of every kind become one clear message
        raise ValueError(
            f"Cannot read decisions from {str(path)!r}: malformed file "
            f"({type(exc).__name__}: {exc})."
        ) from None
    return {"header": header, "steps": steps}


def check_header(header, expect: dict | None = None) -> dict:
    """Validate a header (any version); returns it upgraded to version 2 fields.

    With ``expect``, the sizes, classes and fingerprint must match it.
    """
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
    ids = header.get("ids", "position")
    if ids not in ("position", "int", "str"):
        raise ValueError(f"ids must be 'position', 'int' or 'str', found {ids!r}")
    fp = header.get("fingerprint")
    if fp is not None and not isinstance(fp, str):
        raise ValueError(f"fingerprint must be a string or null, found {type(fp).__name__}")
    out = make_header(n, names, ids, fp)
    out["version_read"] = version
    if expect is not None:
        check_same_dataset(out, expect)
    return out


def check_same_dataset(found: dict, expect: dict) -> None:
    """Raise ValueError unless ``found`` (a file's header) was made for ``expect``'s dataset."""
    if found["n_samples"] != expect["n_samples"] or found["class_names"] != expect["class_names"]:
        raise ValueError(
            f"it holds decisions for N={found['n_samples']} samples and classes "
            f"{found['class_names'][:10]}, but the log has N={expect['n_samples']} and classes "
            f"{expect['class_names'][:10]}; use decisions made for this dataset"
        )
    fa, fb = found.get("fingerprint"), expect.get("fingerprint")
    if fa is not None and fb is not None and fa != fb:
        raise ValueError(
            f"it holds decisions for another dataset (fingerprint {fa[:12]}…, this dataset's is "
            f"{fb[:12]}…: its ids, labels or class names differ); to carry its decisions over "
            "by sample id, merge it into a log of this dataset with on_mismatch='by_id' "
            "(log.merge(path, on_mismatch='by_id'), or DecisionLog.load(path, ids=..., "
            "labels=..., on_mismatch='by_id'))"
        )


def _int_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object and arr.size:
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr):
            raise ValueError(f"column {name!r} must hold integers")
        arr = np.asarray([int(v) for v in arr], dtype=np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"column {name!r} must hold integers")
    return arr.astype(np.int64).reshape(-1)


_SCORE_WORDS = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def _score_value(x, pos: int) -> float:
    if x is None:
        return math.nan
    if isinstance(x, str):
        if x in _SCORE_WORDS:
            return _SCORE_WORDS[x]
        raise ValueError(f"step {pos}: column 'score' holds {x!r}, not a number")
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"step {pos}: column 'score' holds {x!r}, not a number")
    return float(x)


def _parse_json(raw: bytes, expect):
    body = json.loads(raw.decode("utf-8"))
    header = check_header(body, expect)
    v1 = header["version_read"] == 1
    items = body.get("steps")
    if not isinstance(items, list):
        raise ValueError("'steps' must be a list of step objects")
    steps = []
    wanted = V1_COLUMNS if v1 else COLUMNS
    for pos, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"step {pos} is not an object")
        missing = [c for c in wanted if c not in item]
        if missing:
            raise ValueError(f"step {pos}: columns {missing} are missing")
        if not isinstance(item["index"], list):
            raise ValueError(f"step {pos}: 'index' must be a list")
        n = len(item["index"])
        step = {"step": item["step"], "index": _int_array(item["index"], "index")}
        if not isinstance(step["step"], int) or isinstance(step["step"], bool):
            raise ValueError(f"step {pos}: 'step' must be an int")
        undoes = -1 if v1 else item["undoes"]
        if not isinstance(undoes, int) or isinstance(undoes, bool):
            raise ValueError(f"step {pos}: 'undoes' must be an int")
        step["undoes"] = undoes
        for c in ("label", "given", "score"):
            v = -1 if (c == "given" and v1) else item[c]
            if isinstance(v, list):
                full = v
            elif c == "score":
                full = [v] * n
            else:
                full = np.full(n, v)
            if c == "score":
                step[c] = np.array([_score_value(x, pos) for x in full], dtype=np.float64)
            else:
                step[c] = _int_array(full, c)
            if len(step[c]) != n:
                raise ValueError(f"step {pos}: column {c!r} has {len(step[c])} values for {n} rows")
        for c in STR_COLUMNS:
            v = "" if (v1 and c in ("added", "removed")) else item[c]
            if isinstance(v, str):
                step[c] = v
            elif isinstance(v, list) and len(v) == n and all(isinstance(x, str) for x in v):
                step[c] = np.array(v, dtype=object)
            else:
                raise ValueError(f"step {pos}: column {c!r} must be a string or {n} strings")
        ids = step["index"] if v1 else item["id"]
        if ids is None:
            ids = [None] * n
        if not isinstance(ids, (list, np.ndarray)) or len(ids) != n:
            raise ValueError(f"step {pos}: 'id' must be a list of {n} ids")
        step["id"] = np.asarray(ids, dtype=object) if not v1 else ids.astype(object)
        steps.append(step)
    return header, steps


def _split_table(table, header) -> list[dict]:
    """Rows of an arrow table (one per decision) back into steps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    v1 = header["version_read"] == 1
    wanted = V1_COLUMNS if v1 else COLUMNS
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise ValueError(f"columns {missing} are missing")
    n_rows = len(table)
    ints = {}
    for c in INT_COLUMNS:
        if v1 and c in ("given", "undoes"):
            ints[c] = np.full(n_rows, -1, dtype=np.int64)
        else:
            col = table[c]
            if col.null_count:
                raise ValueError(f"column {c!r} has empty cells")
            ints[c] = _int_array(col.to_numpy(), c)
    score = table["score"]
    if not pa.types.is_floating(score.type) and not pa.types.is_integer(score.type):
        if not pa.types.is_null(score.type):
            raise ValueError("column 'score' must hold numbers")
    score = np.asarray(
        pc.fill_null(score.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )
    if v1:
        id_values = ints["index"].astype(object)
    else:
        idc = table["id"]
        if pa.types.is_dictionary(idc.type):
            idc = idc.cast(pa.string())
        id_values = np.asarray(idc.to_pylist(), dtype=object)
    strs = {}
    for c in STR_COLUMNS:
        if v1 and c in ("added", "removed"):
            strs[c] = (np.zeros(n_rows, np.int64), np.asarray([""], dtype=object))
            continue
        col = table[c]
        if pa.types.is_null(col.type):
            col = pa.array([""] * n_rows, pa.string())
        col = col.cast(pa.string()) if not pa.types.is_dictionary(col.type) else col
        col = pc.fill_null(col.combine_chunks() if hasattr(col, "combine_chunks") else col, "")
        enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
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
        und = ints["undoes"][a:b]
        if (und != und[0]).any():
            raise ValueError(f"step {int(step[a])}: 'undoes' differs between its rows")
        s = {
            "step": int(step[a]),
            "undoes": int(und[0]),
            "id": id_values[a:b],
            "index": ints["index"][a:b],
            "label": ints["label"][a:b],
            "given": ints["given"][a:b],
            "score": score[a:b],
        }
        for c, (codes, values) in strs.items():
            part = codes[a:b]
            s[c] = str(values[part[0]]) if (part == part[0]).all() else values[part]
        steps.append(s)
    return steps


def _parse_parquet(raw: bytes, expect):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(pa.BufferReader(raw))  # the header first: nothing else is read yet
    meta = (schema.metadata or {}).get(b"workbench")
    if meta is None:
        raise ValueError("the Parquet file has no workbench header (schema metadata)")
    header = check_header(json.loads(meta.decode()), expect)
    table = pq.read_table(pa.BufferReader(raw))
    return header, _split_table(table, header)


def _csv_types(header: dict, columns) -> dict:
    import pyarrow as pa

    types = {c: pa.int64() for c in INT_COLUMNS if c in columns}
    types.update({c: pa.string() for c in STR_COLUMNS if c in columns})
    types["score"] = pa.float64()
    if "id" in columns:
        types["id"] = pa.string() if header["ids"] == "str" else pa.int64()
    return types


def _read_csv_table(data: bytes, header: dict, columns):
    import pyarrow.csv as pacsv

    return pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types=_csv_types(header, columns),
            strings_can_be_null=False,
            null_values=["", "nan", "NaN"],
            quoted_strings_can_be_null=False,
        ),
    )


def _parse_csv_v1(raw: bytes, expect):
    """A version 1 CSV: first line ``# {header JSON}``, then the table (not neutralised)."""
    first, _, rest = raw.partition(b"\n")
    header = check_header(json.loads(first[2:].decode("utf-8")), expect)
    if header["version_read"] != 1:
        raise ValueError("a '# {header}' first line is only valid in version 1 files")
    table = _read_csv_table(rest, header, V1_COLUMNS)
    return header, _split_table(table, header)


def _parse_csv(raw: bytes, path: Path, expect):
    import pyarrow as pa

    side = sidecar_path(path)
    if side.is_file():
        body = json.loads(side.read_text(encoding="utf-8"))
        if not isinstance(body, dict) or body.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"its header file {str(side)!r} is not a decisions CSV header")
        header = check_header({**body, "format": body.get("decisions_format")}, expect)
    elif expect is not None:
        header = check_header(dict(expect), None)
    else:
        raise ValueError(
            f"its header file {str(side)!r} is missing: keep it beside the CSV, or read the "
            "CSV into a log made for its dataset (log.merge(path))"
        )
    header["version_read"] = VERSION
    table = _read_csv_table(raw, header, COLUMNS)
    restored = {}
    for c in (*STR_COLUMNS, "id"):
        if c == "id" and header["ids"] != "str":
            continue
        values = restore(np.asarray(table[c].to_pylist(), dtype=object))
        restored[c] = pa.array(values.tolist(), pa.string())
    for c, arr in restored.items():
        table = table.set_column(table.column_names.index(c), c, arr)
    return header, _split_table(table, header)


def parse_label_set(text: str, k: int) -> list[int]:
    """A label-set cell (``""`` or a JSON list of class indices) as a sorted list of ints."""
    if text == "":
        return []
    values = json.loads(text)
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < k for v in values
    ):
        raise ValueError(
            f"a label-set edit must be a JSON list of classes 0..{k - 1}, found {text!r}"
        )
    if len(set(values)) != len(values):
        raise ValueError(f"a label-set edit names a class twice: {text!r}")
    return sorted(values)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate(parts)`` without copying a single part (one bulk step of 10^6 rows)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _rows_with_action(steps: list[dict], action: str) -> np.ndarray:
    """Boolean over every row of ``steps``: its action is ``action``."""
    return _concat([
        np.full(len(s["index"]), s["action"] == action) if isinstance(s["action"], str)
        else np.asarray(s["action"], dtype=object) == action
        for s in steps
    ])  # fmt: skip


def check_steps(header: dict, steps: list[dict]) -> None:
    """Validate every step against the header, vectorised over all rows (no O(N) memory for
    the header's N); errors raise ValueError. Sets ``label_name`` from the class names."""
    n, names = header["n_samples"], header["class_names"]
    k = len(names)
    if not steps:
        return
    numbers = np.asarray([s["step"] for s in steps], dtype=np.int64)
    if (np.diff(numbers) <= 0).any():
        raise ValueError("step numbers must increase")
    sizes = np.asarray([len(s["index"]) for s in steps], dtype=np.int64)
    if (sizes == 0).any():
        raise ValueError(f"step {int(numbers[np.argmax(sizes == 0)])} has no rows")
    idx = _concat([s["index"] for s in steps])
    lab = _concat([s["label"] for s in steps])
    given = _concat([s["given"] for s in steps])
    for s in steps:  # a step's one action is checked once, not per row
        a = s["action"]
        found = [a] if isinstance(a, str) else pd.unique(np.asarray(a, dtype=object)).tolist()
        bad = [v for v in found if v not in ALL_ACTIONS and v != UNDO]
        if bad:
            raise ValueError(f"unknown action {bad[0]!r}; actions are {ALL_ACTIONS}")
    is_undo = _rows_with_action(steps, UNDO)
    # undo records: one row, index -1, naming an earlier live decision step
    undo_steps = [s for s in steps if isinstance(s["action"], str) and s["action"] == UNDO]
    if is_undo.sum() != sum(len(s["index"]) for s in undo_steps):
        raise ValueError("an undo record must be a step of its own")
    seen, undone = set(), set()
    kinds = {}
    for s in steps:
        undo = isinstance(s["action"], str) and s["action"] == UNDO
        kinds[s["step"]] = undo
        if undo:
            target = s["undoes"]
            if len(s["index"]) != 1 or s["index"][0] != -1:
                raise ValueError(f"undo record {s['step']} must have one row with index -1")
            if target not in seen or kinds.get(target) or target in undone:
                raise ValueError(
                    f"undo record {s['step']} undoes step {target}, which is not an earlier "
                    "decision step still in force"
                )
            undone.add(target)
        elif s["undoes"] != -1:
            raise ValueError(f"step {s['step']}: 'undoes' must be -1 for a decision")
        seen.add(s["step"])
    dec = idx[~is_undo] if is_undo.any() else idx
    if len(dec) and (dec.min() < 0 or dec.max() >= n):
        raise ValueError(f"column 'index' must lie in 0..{n - 1}")
    for s in steps:  # increasing positions (the usual bulk step) need no sort
        i = s["index"]
        if len(i) > 1 and not (np.diff(i) > 0).all() and len(np.unique(i)) != len(i):
            raise ValueError(f"step {s['step']} names a sample twice")
    relabel = _rows_with_action(steps, "relabel")
    if (relabel & ((lab < 0) | (lab >= k))).any() or ((~relabel) & (lab != -1)).any():
        raise ValueError(f"column 'label' must be a class 0..{k - 1} for relabels and -1 otherwise")
    if ((given < -1) | (given >= k)).any():
        raise ValueError(f"column 'given' must be a class 0..{k - 1} or -1")
    name_of = np.asarray(names + [""], dtype=object)
    for s in steps:
        action = s["action"]
        if (
            isinstance(action, str)
            and action not in ("relabel", "edit_labels")
            and isinstance(s["added"], str)
            and isinstance(s["removed"], str)
            and s["added"] == s["removed"] == ""
        ):  # the common step: one action, no label, no label-set edit
            s["label_name"] = ""
            continue
        a = column(s, "action")
        rel = a == "relabel"
        label_name = name_of[np.where(rel, s["label"], k)]
        s["label_name"] = str(label_name[0]) if (label_name == label_name[0]).all() else label_name
        edit = a == "edit_labels"
        for c in ("added", "removed"):
            cells = column(s, c)
            if (cells[~edit] != "").any():
                raise ValueError(f"column {c!r} is only for 'edit_labels' rows")
            for text in set(cells[edit].tolist()):
                parse_label_set(text, k)
