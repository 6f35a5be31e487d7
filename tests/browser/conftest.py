"""Fixtures of the real-browser tests: JupyterLab on a temporary copy of ``notebooks/`` and a
headless Debian Chromium driven by Playwright.

The tests here are marked ``browser`` and ``slow``; run them with ``pytest -m browser``. Their
screenshots and logs land in a folder of this run, ``test-artifacts/browser/<start>-<pid>/``
(``test-artifacts/browser/latest`` links to the newest), named at the end of the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, LabServer, open_artifacts

# Lab settings for testing: no "receive Jupyter news?" toast over the notebook and no update
# check (nothing here may reach the network anyway); every cell attached to the page (no
# windowing), so the whole notebook can be inspected and photographed.
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@pytest.fixture(scope="session", autouse=True)
def artifacts() -> Path:
    """This run's folder of screenshots and logs (``_lab.ARTIFACTS``), made before the first
    browser test and linked from ``test-artifacts/browser/latest``."""
    return open_artifacts()


def pytest_terminal_summary(terminalreporter):
    if ARTIFACTS.is_dir() and any(ARTIFACTS.iterdir()):
        where = ARTIFACTS.relative_to(ROOT)
        terminalreporter.write_sep("-", f"browser screenshots and logs in {where}/")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; the tests are skipped (with the reason) where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is not installed: run .ci/setup as root (apt-get install chromium); "
            "Playwright's own browser downloads do not work here."
        )
    pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    return CHROMIUM


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """A temporary copy of the repository's ``notebooks/`` (JupyterLab's root folder), so
    nothing the tests run or save lands in the checkout. Modules that write a notebook of their
    own give it a name of its own."""
    scratch = tmp_path_factory.mktemp("lab")
    root = scratch / "notebooks"
    source = ROOT / "notebooks"
    if source.is_dir():
        shutil.copytree(
            source, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.workbench-cache")
        )
    else:
        root.mkdir()
    for name, values in _LAB_SETTINGS.items():
        path = scratch / "lab-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return root


@pytest.fixture(scope="session")
def shared_lab(lab_root, chromium_path):
    """One JupyterLab for every module that needs no server configuration of its own (it
    starts in seconds, but each start and stop is CPU the 2-core machine lacks); always
    stopped (with its kernels) and its log kept as ``lab.log`` in this run's artifacts folder.
    Its kernels' "auto" decisions stores land in a folder of its own, emptied per module."""
    decisions = lab_root.parent / "decisions"
    decisions.mkdir()
    server = LabServer(lab_root, env={"WORKBENCH_DECISIONS_DIR": str(decisions)})
    try:
        yield server
    finally:
        server.stop(keep_log=ARTIFACTS / "lab.log")


@pytest.fixture(scope="module")
def lab(shared_lab, lab_root):
    """The shared JupyterLab (see ``shared_lab``) as a module finds it: no kernel running and
    no decision saved; the module's kernels are shut down after it."""
    decisions = lab_root.parent / "decisions"
    shutil.rmtree(decisions)
    decisions.mkdir()
    try:
        yield shared_lab
    finally:
        if shared_lab.proc.poll() is None:
            shared_lab.shutdown_kernels()


@pytest.fixture(scope="module")
def headless_chromium(chromium_path):
    """Headless Chromium (Debian's), closed after the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
