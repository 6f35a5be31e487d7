"""Store the workshop notebooks clean: no outputs, no execution counts, no widget state.

Also hides every solution cell (cell tag ``solution``: ``metadata.jupyter.source_hidden``),
drops the per-cell run metadata editors add (``execution``, ``ExecuteTime``, ``collapsed``,
``scrolled``) and keeps only ``kernelspec`` and the language name in the notebook metadata, so
that a notebook saved from JupyterLab after a run diffs only where its sources changed.

Run: ``.venv/bin/python tools/strip_notebooks.py [PATH ...]`` (default: ``notebooks/*.ipynb``);
``--check`` changes nothing and exits with status 1 when some notebook is not stored clean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CELL_RUN_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
SOLUTION_TAG = "solution"


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip ``nb`` in place (see the module docstring) and return it."""
    language = nb.metadata.get("language_info", {}).get("name", "python")
    kept = {"kernelspec": nb.metadata["kernelspec"]} if "kernelspec" in nb.metadata else {}
    nb.metadata = nbformat.from_dict({**kept, "language_info": {"name": language}})
    for cell in nb.cells:
        for key in CELL_RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
        if "attachments" in cell and not cell.attachments:
            del cell["attachments"]
    return nb


def stripped_text(path: Path) -> tuple[str, str]:
    """The file's current text and its text once stripped."""
    text = path.read_text(encoding="utf-8")
    nb = strip(nbformat.reads(text, as_version=4))
    nbformat.validate(nb)
    return text, nbformat.writes(nb) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)"
    )
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        old, new = stripped_text(path)
        if old != new:
            dirty.append(path)
            if not args.check:
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_text(new, encoding="utf-8")
                tmp.replace(path)
    verb = "not stripped" if args.check else "stripped"
    for path in dirty:
        print(f"{verb}: {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
