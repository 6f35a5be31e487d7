"""Bulk decision steps (BULK_ROWS rows or more) stored compactly, one row of binary arrays per
step, in SQLite and PostgreSQL: they round trip exactly (ids, positions, labels then, scores,
per-row texts, undo, reviewers' conflicts), stores of version 2 still read, and a damaged bulk
row is refused with a clear error."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from _postgres import postgres_server, why_unavailable

from workbench.core.dataset import Dataset
from workbench.decisions.formats import check_header
from workbench.decisions.log import DecisionLog
from workbench.decisions.store import BULK_ROWS, STORE_VERSION

CLASSES = ["cat", "dog", "owl"]
N = 3 * BULK_ROWS
PG_REASON = why_unavailable()


def _dataset(kind: str) -> Dataset:
    labels = np.random.default_rng(0).integers(0, 3, N)
    ids = {
        "str": [f"img_{i:05d}.jpg" for i in range(N)][::-1],  # ids not in position order
        "int": (np.arange(N) * 7 + 100_000)[::-1],
        "position": None,
    }[kind]
    return Dataset(np.asarray(CLASSES)[labels], class_names=CLASSES, ids=ids)


@pytest.fixture(scope="module")
def pg():
    if PG_REASON is not None:
        pytest.skip(PG_REASON)
    with postgres_server() as srv:
        yield srv


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path):
    """DecisionLog options naming one fresh store per test."""
    if request.param == "sqlite":
        return lambda name: {"path": tmp_path / f"{name}.db"}
    server = request.getfixturevalue("pg")
    prefix = f"b{abs(hash(request.node.name)) % 10**8}"
    return lambda name: {"url": server.url, "table_prefix": f"{prefix}{name}_"}


def _count(options: dict, table: str) -> int:
    """Rows in a store's ``table``, read with the database's own client."""
    if "path" in options:
        con = sqlite3.connect(options["path"])
        try:
            return con.execute(f"SELECT COUNT(*) FROM wb_{table}").fetchone()[0]
        finally:
            con.close()
    import sqlalchemy as sa

    engine = sa.create_engine(options["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as con:
        n = con.execute(sa.text(f"SELECT COUNT(*) FROM {options['table_prefix']}{table}"))
        n = n.scalar_one()
    engine.dispose()
    return n


def _review(ds: Dataset, options: dict, bulk_rows=BULK_ROWS) -> tuple[DecisionLog, DecisionLog]:
    """Two reviewers' bulk steps on one store: every kind of column a step can vary by row."""
    rng = np.random.default_rng(1)
    ada = DecisionLog.for_dataset(ds, user="ada", **options)
    bob = DecisionLog.for_dataset(ds, user="bob", **options)
    ada.store.bulk_rows = bob.store.bulk_rows = bulk_rows
    first = rng.permutation(N)[: 2 * BULK_ROWS]  # positions in no particular order
    scores = rng.random(len(first))
    scores[:3] = [np.inf, -np.inf, np.nan]
    ada.decide(first, "remove", score=scores, detector="self_confidence",
               threshold=("score", 0.5), note="=SUM(A1)")  # fmt: skip
    ada.decide(np.arange(BULK_ROWS, 2 * BULK_ROWS + 7), "relabel",
               label=rng.integers(0, 3, BULK_ROWS + 7))  # fmt: skip
    ada.decide(np.arange(N - BULK_ROWS - 1, N), "needs_review", note="look again")
    ada.undo()  # a bulk step undone: recorded, never deleted
    bob.decide(np.arange(0, 2 * BULK_ROWS), "keep", note="bob's pass")  # conflicts with ada's
    ada.reload()
    ada.resolve(np.arange(0, 1600), policy="take_theirs")  # per-row notes and users
    bob.reload()
    return ada, bob


