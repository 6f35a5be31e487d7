"""Atomic writes: the target is replaced whole or not at all."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from workbench.core.atomic import (
    LEGACY_STALE_AFTER_S,
    STALE_AFTER_S,
    atomic_file,
    clean_stale_temporaries,
    default_mode,
    temp_prefix,
)


def test_writes_text_and_bytes(tmp_path):
    with atomic_file(tmp_path / "a.txt", "w") as f:
        f.write("héllo")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    with atomic_file(tmp_path / "a.txt", "wb") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "a.txt").read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_an_interrupted_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "d.json"
    target.write_text("previous")
    with pytest.raises(KeyboardInterrupt), atomic_file(target, "w") as f:
        f.write("half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]  # no temporary file left


def test_missing_folder_and_bad_mode(tmp_path):
    with pytest.raises(ValueError, match="does not exist"), atomic_file(tmp_path / "no" / "x"):
        pass
    with atomic_file(tmp_path / "new" / "x", make_folder=True) as f:
        f.write(b"ok")
    assert (tmp_path / "new" / "x").read_bytes() == b"ok"
    with pytest.raises(ValueError, match="mode"), atomic_file(tmp_path / "x", "a"):
        pass


# --- file modes and leftovers (issue: a shared 0664 file became 0600) --------------------------
def test_replacing_keeps_the_target_mode(tmp_path):
    target = tmp_path / "shared.json"
    target.write_text("old")
    os.chmod(target, 0o664)
    with atomic_file(target, "w") as f:
        f.write("new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o664
    os.chmod(target, 0o640)
    with atomic_file(target, "w") as f:
        f.write("newer")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_new_file_gets_the_umask_default(tmp_path):
    old = os.umask(0o002)
    try:
        with atomic_file(tmp_path / "new.csv", "w") as f:
            f.write("x")
        assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o664
        assert default_mode() == 0o664
    finally:
        os.umask(old)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    target = tmp_path / "d.json"
    host = temp_prefix("x").split(".")[2].rpartition("-")[0]
    dead = tmp_path / f".d.json.{host}-{_dead_pid()}.abc123.tmp"
    alive = tmp_path / f".d.json.{host}-{os.getppid()}.def456.tmp"  # a running process
    other_host_new = tmp_path / ".d.json.elsewhere-1.ghi789.tmp"
    other_host_old = tmp_path / ".d.json.elsewhere-2.jkl012.tmp"
    foreign = tmp_path / ".d.json.notours.tmp"
    for p in (dead, alive, other_host_new, other_host_old, foreign):
        p.write_text("decision data")
    old = time.time() - STALE_AFTER_S - 60
    os.utime(other_host_old, (old, old))
    with atomic_file(target, "w") as f:
        f.write("{}")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(p.name for p in (target, alive, other_host_new, foreign))
    assert clean_stale_temporaries(target) == []


def test_a_killed_write_leaves_a_temporary_the_next_write_removes(tmp_path):
    target = tmp_path / "d.json"
    code = (
        "import os, sys\n"
        "from workbench.core.atomic import atomic_file\n"
        "with atomic_file(sys.argv[1], 'w') as f:\n"
        "    f.write('half'); f.flush(); os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert [p.name.endswith(".tmp") for p in tmp_path.iterdir()] == [True]
    with atomic_file(target, "w") as f:
        f.write("whole")
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]


def test_leftovers_of_earlier_versions_are_removed_once_old(tmp_path):
    """Before owners were named, kill -9 left ``.auto.json.<8 random>.tmp`` that nothing
    removed; they go once older than any write takes."""
    target = tmp_path / "auto.json"
    old, fresh = tmp_path / ".auto.json.k2j_x9q1.tmp", tmp_path / ".auto.json.a1b2c3d4.tmp"
    for p in (old, fresh):
        p.write_text('{"steps": "decision data"}')
    then = time.time() - LEGACY_STALE_AFTER_S - 60
    os.utime(old, (then, then))
    with atomic_file(target, "w") as f:
        f.write("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, fresh.name])
