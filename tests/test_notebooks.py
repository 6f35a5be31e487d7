"""The workshop notebooks: stored clean, well formed, and running top to bottom.

The fast tests read the stored files: no outputs, no execution counts, no widget state; a
title and what the reader will learn first, one references cell last; every exercise followed by
a hidden solution. The slow tests execute each notebook with nbclient on a kernel that runs this
interpreter (``sys.executable``), with the working directory ``notebooks/`` and the files the
notebook writes sent to ``tmp_path`` through ``WORKBENCH_OUTPUT_DIR``; any error fails, and so
does a figure wider than the notebook column. One more test runs every notebook in one shared
output folder, in the listed order and then in reverse (a Binder visitor opens them in any
order): each notebook must own its files. That test runs ``at_scale`` at a small size
(``SMALL_AT_SCALE``, set the way papermill sets parameters: in a cell after the one tagged
``parameters``); its full size runs once, alone.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = (
    "quickstart",
    "confident_learning",
    "noise_kinds",
    "detectors_compared",
    "training_dynamics",
    "real_label_errors",
    "annotators",
    "bring_your_own_data",
    "at_scale",
    "learning_with_noise",
    "multilabel",
)
NOTEBOOKS = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
SOLUTION_MARKDOWN = "Solution (expand the hidden cell)"
KERNEL_NAME = "workbench-test-python"
BINDER_KERNEL_BUDGET_MIB = 1700
COLUMN_WIDTH_PX = 950  # a JupyterLab notebook column at a common window size
# Sharing an output folder depends on which files a notebook writes, not on their size: at_scale
# writes the same folders and kinds of files at 200,000 samples in 4 shards as at 10^7 in 40, in
# seconds instead of minutes and 80 MB of shards instead of 4 GB.
SMALL_AT_SCALE = {"N_SAMPLES": 200_000, "N_SHARDS": 4}


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _load_strip_tool():
    spec = importlib.util.spec_from_file_location(
        "strip_notebooks", ROOT / "tools" / "strip_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _with_parameters(nb: nbformat.NotebookNode, parameters: dict) -> nbformat.NotebookNode:
    """``nb`` with a cell that sets ``parameters`` right after its cell tagged ``parameters``,
    as papermill injects them; every name must be one that cell assigns."""
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{len(tagged)} cells tagged parameters"
    assigned = set()
    for line in nb.cells[tagged[0]].source.splitlines():
        targets, equals, _ = line.partition("=")
        if equals and re.fullmatch(r"[\w, ]+", targets):
            assigned.update(t.strip() for t in targets.split(","))
    assert set(parameters) <= assigned, f"the parameters cell assigns {sorted(assigned)}"
    values = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    cell = nbformat.v4.new_code_cell(values, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(tagged[0] + 1, cell)
    return nb


# --- stored files ----------------------------------------------------------------------------------
def test_every_notebook_is_there():
    assert sorted(EXPECTED) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_stripped(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert "widgets" not in nb.metadata, "widget state is stored in the notebook metadata"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has stored outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"cell {i} has run metadata"
    text, stripped = _load_strip_tool().stripped_text(NOTEBOOK_DIR / f"{name}.ipynb")
    assert text == stripped, "run `.venv/bin/python tools/strip_notebooks.py`"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_starts_with_title_and_lessons_ends_with_references(name):
    cells = _read(name).cells
    first, last = cells[0], cells[-1]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "What you will learn" in first.source
    references = [c for c in cells if c.cell_type == "markdown" and "## References" in c.source]
    assert references == [last], "one references cell, the last cell"
    assert last.source.startswith("## References")
    assert last.source.count("\n- ") >= 1, "the references cell lists no paper"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercises_have_hidden_solutions(name):
    cells = _read(name).cells
    solutions = [i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", [])]
    exercises = [
        i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercise" in c.source
    ]
    assert 1 <= len(solutions) <= 3
    assert len(exercises) == len(solutions)
    for i in solutions:
        cell = cells[i]
        assert cell.cell_type == "code"
        assert cell.metadata["jupyter"]["source_hidden"] is True
        assert cell.source.strip()
        assert cells[i - 1].cell_type == "markdown"
        assert SOLUTION_MARKDOWN in cells[i - 1].source
        before = [e for e in exercises if e < i]
        assert before, f"solution cell {i} comes before any exercise"
        assert not [s for s in solutions if before[-1] < s < i], "two solutions for one exercise"


def test_main_figure_is_tagged():
    for name in NOTEBOOKS:
        tagged = [c for c in _read(name).cells if "main-figure" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged main-figure"


def test_strip_tool_cleans_an_executed_notebook(tmp_path):
    tool = _load_strip_tool()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# t"),
            nbformat.v4.new_code_cell(
                "1 + 1",
                execution_count=3,
                outputs=[
                    nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)
                ],
                metadata={"execution": {"iopub.status.busy": "x"}, "scrolled": True},
            ),
            nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "version": "3.11.2"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
        },
    )
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    assert tool.main([str(path), "--check"]) == 1
    assert tool.main([str(path)]) == 0
    assert tool.main([str(path), "--check"]) == 0
    clean = nbformat.read(path, as_version=4)
    assert "widgets" not in clean.metadata
    assert clean.metadata["language_info"] == {"name": "python"}
    code, solution = clean.cells[1], clean.cells[2]
    assert code.outputs == [] and code.execution_count is None and code.metadata == {}
    assert solution.metadata["jupyter"]["source_hidden"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["dirty.ipynb"]


# --- the Binder environment -------------------------------------------------------------------------
def test_binder_pins_the_tested_environment():
    """binder/constraints.txt pins what this environment runs, so the demo a visitor gets is the
    one these tests executed; refresh it as its header says after an upgrade."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.utils import canonicalize_name

    binder = ROOT / "binder"
    pins = {}
    for line in (binder / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            assert pinned, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = pinned.strip()
    assert "label-noise-workbench" not in pins, "the package itself is installed by postBuild"
    for must in ("torch", "numpy", "plotly", "anywidget", "jupyterlab"):
        assert must in pins, f"{must} is not pinned"
    stale = {}
    for name, pinned in pins.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # pinned for Binder, absent here: nothing to compare
        if installed != pinned:
            stale[name] = (pinned, installed)
    assert not stale, f"binder/constraints.txt differs from this environment: {stale}"
    requirements = (binder / "requirements.txt").read_text()
    assert "-c constraints.txt" in requirements
    assert f"torch=={pins['torch']}" in requirements
    post_build = (binder / "postBuild").read_text()
    assert "-c binder/constraints.txt" in post_build
    assert "rm -rf build ./*.egg-info" in post_build


def test_at_scale_takes_its_size_as_parameters():
    nb = _with_parameters(_read("at_scale"), SMALL_AT_SCALE)
    injected = [
        i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])
    ]
    assert len(injected) == 1 and "parameters" in nb.cells[injected[0] - 1].metadata["tags"]
    assert nb.cells[injected[0]].source == "N_SAMPLES = 200000\nN_SHARDS = 4"
    with pytest.raises(AssertionError, match="the parameters cell assigns"):
        _with_parameters(_read("at_scale"), {"N_ROWS": 10})