@pytest.mark.parametrize("kind", ["str", "int", "position"])
def test_bulk_steps_round_trip_exactly(where, kind):
    ds = _dataset(kind)
    ada, bob = _review(ds, where("bulk"))
    again = DecisionLog.for_dataset(ds, **where("bulk"))
    pd.testing.assert_frame_equal(again.history(), ada.history())
    pd.testing.assert_frame_equal(again.current(), ada.current())
    pd.testing.assert_frame_equal(again.conflicts(), ada.conflicts())
    assert len(ada.conflicts()) and again.counts() == ada.counts()
    assert again.history()["undone"].sum() == BULK_ROWS + 1
    # ids are the dataset's, positions where they were, labels as they were when decided
    hist = again.log
    want_ids = ds.sample_ids()[hist["index"].to_numpy()]
    assert hist["id"].tolist() == list(want_ids)
    np.testing.assert_array_equal(hist["given"], ds.labels[hist["index"].to_numpy()])
    # every bulk step is one row of the bulk table, plus its first row among the decisions
    sizes = again.history().groupby("step").size()
    assert (sizes >= BULK_ROWS).sum() == 5 and _count(where("bulk"), "bulk") == 5
    assert _count(where("bulk"), "decisions") == len(sizes)
    # the same review stored row by row (as version 2 stores did) reads back the same
    ada2, bob2 = _review(ds, where("rows"), bulk_rows=10**9)
    assert _count(where("rows"), "bulk") == 0
    rows = DecisionLog.for_dataset(ds, **where("rows")).history()
    numbering = ["step", "undoes", "time"]  # a database numbers steps by their first row
    pd.testing.assert_frame_equal(rows.drop(columns=numbering),
                                  again.history().drop(columns=numbering))  # fmt: skip
    for lg in (ada, bob, again, ada2, bob2):
        lg.close()


def test_a_version_2_store_reads_and_is_marked_at_its_first_bulk_step(tmp_path):
    path = tmp_path / "d.db"
    ds = _dataset("str")
    lg = DecisionLog.for_dataset(ds, path=path)
    lg.store.bulk_rows = 10**9  # writes what version 2 wrote: one row per decision
    lg.decide(np.arange(BULK_ROWS), "remove")
    lg.decide(5, "keep")
    lg.close()
    con = sqlite3.connect(path)
    con.execute("DROP TABLE wb_bulk")  # as a store made before bulk steps existed
    con.commit()
    header = lambda: json.loads(  # noqa: E731
        con.execute("SELECT value FROM wb_meta WHERE key = 'header'").fetchone()[0])  # fmt: skip
    assert header()["version"] == 2
    old = DecisionLog.load(path)  # read without opening it for writing: no bulk table needed
    assert len(old) == BULK_ROWS + 1
    lg = DecisionLog.for_dataset(ds, path=path)
    assert lg.counts()["remove"] == BULK_ROWS - 1 and header()["version"] == 2
    lg.decide(np.arange(BULK_ROWS, 2 * BULK_ROWS), "relabel", label="owl")
    assert header()["version"] == STORE_VERSION
    # a workbench that reads only version 2 refuses it instead of reading one row of the step
    with pytest.raises(ValueError, match="newer workbench .*version 3"):
        check_header(header())
    back = DecisionLog.for_dataset(ds, path=path)
    pd.testing.assert_frame_equal(back.history(), lg.history())
    assert DecisionLog.load(path).counts() == lg.counts()
    con.execute("UPDATE wb_meta SET value = ? WHERE key = 'header'",
                (json.dumps({**header(), "version": STORE_VERSION + 1}),))  # fmt: skip
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="newer workbench .*store version 4"):
        DecisionLog.for_dataset(ds, path=path)
    lg.close()
    back.close()


@pytest.mark.parametrize(
    "sql, match",
    [
        ("UPDATE wb_bulk SET score = substr(score, 1, 80)", "column 'score' must hold"),
        ("UPDATE wb_bulk SET layout = 'not json'", "layout must name the text columns"),
        ("UPDATE wb_bulk SET sample_id = CAST('[1]' AS BLOB)", "'sample_id' must hold"),
        ("UPDATE wb_bulk SET step = 99", "bulk step 99 has no first row"),
        ("UPDATE wb_bulk SET sample_index = zeroblob(8 * n_rows)", "names a sample twice"),
    ],
)
def test_a_damaged_bulk_step_is_refused(tmp_path, sql, match):
    path = tmp_path / "d.db"
    ds = _dataset("str")
    lg = DecisionLog.for_dataset(ds, path=path)
    lg.decide(np.arange(BULK_ROWS), "remove", note="n")
    lg.close()
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()
    with pytest.raises(ValueError, match=f"damaged: .*{match}"):
        DecisionLog.for_dataset(ds, path=path)
