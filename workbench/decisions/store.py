"""Where decisions live: an embedded SQLite database by default, PostgreSQL for a team, or a
JSON / CSV / Parquet file.

- :class:`SQLiteStore` (``decisions.db``; the standard library's ``sqlite3``): WAL journal, one
  transaction per decision step, so a decision costs O(size of the step), a kill -9 at any
  moment leaves a consistent store, and several kernels can write to one file at once (a
  writer waits up to ``busy_timeout`` seconds for another's transaction).
- :class:`SQLStore` (``postgresql://...`` through SQLAlchemy + psycopg): the same schema on a
  server a team shares; every reviewer's decisions carry their user name.
- :class:`FileStore` (``.json`` / ``.csv`` / ``.parquet``): the whole history rewritten
  atomically on every change (O(history)); kept for small logs and for compatibility.

The schema (version 2, the same in both databases): ``<prefix>meta`` (``key``, ``value``: the
header as JSON) and ``<prefix>decisions``, one row per decision (undo records included):
``row_id``, ``step`` (NULL in a step's first row, whose ``row_id`` is the step's number; the
other rows hold it), ``undoes`` (the step an undo record undid, else -1), ``sample_index``,
``sample_id``, ``label``, ``given``, ``score`` and the text columns (``action``,
``label_name``, ``added``, ``removed``, ``user_name``, ``made_at``, ``detector``, ``threshold``,
``note``; NULL in a later row means "as in the step's first row"). A single-sample decision is
one INSERT, its own transaction; a step of more than one row is one transaction. Undo is a
recorded step; history is never deleted.

A bulk step (``bulk_rows`` = 1,000 rows or more: "remove every flagged sample") is stored
compactly: its first row in ``<prefix>decisions`` as above (it numbers the step) and the whole
step in one row of ``<prefix>bulk``: ``step``, ``n_rows``, ``layout`` (JSON: each text column
either one string for the step or the list of its distinct values), and binary little-endian
arrays (never pickle): ``sample_index`` int64, ``label`` and ``given`` int32, ``score``
float64, ``text_codes`` int32 (each per-row text column's codes into its list, one after the
other), ``sample_id`` (int64 for integer ids, a UTF-8 JSON list for string ids, NULL for
positions). A million-sample step is then one small transaction, not a million rows. The first
bulk step written into a store marks its header ``"version": 3``, so a workbench that reads
only version 2 refuses the store instead of reading one row of the step; stores of version 2
(no bulk table, or an empty one) read as before.

Errors of the store (locked database, server down, disk full) are raised as
:class:`StoreError` (an ``OSError``): the log keeps the decision in memory and writes it with
the next change.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.decisions.formats import (
    STR_COLUMNS,
    UNDO,
    VERSION,
    check_header,
    check_steps,
    format_of,
    read_decisions,
    write_file,
)

__all__ = [
    "AUTO",
    "BULK_ROWS",
    "DB_SUFFIXES",
    "DecisionStore",
    "FileStore",
    "SQLStore",
    "SQLiteStore",
    "STORE_VERSION",
    "StoreError",
    "auto_path",
    "check_store_header",
    "default_folder",
    "open_store",
]

#: Suffixes that name a SQLite store.
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 30.0
#: Steps of at least this many rows are stored as one row of binary arrays (``<prefix>bulk``).
BULK_ROWS = 1000
#: The header version of a store holding bulk steps (files stay at formats.VERSION).
STORE_VERSION = 3
#: ``path="auto"``: a SQLite store in :func:`default_folder` named by the dataset's fingerprint.
AUTO = "auto"


def default_folder() -> Path:
    """Where ``path="auto"`` stores live: ``$WORKBENCH_DECISIONS_DIR``, else
    ``$WORKBENCH_OUTPUT_DIR/decisions``, else ``workbench-output/decisions`` in the working
    folder; absolute (a later ``os.chdir`` does not move it)."""
    folder = os.environ.get("WORKBENCH_DECISIONS_DIR")
    if not folder:
        folder = Path(os.environ.get("WORKBENCH_OUTPUT_DIR") or "workbench-output") / "decisions"
    return Path(folder).expanduser().absolute()


def auto_path(fingerprint: str) -> Path:
    """The ``"auto"`` store of the dataset with ``fingerprint``
    (:func:`workbench.core.identity.fingerprint`): ``<default_folder()>/<its first 16 hex
    digits>.db``, so two datasets in one folder never share a store and the same dataset,
    loaded again, finds its decisions."""
    if not isinstance(fingerprint, str) or len(fingerprint) < 16:
        raise ValueError(f"fingerprint must be a hex digest, found {fingerprint!r}.")
    return default_folder() / f"{fingerprint[:16]}.db"


class StoreError(OSError):
    """The store could not be read or written (locked, unreachable, full); nothing in memory
    is lost."""


class DecisionStore:
    """Interface of a decisions store (see the module docstring)."""

    location: str = ""
    incremental = False  # True: write() stores only the new steps

    def open(self, header: dict, *, check: bool = True) -> tuple[dict | None, list[dict]]:
        """Create the store for ``header`` when it is new; return (stored header or None when
        new, stored steps). With ``check``, a store for another dataset raises ValueError."""
        raise NotImplementedError

    def write(self, new_steps: list[dict], all_steps: list[dict], header: dict, ids) -> list[int]:
        """Store ``new_steps`` (the last of ``all_steps``), one transaction each; returns their
        step numbers as stored (a database numbers them; undo records must name stored steps)."""
        raise NotImplementedError

    def read(self) -> tuple[dict, list[dict]]:
        """The stored header and every step (``id`` column included), oldest first."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def open_store(path=None, url=None, *, busy_timeout: float = BUSY_TIMEOUT_S,
               table_prefix: str = "wb_") -> DecisionStore:  # fmt: skip
    """The store for an autosave ``path`` (by its suffix) or a database ``url``."""
    if url is not None:
        if path is not None:
            raise ValueError("give path= or url=, not both.")
        text = str(url)
        if text.startswith("sqlite:///"):
            return SQLiteStore(text[len("sqlite:///") :], busy_timeout=busy_timeout,
                               table_prefix=table_prefix)  # fmt: skip
        return SQLStore(text, table_prefix=table_prefix)
    path = Path(path)
    if path.suffix.lower() in DB_SUFFIXES:
        return SQLiteStore(path, busy_timeout=busy_timeout, table_prefix=table_prefix)
    try:
        format_of(path)
    except ValueError:
        raise ValueError(
            f"Decisions path {str(path)!r} must end in one of {sorted(DB_SUFFIXES)} (a SQLite "
            f"store) or .json, .csv, .parquet, found suffix {path.suffix!r}."
        ) from None
    return FileStore(path)