# --- execution -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernelspec that starts this interpreter, whatever `python` means on PATH."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "workbench tests",
        "language": "python",
    }
    (folder / KERNEL_NAME).mkdir()
    (folder / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return folder


def _repo_files() -> set[Path]:
    """Files under notebooks/ a notebook could leave behind: not the notebooks themselves (an
    author may save a new one while the suite runs), not JupyterLab's checkpoints."""
    return {
        p
        for p in NOTEBOOK_DIR.rglob("*")
        if ".ipynb_checkpoints" not in p.parts and p.suffix != ".ipynb"
    }


def _execute(
    name: str, kernel_dir: Path, out_dir: Path, monkeypatch, parameters: dict | None = None
) -> nbformat.NotebookNode:
    """Run one notebook top to bottom, writing into ``out_dir``, with ``parameters`` set after
    its parameters cell; fail on any error or warning from the package, a kernel over Binder's
    memory or a figure wider than the column. Returns the executed notebook."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = _read(name)
    if parameters:
        nb = _with_parameters(nb, parameters)
    probe = nbformat.v4.new_code_cell(
        "import os, resource, sys\n"
        "peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(sys.prefix, os.getcwd(), peak_kib, sep='\\n')"
    )
    nb.cells.append(probe)
    monkeypatch.setenv("WORKBENCH_OUTPUT_DIR", str(out_dir))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    before = _repo_files()
    km = KernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]),
    )
    client = NotebookClient(
        nb, km=km, timeout=600, resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    try:
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        # nbclient leaves a kernel it did not start running: close it, as a visitor closing the
        # notebook would (a live kernel keeps its files open, e.g. a decisions store).
        if km.has_kernel:
            km.shutdown_kernel(now=True)

    prefix, cwd, peak_kib = probe.outputs[0]["text"].split()
    assert Path(prefix) == Path(sys.prefix), "the kernel did not run this environment's python"
    assert Path(cwd) == NOTEBOOK_DIR
    # Binder gives the whole container 2 GB; leave room for the Jupyter server beside the kernel.
    peak_mib = int(peak_kib) / 1024
    assert peak_mib < BINDER_KERNEL_BUDGET_MIB, f"{name}: kernel peak memory {peak_mib:.0f} MiB"
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{name}: cell {i} raised"
            if out["output_type"] == "stream" and out["name"] == "stderr":
                assert "Traceback" not in out["text"], f"{name}, cell {i}: {out['text'][-2000:]}"
                assert "/workbench/" not in out["text"] or "Warning" not in out["text"], (
                    f"{name}, cell {i} warned from the workbench package: {out['text'][-2000:]}"
                )
            figure = out.get("data", {}).get("application/vnd.plotly.v1+json")
            if figure is not None:
                width = figure.get("layout", {}).get("width")
                assert width is not None, f"{name}, cell {i}: a figure without a fixed width"
                assert width <= COLUMN_WIDTH_PX, f"{name}, cell {i}: figure {width} px wide"
    assert _repo_files() == before, f"{name} left files in notebooks/"
    return nb


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, kernel_dir, tmp_path, monkeypatch):
    _execute(name, kernel_dir, tmp_path, monkeypatch)


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.timeout(900 * 2)  # a hang guard: every notebook here runs twice
def test_notebooks_share_an_output_folder_in_any_order(kernel_dir, tmp_path, monkeypatch):
    """A Binder visitor runs the notebooks in any order, some twice, all writing into the same
    ``workbench-output/``: no notebook may read a file another one wrote. Only the notebooks
    that write there can collide (the others are run once each by ``test_notebook_runs``);
    at_scale runs at a small size (``SMALL_AT_SCALE``): the same kinds of files, fewer rows."""
    order = [
        n for n in EXPECTED if "WORKBENCH_OUTPUT_DIR" in (NOTEBOOK_DIR / f"{n}.ipynb").read_text()
    ]
    assert "quickstart" in order and "bring_your_own_data" in order and "at_scale" in order
    for name in order + order[::-1]:
        if name != "at_scale":
            _execute(name, kernel_dir, tmp_path, monkeypatch)
            continue
        nb = _execute(name, kernel_dir, tmp_path, monkeypatch, SMALL_AT_SCALE)
        printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert f"{SMALL_AT_SCALE['N_SHARDS']} shards written" in printed, "ran at its full size"
