"""The README is the contract: its commands exist, its example runs, its tables are complete."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_two_commands_are_make_targets_and_ci_runs_the_test_one():
    setup = _code_blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in setup.splitlines() if line.strip()]
    assert commands == ["make lab", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    assert "notebooks/quickstart.ipynb" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec make test$", ci, flags=re.M)


def test_binder_badge_opens_a_notebook_that_exists():
    (path,) = re.findall(r"mybinder\.org/v2/gh/[^)\s]+urlpath=lab/tree/([^)\s&]+)", README)
    assert (ROOT / path).is_file(), path
    assert (ROOT / "binder" / "requirements.txt").is_file()


def test_screenshot_at_the_top_exists():
    (image,) = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README)[:1]
    assert (ROOT / image).is_file(), image


def test_detector_table_names_exactly_the_registered_detectors():
    from workbench.analysis.detectors import list_detectors

    section = README.split("## Detectors", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert named == set(list_detectors())


def test_no_placeholder_is_left():
    assert "@@" not in README


@pytest.mark.slow
def test_the_own_arrays_example_runs(capsys):
    example = _code_blocks("python")[0]
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 60)
    embeddings = rng.normal(size=(180, 8)) + 3.0 * labels[:, None]
    labels[:9] = (labels[:9] + 1) % 3  # a few wrong labels
    namespace = {"labels": labels, "embeddings": embeddings, "class_names": ["a", "b", "c"]}
    exec(compile(example, "README.md", "exec"), namespace)
    flagged = namespace["result"].flagged_frame()
    assert len(flagged) > 0 and set(flagged["index"][:9]) & set(range(9))


def test_the_intro_counts_the_registered_detectors():
    from workbench.analysis.detectors import get_detector, label_error_detectors, list_detectors

    names = list_detectors()
    errors = label_error_detectors(names)
    intro = " ".join(README.split("## ", 1)[0].split())
    m = re.search(
        r"(\d+) label-error detectors \((\d+) for one label per sample, (\d+) for label sets, "
        r"`(\w+)` in both\) and (\d+) that rank",
        intro,
    )
    assert m is not None, "the intro no longer counts the detectors"
    total, single, sets, both, other = m.groups()
    tasks = {n: get_detector(n).tasks for n in errors}
    assert int(total) == len(errors)
    assert int(single) == sum("multiclass" in t for t in tasks.values())
    assert int(sets) == sum("multilabel" in t for t in tasks.values())
    assert [n for n, t in tasks.items() if len(t) > 1] == [both]
    assert int(other) == len(names) - len(errors)
