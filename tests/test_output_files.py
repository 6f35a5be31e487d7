"""Every file the workbench writes: spreadsheet-safe CSV cells, kept file modes, no rename
across devices, writability checked before the work, no leftovers of killed writes."""

from __future__ import annotations

import io
import os
import stat

import numpy as np
import pandas as pd
import pytest
from _audit_data import probs_dataset
from _readonly import read_only_folder

from workbench.cli import main
from workbench.core.atomic import temp_prefix
from workbench.core.csv_safety import FORMULA_STARTS, neutralize, neutralize_frame, restore
from workbench.core.dataset import Dataset
from workbench.pipeline.result import OUTPUT_FILES, check_writable
from workbench.pipeline.run import audit

HOSTILE = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "'=quoted",
           "''", "'", "plain", "", "a,b", 'say "hi"', "line\nbreak"]  # fmt: skip


def test_neutralize_is_reversible_and_leaves_safe_text_alone():
    for text in HOSTILE:
        safe = neutralize(text)
        assert restore(safe) == text
        assert safe[:1] not in FORMULA_STARTS
        if text.lstrip("'")[:1] not in FORMULA_STARTS:
            assert safe == text
    arr = neutralize(np.array(HOSTILE, dtype=object))
    assert list(restore(arr)) == HOSTILE


def test_neutralize_frame_touches_text_only():
    df = pd.DataFrame(
        {
            "score": [-0.5, 1.0],
            "label": [-1, 2],
            "flag": [True, False],
            "name": ["=x", "ok"],
            "cat": pd.Categorical(["-a", "b"]),
            "num_cat": pd.Categorical([-1, 2]),
        }
    )
    out = neutralize_frame(df)
    assert out["score"].tolist() == [-0.5, 1.0] and out["label"].tolist() == [-1, 2]
    assert out["name"].tolist() == ["'=x", "ok"] and out["cat"].tolist() == ["'-a", "b"]
    assert out["num_cat"].tolist() == [-1, 2] and out["flag"].dtype == bool


@pytest.fixture(scope="module")
def hostile_audit():
    ds = probs_dataset(n=120, k=3, truth=False)
    names = ["=cmd|' /C calc'!A0", "-1", "@evil"]
    ds = Dataset(ds.labels, class_names=names, pred_probs=ds.pred_probs)
    return audit(ds, compute_missing=False, progress=False)


def test_audit_tables_are_spreadsheet_safe_and_numbers_stay_numbers(hostile_audit, tmp_path):
    files = hostile_audit.write(tmp_path / "out")
    for name in ("scores.csv", "flagged.csv", "decisions_template.csv"):
        text = files[name].read_text(encoding="utf-8")
        cells = [c.strip('"') for line in text.splitlines() for c in line.split(",")]
        for c in cells:  # a risky first character only where the cell is a number
            if c[:1] in FORMULA_STARTS:
                float(c)
    scores = pd.read_csv(files["scores.csv"])
    assert pd.api.types.is_numeric_dtype(scores["label"])
    assert set(scores["label_name"]) <= {"'=cmd|' /C calc'!A0", "'-1", "'@evil"}
    assert all(pd.api.types.is_numeric_dtype(scores[c]) for c in scores if c.endswith("_score"))
    assert restore(scores["label_name"].to_numpy()).tolist() == [
        hostile_audit.dataset.class_names[i] for i in scores["label"]
    ]


def test_outputs_keep_the_mode_of_the_files_they_replace(hostile_audit, tmp_path):
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        hostile_audit.write(out)
        assert stat.S_IMODE(out.stat().st_mode) == 0o755
        assert stat.S_IMODE((out / "scores.csv").stat().st_mode) == 0o644
        os.chmod(out / "scores.csv", 0o664)
        os.chmod(out / "report.html", 0o600)
        hostile_audit.write(out)
    finally:
        os.umask(old)
    assert stat.S_IMODE((out / "scores.csv").stat().st_mode) == 0o664
    assert stat.S_IMODE((out / "report.html").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "flagged.csv").stat().st_mode) == 0o644
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)


def test_an_existing_out_folder_is_written_inside_when_its_parent_is_read_only(
    hostile_audit, tmp_path
):
    parent = tmp_path / "mount"
    out = parent / "out"
    out.mkdir(parents=True)
    with read_only_folder(parent):  # like a mount point: nothing can be made beside `out`
        files = hostile_audit.write(out)
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)
    assert all(p.exists() for p in files.values())
    assert os.listdir(parent) == ["out"]


def test_stale_temporary_folders_of_a_killed_run_are_removed(hostile_audit, tmp_path):
    out = tmp_path / "out"
    dead = tmp_path / (temp_prefix("out").rsplit("-", 1)[0] + "-999999999.x1.tmp")
    dead.mkdir()
    (dead / "scores.csv").write_text("half")
    hostile_audit.write(out)
    assert sorted(os.listdir(tmp_path)) == ["out"]
    inner = out / (temp_prefix(".workbench-audit").rsplit("-", 1)[0] + "-999999999.y2.tmp")
    inner.mkdir()
    hostile_audit.write(out)
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "a" / "b") == (tmp_path / "a" / "b").absolute()
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        check_writable(tmp_path / "f")
    with pytest.raises(ValueError, match="is not a folder"):
        check_writable(tmp_path / "f" / "sub")
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only_folder(ro), pytest.raises(OSError, match="cannot write"):
        check_writable(ro / "new")
    assert os.listdir(ro) == []


def test_cli_refuses_an_unwritable_out_before_running_the_audit(tmp_path, capsys, monkeypatch):
    import workbench.pipeline.run as run_mod

    ran = []
    monkeypatch.setattr(run_mod, "audit", lambda *a, **k: ran.append(1))
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only_folder(ro):
        code = main(["demo", "--out", str(ro / "audit"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and not ran
    assert "--out" in err and "cannot write" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1


def test_cli_writes_into_an_existing_out_whose_parent_is_read_only(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    probs = rng.dirichlet(np.ones(3), 60)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "probs.npy", probs)
    parent = tmp_path / "mount"
    out = parent / "out"
    out.mkdir(parents=True)
    argv = [str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "probs.npy")]
    with read_only_folder(parent):
        code = main([*argv, "--out", str(out), "--no-compute", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)
    assert pd.read_csv(io.StringIO((out / "scores.csv").read_text())).shape[0] == 60


def test_tables_and_report_show_the_sample_ids(tmp_path):
    base = probs_dataset(n=120, k=3, truth=False)
    ids = [f"<img_{i}>.png" for i in range(120)]
    ds = Dataset(base.labels, class_names=base.class_names, pred_probs=base.pred_probs, ids=ids)
    result = audit(ds, compute_missing=False, progress=False)
    files = result.write(tmp_path / "out")
    scores = pd.read_csv(files["scores.csv"])
    assert scores["id"].tolist() == ids and scores["index"].tolist() == list(range(120))
    flagged = pd.read_csv(files["flagged.csv"])
    assert (flagged["id"] == [ids[i] for i in flagged["index"]]).all()
    html = files["report.html"].read_text()
    first = flagged.loc[0, "id"]
    assert (
        "<th>id</th>" in html
        and f"<td>{first.replace('<', '&lt;').replace('>', '&gt;')}</td>" in html
    )
    template = pd.read_csv(files["decisions_template.csv"])
    assert set(template["id"]) == set(flagged["id"])