# --- files -----------------------------------------------------------------------------------------
class FileStore(DecisionStore):
    """A JSON / CSV / Parquet file rewritten whole, atomically, on every change."""

    def __init__(self, path):
        self.path = Path(path)
        self.location = str(self.path)
        format_of(self.path)

    def open(self, header, *, check=True):
        if not self.path.exists():
            return None, []
        data = read_decisions(self.path, expect=header if check else None)
        return data["header"], data["steps"]

    def write(self, new_steps, all_steps, header, ids):
        try:
            write_file(self.path, header, all_steps, ids)
        except OSError as err:
            raise StoreError(err.errno, f"cannot write {self.location}: {err}") from err
        return [s["step"] for s in new_steps]

    def read(self):
        data = read_decisions(self.path)
        return data["header"], data["steps"]


# --- databases ------------------------------------------------------------------------------------
_TEXT = STR_COLUMNS  # text columns; NULL in a step's later rows means "as in its first row"
_SQL_NAME = {"user": "user_name", "time": "made_at"}  # avoid reserved words
_NUMERIC = ("step", "undoes", "sample_index", "sample_id", "label", "given", "score")


def _col(c: str) -> str:
    return _SQL_NAME.get(c, c)


_COLUMNS = (*_NUMERIC, *(_col(c) for c in _TEXT))


_BULK_COLUMNS = ("step", "n_rows", "layout", "sample_index", "sample_id", "label", "given",
                 "score", "text_codes")  # fmt: skip


