"""The wheel ships every subpackage, the widget library's browser files and the data files."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_subpackage_is_listed_for_the_wheel():
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "workbench").rglob("__init__.py")
    }
    listed = set(_setuptools_config()["packages"])
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"


def test_widget_files_ship_as_workbench_static():
    cfg = _setuptools_config()
    assert cfg["package-dir"]["workbench.static"] == "widgets"
    modules = sorted((ROOT / "widgets").glob("*.js"))
    assert modules, "the widget library has no ES modules"
    patterns = cfg["package-data"]["workbench.static"]
    assert "*.js" in patterns and "*.css" in patterns


def test_asset_path_finds_every_widget_module():
    from workbench.ui._common import asset_path

    for module in (ROOT / "widgets").glob("*.js"):
        assert asset_path(module.name).read_text() == module.read_text()


def test_every_data_file_ships():
    """Every non-Python file inside workbench/ matches a package-data pattern of its folder."""
    import fnmatch

    cfg = _setuptools_config()
    missing = []
    for path in (ROOT / "workbench").rglob("*"):
        if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        package = ".".join(path.parent.relative_to(ROOT).parts)
        patterns = cfg["package-data"].get(package, [])
        if package not in cfg["packages"] or not any(
            fnmatch.fnmatch(path.name, p) for p in patterns
        ):
            missing.append(str(path.relative_to(ROOT)))
    assert missing == [], "add their folders to packages and package-data"


def test_public_names_are_not_shadowed_by_submodules():
    """Importing a submodule sets an attribute of the package; none may hide a public name
    (``workbench.audit`` once became the module instead of the function)."""
    import importlib
    import pkgutil
    from types import ModuleType

    import workbench

    for info in pkgutil.walk_packages(workbench.__path__, "workbench."):
        if info.name.endswith("__main__"):
            continue  # runs the command line
        importlib.import_module(info.name)
    for name in workbench._EXPORTS:
        value = getattr(workbench, name)
        assert not isinstance(value, ModuleType), f"workbench.{name} is a module"
        assert value is getattr(importlib.import_module(workbench._EXPORTS[name]), name)
