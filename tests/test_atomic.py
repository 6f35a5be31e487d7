"""Atomic writes: the target is replaced whole or not at all."""

from __future__ import annotations

import pytest

from workbench.core.atomic import atomic_file


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
