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
header as JSON), ``<prefix>steps`` (one row per step: its number, the step it undoes or -1, the
text columns shared by the step's rows) and ``<prefix>rows`` (one row per decision: step, row
order, position, id, label, given label, score, and the text columns that differ between the
step's rows). Undo is a recorded step; history is never deleted.

Errors of the store (locked database, server down, disk full) are raised as
:class:`StoreError` (an ``OSError``): the log keeps the decision in memory and writes it with
the next change.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from pathlib import Path

import numpy as np

from workbench.decisions.formats import (
    STR_COLUMNS,
    UNDO,
    check_header,
    format_of,
    read_decisions,
    write_file,
)

__all__ = [
    "DB_SUFFIXES",
    "DecisionStore",
    "FileStore",
    "SQLStore",
    "SQLiteStore",
    "StoreError",
    "open_store",
]

#: Suffixes that name a SQLite store.
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 30.0


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
_TEXT = STR_COLUMNS  # text columns, stored per step or per row
_SQL_NAME = {"user": "user_name", "time": "made_at"}  # avoid reserved words


def _col(c: str) -> str:
    return _SQL_NAME.get(c, c)


def _schema(p: str, serial: str, real: str, big: str) -> list[str]:
    text_cols = ", ".join(f"{_col(c)} TEXT" for c in _TEXT)
    return [
        f"CREATE TABLE IF NOT EXISTS {p}meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {p}steps (step {serial}, undoes {big} NOT NULL, "
        f"n_rows {big} NOT NULL, {text_cols})",
        f"CREATE TABLE IF NOT EXISTS {p}rows (step {big} NOT NULL REFERENCES {p}steps(step), "
        f"pos {big} NOT NULL, sample_index {big} NOT NULL, sample_id TEXT, label {big} NOT NULL, "
        f"given {big} NOT NULL, score {real}, {text_cols}, PRIMARY KEY (step, pos))",
    ]


class _Database(DecisionStore):
    """The SQL shared by SQLite and PostgreSQL; subclasses give ``_transaction`` and ``_query``."""

    incremental = True
    _serial = _real = _big = ""

    def __init__(self, table_prefix: str):
        if not isinstance(table_prefix, str) or not table_prefix.replace("_", "").isalnum():
            raise ValueError(
                f"table_prefix must be letters, digits and '_', found {table_prefix!r}."
            )
        self.p = table_prefix

    # subclass hooks
    def _transaction(self):  # context manager yielding (execute, executemany)
        raise NotImplementedError

    def _query(self, sql: str, params: dict | None = None) -> list[tuple]:
        raise NotImplementedError

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    @contextlib.contextmanager
    def _guard(self, what: str):
        try:
            yield
        except self._errors() as err:
            raise StoreError(f"cannot {what} the decisions store {self.location}: {err}") from err

    def open(self, header, *, check=True):
        with self._guard("open"):
            with self._transaction() as (execute, _):
                for sql in _schema(self.p, self._serial, self._real, self._big):
                    execute(sql, {})
            rows = self._query(f"SELECT value FROM {self.p}meta WHERE key = 'header'")
            if not rows:
                body = {k: v for k, v in header.items() if k != "version_read"}
                with self._transaction() as (execute, _):
                    execute(self._insert_meta(), {"key": "header", "value": json.dumps(body)})
                rows = self._query(f"SELECT value FROM {self.p}meta WHERE key = 'header'")
                if json.loads(rows[0][0]) == body:
                    stored = None  # new (or made just now by another process for the same data)
                else:
                    stored = json.loads(rows[0][0])
            else:
                stored = json.loads(rows[0][0])
        if stored is not None:
            try:
                stored = check_header(stored, header if check else None)
            except ValueError as err:
                raise ValueError(f"Cannot open decisions store {self.location}: {err}.") from None
        _, steps = self.read(header=stored or check_header(dict(header)))
        return stored, steps

    def _insert_meta(self) -> str:
        raise NotImplementedError

    def write(self, new_steps, all_steps, header, ids):
        numbers = []
        text = ", ".join(_col(c) for c in _TEXT)
        marks = ", ".join(f":{_col(c)}" for c in _TEXT)
        insert_step = (
            f"INSERT INTO {self.p}steps (undoes, n_rows, {text}) "
            f"VALUES (:undoes, :n_rows, {marks}) RETURNING step"
        )
        insert_rows = (
            f"INSERT INTO {self.p}rows (step, pos, sample_index, sample_id, label, given, score, "
            f"{text}) VALUES (:step, :pos, :sample_index, :sample_id, :label, :given, :score, "
            f"{marks})"
        )
        renumber: dict[int, int] = {}
        with self._guard("write to"):
            for s in new_steps:
                n = len(s["index"])
                undoes = renumber.get(int(s["undoes"]), int(s["undoes"]))
                shared = {_col(c): (s[c] if isinstance(s[c], str) else None) for c in _TEXT}
                idx = s["index"]
                if header["ids"] == "position" or (isinstance(s["action"], str) and s["action"] == UNDO):
                    sid = [None] * n
                else:
                    sid = [str(v) for v in ids[idx].tolist()]
                per_row = {
                    _col(c): (s[c].tolist() if not isinstance(s[c], str) else [None] * n)
                    for c in _TEXT
                }
                scores = [None if math.isnan(v) else v for v in s["score"].tolist()]
                with self._transaction() as (execute, executemany):
                    number = execute(insert_step, {"undoes": undoes, "n_rows": n, **shared})
                    executemany(
                        insert_rows,
                        [
                            {
                                "step": number,
                                "pos": j,
                                "sample_index": int(idx[j]),
                                "sample_id": sid[j],
                                "label": int(s["label"][j]),
                                "given": int(s["given"][j]),
                                "score": scores[j],
                                **{k: v[j] for k, v in per_row.items()},
                            }
                            for j in range(n)
                        ],
                    )
                renumber[int(s["step"])] = int(number)
                numbers.append(int(number))
        return numbers

    def read(self, header: dict | None = None):
        with self._guard("read"):
            if header is None:
                rows = self._query(f"SELECT value FROM {self.p}meta WHERE key = 'header'")
                if not rows:
                    raise StoreError(f"the decisions store {self.location} is empty")
                header = check_header(json.loads(rows[0][0]))
            text = ", ".join(_col(c) for c in _TEXT)
            steps_rows = self._query(
                f"SELECT step, undoes, n_rows, {text} FROM {self.p}steps ORDER BY step"
            )
            data = self._query(
                f"SELECT step, sample_index, sample_id, label, given, score, {text} "
                f"FROM {self.p}rows ORDER BY step, pos"
            )
        return header, _steps_from_rows(header, steps_rows, data)


def _steps_from_rows(header: dict, steps_rows: list[tuple], data: list[tuple]) -> list[dict]:
    n_text = len(_TEXT)
    if data:
        cols = list(zip(*data, strict=True))
        step_col = np.asarray(cols[0], dtype=np.int64)
        index = np.asarray(cols[1], dtype=np.int64)
        sample_id = np.asarray(cols[2], dtype=object)
        label = np.asarray(cols[3], dtype=np.int64)
        given = np.asarray(cols[4], dtype=np.int64)
        score = np.asarray([np.nan if v is None else v for v in cols[5]], dtype=np.float64)
        texts = [np.asarray(c, dtype=object) for c in cols[6 : 6 + n_text]]
    else:
        step_col = np.empty(0, np.int64)
    starts = np.searchsorted(step_col, [r[0] for r in steps_rows], side="left")
    steps = []
    for (number, undoes, n_rows, *shared), a in zip(steps_rows, starts.tolist(), strict=True):
        b = a + int(n_rows)
        if b > len(step_col) or (b > a and step_col[b - 1] != number):
            raise StoreError(f"step {number} of the decisions store is incomplete")
        s = {
            "step": int(number),
            "undoes": int(undoes),
            "index": index[a:b] if data else np.empty(0, np.int64),
            "label": label[a:b] if data else np.empty(0, np.int64),
            "given": given[a:b] if data else np.empty(0, np.int64),
            "score": score[a:b] if data else np.empty(0, np.float64),
        }
        for c, value, values in zip(_TEXT, shared, texts if data else [None] * n_text,
                                    strict=True):  # fmt: skip
            s[c] = value if value is not None else values[a:b]
        if header["ids"] == "position" or (isinstance(s["action"], str) and s["action"] == UNDO):
            s["id"] = np.where(s["index"] >= 0, s["index"], -1).astype(object)
        elif header["ids"] == "int":
            s["id"] = np.asarray([int(v) for v in sample_id[a:b]], dtype=object)
        else:
            s["id"] = sample_id[a:b]
        steps.append(s)
    return steps


class SQLiteStore(_Database):
    """A SQLite file (WAL journal, one transaction per step, ``busy_timeout`` seconds of
    waiting for other writers)."""

    _serial, _real, _big = "INTEGER PRIMARY KEY AUTOINCREMENT", "REAL", "INTEGER"

    def __init__(self, path, *, busy_timeout: float = BUSY_TIMEOUT_S, table_prefix: str = "wb_"):
        super().__init__(table_prefix)
        if not isinstance(busy_timeout, (int, float)) or not busy_timeout >= 0:
            raise ValueError(f"busy_timeout must be seconds >= 0, found {busy_timeout!r}.")
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        if not self.path.parent.is_dir():
            raise ValueError(
                f"Cannot open {self.location!r}: folder {str(self.path.parent)!r} does not exist."
            )
        self.busy_timeout = float(busy_timeout)
        self._conn: sqlite3.Connection | None = None

    def _errors(self):
        return (sqlite3.Error,)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path.exists():
                with open(self.path, "rb") as f:
                    magic = f.read(16)
                if magic and magic != b"SQLite format 3\x00":
                    raise ValueError(f"{self.location!r} is not a SQLite database.")
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a kill -9 never corrupts or loses a committed step; a power cut may
            # lose the last few steps (never half of one)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _transaction(self):
        conn = self._connect()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")

        def execute(sql, params):
            cur.execute(sql, params)
            row = cur.fetchone() if sql.rstrip().endswith("RETURNING step") else None
            return None if row is None else row[0]

        def executemany(sql, rows):
            cur.executemany(sql, rows)

        try:
            yield execute, executemany
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def _query(self, sql, params=None):
        return self._connect().execute(sql, params or {}).fetchall()

    def _insert_meta(self):
        return f"INSERT OR IGNORE INTO {self.p}meta (key, value) VALUES (:key, :value)"

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
        Tables are ``<prefix>meta``, ``<prefix>steps`` and ``<prefix>rows``: one store per
        prefix (one per dataset), several in one database.
    connect_timeout : int, default=10
        Seconds to wait for the server.
    """

    _serial, _real, _big = "BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION", "BIGINT"

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
        self._engine = sa.create_engine(parsed, connect_args=args, pool_pre_ping=True)

    def _errors(self):
        return (self._sa.exc.SQLAlchemyError,)

    @contextlib.contextmanager
    def _transaction(self):
        with self._engine.begin() as conn:

            def execute(sql, params):
                result = conn.execute(self._sa.text(sql), params)
                return result.scalar_one() if sql.rstrip().endswith("RETURNING step") else None

            def executemany(sql, rows):
                if rows:
                    conn.execute(self._sa.text(sql), rows)

            yield execute, executemany

    def _query(self, sql, params=None):
        with self._engine.connect() as conn:
            return [tuple(r) for r in conn.execute(self._sa.text(sql), params or {})]

    def _insert_meta(self):
        return (
            f"INSERT INTO {self.p}meta (key, value) VALUES (:key, :value) "
            "ON CONFLICT (key) DO NOTHING"
        )

    def close(self):
        self._engine.dispose()