def _schema(p: str, serial: str, real: str, big: str, blob: str,
            extra: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    text_cols = ", ".join(f"{_col(c)} TEXT" for c in _TEXT)
    return [
        f"CREATE TABLE IF NOT EXISTS {p}meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {p}decisions (row_id {serial}, step {big}, "
        f"undoes {big} NOT NULL, sample_index {big} NOT NULL, sample_id TEXT, "
        f"label {big} NOT NULL, given {big} NOT NULL, score {real}, {text_cols})",
        f"CREATE TABLE IF NOT EXISTS {p}bulk (step {big} PRIMARY KEY, n_rows {big} NOT NULL, "
        f"layout TEXT NOT NULL, sample_index {blob} NOT NULL, sample_id {blob}, "
        f"label {blob} NOT NULL, given {blob} NOT NULL, score {blob} NOT NULL, "
        f"text_codes {blob})",
        *extra,
    ]


def check_store_header(raw, expect: dict | None = None) -> dict:
    """:func:`~workbench.decisions.formats.check_header` for a store's header, which may be of
    :data:`STORE_VERSION` (bulk steps); ``version_read`` keeps the stored version."""
    version = raw.get("version") if isinstance(raw, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        if version > STORE_VERSION:
            raise ValueError(
                f"it was written by a newer workbench (store version {version}; this one reads "
                f"up to {STORE_VERSION}); upgrade the package"
            )
        raw = {**raw, "version": VERSION}
    out = check_header(raw, expect)
    if isinstance(version, int) and version > VERSION:
        out["version_read"] = version
    return out


def _bulk_row(s: dict, kind: str, ids) -> tuple:
    """A step's rows as the values of ``<prefix>bulk``'s columns after ``step`` (see the
    module docstring): binary little-endian arrays and a JSON layout."""
    idx = np.asarray(s["index"], dtype=np.int64)
    layout, codes = {}, []
    for c in _TEXT:
        v = s[c]
        if isinstance(v, str):
            layout[c] = v
        else:
            code, uniques = pd.factorize(np.asarray(v, dtype=object), use_na_sentinel=False)
            layout[c] = [str(u) for u in uniques]
            codes.append(code.astype("<i4"))
    if kind == "position":
        sample_id = None
    elif kind == "int":
        sample_id = np.asarray(ids[idx]).astype("<i8").tobytes()
    else:
        sample_id = json.dumps([str(v) for v in ids[idx].tolist()], ensure_ascii=False).encode()
    return (
        len(idx),
        json.dumps(layout, ensure_ascii=False),
        idx.astype("<i8").tobytes(),
        sample_id,
        np.asarray(s["label"]).astype("<i4").tobytes(),
        np.asarray(s["given"]).astype("<i4").tobytes(),
        np.asarray(s["score"]).astype("<f8").tobytes(),
        np.concatenate(codes).tobytes() if codes else None,
    )


def _bulk_step(row: tuple, kind: str) -> dict:
    """One row of ``<prefix>bulk`` back into a step's columns (``index``, ``label``,
    ``given``, ``score``, ``id`` and the text columns); ValueError when it is damaged."""
    step, n, layout, index, sample_id, label, given, score, text_codes = row
    n = int(n)
    where = f"bulk step {step}"

    def array(blob, dtype, what):
        a = None if blob is None else np.frombuffer(bytes(blob), dtype=dtype)
        if a is None or len(a) != n:
            raise ValueError(f"{where}: column {what!r} must hold {n} values")
        return a

    out = {
        "index": array(index, "<i8", "sample_index").astype(np.int64),
        "label": array(label, "<i4", "label").astype(np.int64),
        "given": array(given, "<i4", "given").astype(np.int64),
        "score": array(score, "<f8", "score").astype(np.float64),
    }
    try:
        layout = json.loads(layout)
    except (TypeError, ValueError):
        layout = None
    if not isinstance(layout, dict) or set(layout) != set(_TEXT):
        raise ValueError(f"{where}: its layout must name the text columns {list(_TEXT)}")
    per_row = [c for c in _TEXT if not isinstance(layout[c], str)]
    codes = np.frombuffer(bytes(text_codes or b""), dtype="<i4")
    if len(codes) != n * len(per_row):
        raise ValueError(f"{where}: column 'text_codes' must hold {n * len(per_row)} values")
    for j, c in enumerate(per_row):
        values = layout[c]
        part = codes[j * n : (j + 1) * n]
        if (
            not isinstance(values, list)
            or not all(isinstance(v, str) for v in values)
            or (n and (part.min() < 0 or part.max() >= len(values)))
        ):
            raise ValueError(f"{where}: text column {c!r} is malformed")
    for c in _TEXT:
        if c not in per_row:
            out[c] = layout[c]
    for j, c in enumerate(per_row):
        out[c] = np.asarray(layout[c], dtype=object)[codes[j * n : (j + 1) * n]]
    if kind == "position":
        out["id"] = out["index"]
    elif kind == "int":
        out["id"] = array(sample_id, "<i8", "sample_id").astype(np.int64).astype(object)
    else:
        try:
            values = json.loads(bytes(sample_id).decode("utf-8")) if sample_id is not None else None
        except (UnicodeDecodeError, ValueError):
            values = None
        if not isinstance(values, list) or len(values) != n:
            raise ValueError(f"{where}: column 'sample_id' must hold {n} string ids")
        out["id"] = np.asarray(values, dtype=object)
    return out


class _Database(DecisionStore):
    """The SQL shared by SQLite and PostgreSQL: one table ``<prefix>decisions`` with one row per
    decision (undo records included), the step number on every row, a step's shared text in its
    first row only; subclasses give the connection, ``_next_step`` and the transaction."""

    incremental = True
    _serial = _real = _big = _blob = ""
    _order = "COALESCE(step, row_id), row_id"
    #: steps of at least this many rows go into ``<prefix>bulk`` (see the module docstring)
    bulk_rows = BULK_ROWS

    def __init__(self, table_prefix: str):
        if not isinstance(table_prefix, str) or not table_prefix.replace("_", "").isalnum():
            raise ValueError(
                f"table_prefix must be letters, digits and '_', found {table_prefix!r}."
            )
        self.p = table_prefix
        cols = ", ".join(_COLUMNS)
        # A step's number is the row_id of its first row, which stores step NULL (so one
        # plain INSERT numbers and stores a single-sample step); its other rows store it.
        self._first_sql = (
            f"INSERT INTO {self.p}decisions ({cols}) VALUES (NULL, "
            + ", ".join(f":{c}" for c in _COLUMNS[1:])
            + ")"
        )
        numeric = ", ".join(_NUMERIC)
        self._short_sql = (  # a later row whose text is all its step's first row's
            f"INSERT INTO {self.p}decisions ({numeric}) VALUES ("
            + ", ".join(f":{c}" for c in _NUMERIC)
            + ")"
        )
        self._rows_sql = (
            f"INSERT INTO {self.p}decisions ({cols}) VALUES ("
            + ", ".join(f":{c}" for c in _COLUMNS)
            + ")"
        )

        self._bulk_sql = (
            f"INSERT INTO {self.p}bulk ({', '.join(_BULK_COLUMNS)}) VALUES ("
            + ", ".join(f":{c}" for c in _BULK_COLUMNS)
            + ")"
        )
        self._header_sql = f"SELECT value FROM {self.p}meta WHERE key = 'header'"
        self._upgrade_sql = f"UPDATE {self.p}meta SET value = :value WHERE key = 'header'"
        self._has_bulk = False  # the bulk table is known to exist

    def _upgraded(self, value: str) -> str | None:
        """The stored header ``value`` marked :data:`STORE_VERSION`, or None when it is."""
        header = json.loads(value)
        if header.get("version", 0) >= STORE_VERSION:
            return None
        return json.dumps({**header, "version": STORE_VERSION})

    # subclass hooks ----------------------------------------------------------------------------
    def _write_step(self, first: tuple, rest, bulk: tuple | None = None) -> int:
        """Insert a step's rows atomically (``bulk``: the step as one row of the bulk table,
        the header marked :data:`STORE_VERSION` in the same transaction); returns its
        number."""
        raise NotImplementedError

    def _table_exists(self, name: str) -> bool:
        raise NotImplementedError

    def _query(self, sql: str, params: dict | None = None) -> list[tuple]:
        raise NotImplementedError

    def _snapshot(self, queries: list[str], binary: int | None = None) -> list[list[tuple]]:
        """Run read-only ``queries`` in one transaction (the same data for all); query number
        ``binary`` reads binary columns (where the driver has a faster way for them)."""
        raise NotImplementedError

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    def _insert_header(self, value: str) -> None:
        raise NotImplementedError

    def _ddl(self, statements) -> None:
        raise NotImplementedError

    def _extra_schema(self) -> tuple[str, ...]:
        return ()

    @contextlib.contextmanager
    def _guard(self, what: str):
        try:
            yield
        except self._errors() as err:
            raise StoreError(f"cannot {what} the decisions store {self.location}: {err}") from err

    def open(self, header, *, check=True):
        with self._guard("open"):
            self._ddl(_schema(self.p, self._serial, self._real, self._big, self._blob,
                              self._extra_schema()))  # fmt: skip
            self._has_bulk = True
            rows = self._query(self._header_sql)
            if not rows:
                body = {k: v for k, v in header.items() if k != "version_read"}
                self._insert_header(json.dumps(body))
                rows = self._query(f"SELECT value FROM {self.p}meta WHERE key = 'header'")
                if json.loads(rows[0][0]) == body:
                    stored = None  # new (or made just now by another process for the same data)
                else:
                    stored = json.loads(rows[0][0])
            else:
                stored = json.loads(rows[0][0])
        if stored is not None:
            try:
                stored = check_store_header(stored, header if check else None)
            except ValueError as err:
                raise ValueError(f"Cannot open decisions store {self.location}: {err}.") from None
        _, steps = self.read(header=stored or check_header(dict(header)))
        return stored, steps

    def write(self, new_steps, all_steps, header, ids):
        numbers = []
        renumber: dict[int, int] = {}
        positional = header["ids"] == "position"
        with self._guard("write to"):
            for s in new_steps:
                undo = isinstance(s["action"], str) and s["action"] == UNDO
                bulk = None
                if len(s["index"]) >= self.bulk_rows and not undo:  # rows below: its first only
                    bulk = _bulk_row(s, header["ids"], ids)
                    s = {k: v[:1] if isinstance(v, np.ndarray) else v for k, v in s.items()}
                n = len(s["index"])
                undoes = renumber.get(int(s["undoes"]), int(s["undoes"]))
                idx = s["index"].tolist()
                sid = (
                    repeat(None, n)
                    if positional or undo
                    else iter([str(v) for v in ids[s["index"]].tolist()])
                )
                scores = [None if v != v else v for v in s["score"].tolist()]
                label, given = s["label"].tolist(), s["given"].tolist()
                texts = [s[c] if isinstance(s[c], str) else s[c].tolist() for c in _TEXT]
                heads = [t if isinstance(t, str) else t[0] for t in texts]
                # rows as tuples in the order of _COLUMNS (the step number filled in on insert)
                first = (None, undoes, idx[0], next(sid), label[0], given[0], scores[0], *heads)
                rest = None
                if n > 1:
                    later = [
                        repeat(None, n - 1)
                        if isinstance(t, str)
                        else [None if v == h else v for v in t[1:]]
                        for t, h in zip(texts, heads, strict=True)
                    ]
                    rest = (repeat(undoes, n - 1), idx[1:], sid, label[1:], given[1:], scores[1:])
                    if not all(isinstance(t, str) for t in texts):  # texts differ by row
                        rest = (*rest, *later)
                number = self._write_step(first, rest, bulk)
                renumber[int(s["step"])] = int(number)
                numbers.append(int(number))
        return numbers

    def write_one(self, s: dict, id_kind: str, ids) -> int:
        """Store one step (no undo record among unsaved steps to renumber); its number."""
        n = len(s["index"])
        if n != 1:
            return self.write([s], [s], {"ids": id_kind}, ids)[0]
        i = int(s["index"][0])
        undo = i < 0
        v = float(s["score"][0])
        row = (
            None,
            int(s["undoes"]),
            i,
            None if id_kind == "position" or undo else str(ids[i]),
            int(s["label"][0]),
            int(s["given"][0]),
            None if v != v else v,
            *(t if isinstance(t, str) else t[0] for t in (s[c] for c in _TEXT)),
        )
        try:
            return int(self._write_step(row, None))
        except self._errors() as err:
            raise StoreError(f"cannot write to the decisions store {self.location}: {err}") from err

    def read(self, header: dict | None = None):
        with self._guard("read"):
            if header is None:
                rows = self._query(self._header_sql)
                if not rows:
                    raise StoreError(f"the decisions store {self.location} is empty")
                try:
                    header = check_store_header(json.loads(rows[0][0]))
                except ValueError as err:
                    raise ValueError(f"Cannot read decisions store {self.location}: {err}.") \
                        from None  # fmt: skip
            if not self._has_bulk:  # a store of version 2 read without opening it
                self._has_bulk = self._table_exists(f"{self.p}bulk")
            t, order = f"{self.p}decisions", self._order
            text = [_col(c) for c in _TEXT]
            any_text = " OR ".join(f"{c} IS NOT NULL" for c in text)
            queries = [
                f"SELECT row_id, COALESCE(step, row_id), undoes, sample_index, label, given, "
                f"score FROM {t} ORDER BY {order}",
                f"SELECT row_id, {', '.join(text)} FROM {t} WHERE {any_text} ORDER BY {order}",
            ]
            if header["ids"] != "position":
                queries.append(f"SELECT sample_id FROM {t} ORDER BY {order}")
            if self._has_bulk:
                queries.append(f"SELECT {', '.join(_BULK_COLUMNS)} FROM {self.p}bulk ORDER BY step")
            # one consistent view of the tables
            nums, texts, *rest = self._snapshot(
                queries, binary=len(queries) - 1 if self._has_bulk else None
            )
            bulk = rest.pop() if self._has_bulk else []
            sample_id = [r[0] for r in rest[0]] if rest else None
        steps = _steps_from_columns(header, nums, sample_id, texts)
        try:  # a store is a file like any other: someone may have written anything into it
            if bulk:
                at = {s["step"]: i for i, s in enumerate(steps)}
                for row in bulk:
                    if row[0] not in at:
                        raise ValueError(f"bulk step {row[0]} has no first row in the decisions")
                    steps[at[row[0]]].update(_bulk_step(row, header["ids"]))
            check_steps(header, steps)
        except ValueError as err:
            raise ValueError(f"The decisions store {self.location} is damaged: {err}.") from None
        return header, steps


def _steps_from_columns(header: dict, nums, sample_id, texts) -> list[dict]:
    """Rows (ordered by step) back into steps; a later row's NULL text is its step's first."""
    n = len(nums)
    if not n:
        return []
    table = np.array(nums, dtype=np.float64)  # one C pass; NULL scores become NaN
    row_id, step_col, undoes, index, label, given = (
        table[:, j].astype(np.int64) for j in range(6)
    )  # ints below 2**53 are exact in float64
    score = table[:, 6].copy()
    sorter = np.argsort(row_id, kind="stable")
    at = sorter[np.searchsorted(row_id[sorter], [r[0] for r in texts])] if texts else []
    text_cols = []
    has_text = np.zeros(n, dtype=bool)
    has_text[at] = True  # the text query returns only rows with some text
    for j in range(len(_TEXT)):
        full = np.full(n, None, dtype=object)
        if texts:
            full[at] = [r[j + 1] for r in texts]
        text_cols.append(full)
    bounds = np.flatnonzero(np.diff(step_col)) + 1
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), n]
    kind = header["ids"]
    action_at = _TEXT.index("action")
    steps = []
    for a, b in zip(starts, stops, strict=True):
        s = {
            "step": int(step_col[a]),
            "undoes": int(undoes[a]),
            "index": index[a:b],
            "label": label[a:b],
            "given": given[a:b],
            "score": score[a:b],
        }
        mixed = b - a > 1 and has_text[a + 1 : b].any()
        for c, values in zip(_TEXT, text_cols, strict=True):
            head = values[a]
            if head is None:
                raise StoreError(f"step {s['step']} of the decisions store is damaged")
            part = values[a + 1 : b] if mixed else None
            if part is None or all(v is None for v in part):
                s[c] = head
            else:
                full = values[a:b].copy()
                full[1:][part == None] = head  # noqa: E711 (element-wise)
                s[c] = full
        undo = text_cols[action_at][a] == UNDO
        if kind == "position" or undo:
            s["id"] = s["index"]  # ids are positions (-1: an undo record's)
        elif kind == "int":
            s["id"] = np.asarray([int(v) for v in sample_id[a:b]], dtype=object)
        else:
            s["id"] = np.asarray(sample_id[a:b], dtype=object)
        steps.append(s)
    return steps


