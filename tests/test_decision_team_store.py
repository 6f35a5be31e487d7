"""The team store: PostgreSQL through SQLAlchemy + psycopg, against a real server the tests
start themselves (initdb/pg_ctl on a loopback port; skipped, with the reason, where the server
binaries are missing)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from _postgres import postgres_server, why_unavailable

from workbench.core.dataset import Dataset
from workbench.decisions.log import DecisionLog
from workbench.decisions.store import SQLStore, StoreError

REASON = why_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))

CLASSES = ["cat", "dog", "owl"]
IDS = [f"s{i}" for i in range(20)]


@pytest.fixture(scope="module")
def server():
    with postgres_server() as srv:
        yield srv


def _ds():
    return Dataset(np.asarray(CLASSES)[np.arange(20) % 3], class_names=CLASSES, ids=IDS)


def test_same_schema_and_history_as_sqlite(server, tmp_path):
    team = DecisionLog.for_dataset(_ds(), url=server.url, user="ada", table_prefix="t1_")
    local = DecisionLog.for_dataset(_ds(), path=tmp_path / "d.db", user="ada")
    for lg in (team, local):
        lg.decide([1, 2], "remove", score=[np.inf, 0.25], note="=x")
        lg.decide(3, "relabel", label="owl")
        lg.decide(4, "edit_labels", add=["dog"], remove=["cat"])
        lg.undo()
    again = DecisionLog.for_dataset(_ds(), url=server.url, table_prefix="t1_")
    cols = ["id", "index", "action", "label", "label_name", "given", "added", "removed", "user",
            "detector", "threshold", "score", "note", "undoes", "undone"]  # fmt: skip
    pd.testing.assert_frame_equal(again.history()[cols], local.history()[cols])
    assert "postgresql+psycopg://wb@127.0.0.1" in again.url
    for lg in (team, local, again):
        lg.close()


def test_reviewers_share_the_store_and_see_conflicts(server):
    ada = DecisionLog.for_dataset(_ds(), url=server.url, user="ada", table_prefix="t2_")
    bob = DecisionLog.for_dataset(_ds(), url=server.url, user="bob", table_prefix="t2_")
    ada.decide([0, 1], "remove")
    bob.decide([1], "keep")
    ada.reload()
    conf = ada.conflicts()
    assert conf["user"].tolist() == ["ada", "bob"] and set(conf["id"]) == {"s1"}
    assert ada.resolve(None, policy="take_theirs") == 1
    bob.reload()
    assert bob.conflicts().empty and bob.current().set_index("id").loc["s1", "action"] == "keep"
    ada.close()
    bob.close()


def test_another_dataset_is_refused(server):
    DecisionLog.for_dataset(_ds(), url=server.url, table_prefix="t3_").decide(0, "keep")
    other = Dataset(np.arange(20) % 3, class_names=CLASSES, ids=IDS[::-1])
    with pytest.raises(ValueError, match="another dataset"):
        DecisionLog.for_dataset(other, url=server.url, table_prefix="t3_")


WRITER = textwrap.dedent(
    """
    import sys
    from workbench.decisions.log import DecisionLog
    url, user, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    log = DecisionLog(1000, ["a", "b"], url=url, user=user, table_prefix="t4_")
    for i in range(start, start + 100):
        log.decide(i, "remove")
    """
)


def test_two_processes_at_once_lose_nothing(server):
    DecisionLog(1000, ["a", "b"], url=server.url, table_prefix="t4_").close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, server.url, user, str(start)])
        for user, start in (("ada", 0), ("bob", 100))
    ]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    lg = DecisionLog(1000, ["a", "b"], url=server.url, table_prefix="t4_")
    assert sorted(lg.log["index"]) == list(range(200)) and lg.log["step"].is_unique
    lg.close()


def test_a_server_that_is_down_loses_nothing_in_memory(server):
    lg = DecisionLog.for_dataset(_ds(), url=server.url, user="ada", table_prefix="t5_")
    lg.decide(0, "keep")
    server.stop()
    try:
        with pytest.raises(StoreError, match="recorded in memory"):
            lg.decide(1, "remove")
        assert lg.counts()["remove"] == 1
        with pytest.raises(StoreError, match="cannot open"):
            DecisionLog.for_dataset(_ds(), url=server.url, table_prefix="t5_")
    finally:
        server.start()
    lg.decide(2, "remove")  # the pending step is written first
    back = DecisionLog.for_dataset(_ds(), url=server.url, table_prefix="t5_")
    assert back.log["index"].tolist() == [0, 1, 2]
    lg.close()
    back.close()


def test_bad_urls_and_prefixes():
    with pytest.raises(ValueError, match="database URL"):
        SQLStore("not a url at all")
    with pytest.raises(ValueError, match="table_prefix"):
        SQLStore("postgresql://wb@127.0.0.1:1/x", table_prefix="x; DROP TABLE y")
