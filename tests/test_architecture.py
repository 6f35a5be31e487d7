"""The package's shape: one-way layers (import-linter contracts in pyproject.toml), no import
circles, and no private names reached for across modules."""

from __future__ import annotations

import ast
import graphlib
import pathlib
import shutil
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "workbench"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports():
    """(importer, imported module, imported names) for every absolute ``workbench`` import."""
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench"):
                assert node.level == 0, f"{importer}: relative import (write it absolute)"
                yield importer, node.module, [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("workbench"):
                        yield importer, a.name, []


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(pathlib.Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    run = subprocess.run([exe], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_import_circles():
    graph: dict[str, set[str]] = {}
    for importer, module, names in _imports():
        targets = {f"{module}.{n}" for n in names if _is_module(f"{module}.{n}")} or {module}
        graph.setdefault(importer, set()).update(t for t in targets if t != importer)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import circle: {' -> '.join(err.args[1])}")


def test_no_private_names_across_modules():
    """``from m import _x`` only from a private helper module of the importer's own package."""
    offenders = []
    for importer, module, names in _imports():
        private = [
            n
            for n in names
            if n.startswith("_") and not n.endswith("__") and not _is_module(f"{module}.{n}")
        ]
        if not private:
            continue
        parent, _, leaf = module.rpartition(".")
        same_package = importer.rpartition(".")[0] == parent
        if not (leaf.startswith("_") and same_package):
            offenders.append(f"{importer} imports {', '.join(private)} from {module}")
    assert not offenders, "\n".join(offenders)