class SQLiteStore(_Database):
    """A SQLite file (WAL journal, one transaction per step, ``busy_timeout`` seconds of
    waiting for other writers). A single-sample decision is one INSERT statement."""

    _serial, _real, _big, _blob = "INTEGER PRIMARY KEY AUTOINCREMENT", "REAL", "INTEGER", "BLOB"
    _order = "row_id"  # one writer at a time: a step's rows are contiguous, steps increase

    def __init__(self, path, *, busy_timeout: float = BUSY_TIMEOUT_S, table_prefix: str = "wb_",
                 create_folder: bool = False):  # fmt: skip
        super().__init__(table_prefix)
        if not isinstance(busy_timeout, (int, float)) or not busy_timeout >= 0:
            raise ValueError(f"busy_timeout must be seconds >= 0, found {busy_timeout!r}.")
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._create_folder = bool(create_folder)  # made when first connected (the "auto" store)
        if not create_folder and not self.path.parent.is_dir():
            raise ValueError(
                f"Cannot open {self.location!r}: folder {str(self.path.parent)!r} does not exist."
            )
        self.busy_timeout = float(busy_timeout)
        self._conn: sqlite3.Connection | None = None
        self._first = re.sub(r":\w+", "?", self._first_sql)
        self._rows_q = re.sub(r":\w+", "?", self._rows_sql)
        self._short_q = re.sub(r":\w+", "?", self._short_sql)
        self._bulk_q = re.sub(r":\w+", "?", self._bulk_sql)
        self._upgrade_q = re.sub(r":\w+", "?", self._upgrade_sql)

    def _errors(self):
        return (sqlite3.Error,)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self._create_folder:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                with open(self.path, "rb") as f:
                    magic = f.read(16)
                if magic and magic != b"SQLite format 3\x00":
                    raise ValueError(f"{self.location!r} is not a SQLite database.")
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a kill -9 never corrupts or loses a committed step; a power cut may
            # lose the last few steps (never part of one)
            conn.execute("PRAGMA synchronous=NORMAL")
            # fold the WAL into the database every ~40 MB rather than every ~4 MB: a decision's
            # commit pays the checkpoint's fsync ten times less often
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._conn = conn
        return self._conn

    def _write_step(self, first, rest, bulk=None):
        """``first``: the first row's tuple; ``rest``: None, or one iterable per column of
        _COLUMNS after ``step`` for the other rows; ``bulk``: None, or the step as one row of
        the bulk table."""
        conn = self._connect()
        if rest is None and bulk is None:  # one statement is one transaction (autocommit)
            return conn.execute(self._first, first[1:]).lastrowid
        conn.execute("BEGIN IMMEDIATE")
        try:
            number = conn.execute(self._first, first[1:]).lastrowid
            if bulk is not None:
                conn.execute(self._bulk_q, (number, *bulk))
                value = self._upgraded(conn.execute(self._header_sql).fetchone()[0])
                if value is not None:
                    conn.execute(self._upgrade_q, (value,))
            else:
                sql = self._rows_q if len(rest) > 6 else self._short_q  # later rows without text
                conn.executemany(sql, zip(repeat(number), *rest))
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return number

    def _ddl(self, statements):
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql in statements:
                conn.execute(sql)
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _query(self, sql, params=None):
        return self._connect().execute(sql, params or {}).fetchall()

    def _table_exists(self, name):
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(self._connect().execute(sql, (name,)).fetchall())

    def _snapshot(self, queries, binary=None):
        conn = self._connect()
        conn.execute("BEGIN")  # a read transaction: WAL readers see one snapshot
        try:
            return [conn.execute(q).fetchall() for q in queries]
        finally:
            conn.execute("COMMIT")

    def _insert_header(self, value: str) -> None:
        self._connect().execute(
            f"INSERT OR IGNORE INTO {self.p}meta (key, value) VALUES ('header', ?)", (value,)
        )

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SQLStore(_Database):
    """A database server reached through SQLAlchemy (PostgreSQL with psycopg): the team store.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/database`` (``postgresql+psycopg://`` is used).
    table_prefix : str, default="wb_"
        Tables are ``<prefix>meta`` and ``<prefix>decisions``: one store per prefix (one per
        dataset), several in one database.
    connect_timeout : int, default=10
        Seconds to wait for the server.
    """

    _serial, _real, _big, _blob = "BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION", "BIGINT", "BYTEA"

    def __init__(self, url: str, *, table_prefix: str = "wb_", connect_timeout: int = 10):
        super().__init__(table_prefix)
        try:
            import sqlalchemy as sa
        except ImportError:  # pragma: no cover - a dependency of the package
            raise ImportError("The team store needs SQLAlchemy and psycopg installed.") from None
        try:
            parsed = sa.engine.make_url(url)
        except Exception:
            raise ValueError(
                f"url must be a database URL like 'postgresql://user@host:5432/db', found "
                f"{str(url)!r}."
            ) from None
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.location = parsed.render_as_string(hide_password=True)
        args = {"connect_timeout": connect_timeout} if parsed.drivername.startswith("postgres") \
            else {}  # fmt: skip
        self._sa = sa
        # no ping before every transaction (a round trip per decision); a connection the
        # server dropped is retried once instead (see _retrying)
        self._engine = sa.create_engine(parsed, connect_args=args)
        self._first = sa.text(self._first_sql + " RETURNING row_id")
        self._rows = sa.text(self._rows_sql)
        self._short = sa.text(self._short_sql)
        self._bulk = sa.text(self._bulk_sql)
        self._upgrade = sa.text(self._upgrade_sql)

    def _errors(self):
        return (self._sa.exc.SQLAlchemyError,)

    def _retrying(self, work):
        """Run ``work()``; once more when the pooled connection turned out dead (a server
        restart): SQLAlchemy has invalidated it and the retry gets a fresh one."""
        try:
            return work()
        except self._sa.exc.DBAPIError as err:
            if not err.connection_invalidated:
                raise
            return work()

    def _write_step(self, first, rest, bulk=None):
        rest = None if rest is None else [list(c) for c in rest]  # a retry reads them again
        return self._retrying(lambda: self._write_step_once(first, rest, bulk))

    def _write_step_once(self, first, rest, bulk):
        with self._engine.begin() as conn:
            number = conn.execute(self._first, dict(zip(_COLUMNS[1:], first[1:], strict=True)))
            number = number.scalar_one()
            if bulk is not None:
                conn.execute(self._bulk, dict(zip(_BULK_COLUMNS, (number, *bulk), strict=True)))
                # the header row locked, so two first bulk steps do not race on the version
                value = conn.execute(self._sa.text(self._header_sql + " FOR UPDATE")).scalar_one()
                value = self._upgraded(value)
                if value is not None:
                    conn.execute(self._upgrade, {"value": value})
            if rest is not None:
                conn.execute(
                    self._rows if len(rest) > 6 else self._short,
                    [
                        dict(zip(_COLUMNS if len(rest) > 6 else _NUMERIC, r, strict=True))
                        for r in zip(repeat(number), *rest)
                    ],
                )
        return number

    def _ddl(self, statements):
        with self._engine.begin() as conn:
            for sql in statements:
                conn.execute(self._sa.text(sql))

    def _query(self, sql, params=None):
        def run():
            with self._engine.connect() as conn:
                return [tuple(r) for r in conn.execute(self._sa.text(sql), params or {})]

        return self._retrying(run)

    def _extra_schema(self):
        # bulk arrays uncompressed: TOAST's compression took 2 s per 8 MB array here
        return tuple(
            f"ALTER TABLE {self.p}bulk ALTER COLUMN {c} SET STORAGE EXTERNAL"
            for c in ("sample_index", "sample_id", "label", "given", "score", "text_codes")
        )

    def _table_exists(self, name):
        return self._query("SELECT to_regclass(:name) IS NOT NULL", {"name": name})[0][0]

    def _snapshot(self, queries, binary=None):
        def run():
            with self._engine.connect() as conn:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    out = []
                    for j, q in enumerate(queries):
                        if j == binary:  # bytea in binary format: no hex text to decode
                            cursor = conn.connection.dbapi_connection.cursor(binary=True)
                            cursor.execute(q)
                            out.append([tuple(r) for r in cursor.fetchall()])
                            cursor.close()
                        else:
                            out.append([tuple(r) for r in conn.execute(self._sa.text(q))])
                    return out

        return self._retrying(run)

    def _insert_header(self, value: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                self._sa.text(
                    f"INSERT INTO {self.p}meta (key, value) VALUES ('header', :value) "
                    "ON CONFLICT (key) DO NOTHING"
                ),
                {"value": value},
            )

    def close(self):
        self._engine.dispose()
