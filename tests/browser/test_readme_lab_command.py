"""The README's first command, ``make lab``, starts JupyterLab with the quickstart notebook open.

The command runs as a user runs it (set-up check included) with two additions: a free port and a
"browser" that records the address JupyterLab asks it to open. Headless Chromium then opens that
address, token and all, and the test checks the quickstart is the notebook on screen.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from _lab import ARTIFACTS, ROOT, free_port, stop_process_group, tail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_START_TIMEOUT_S = 600  # the set-up check reinstalls when pyproject.toml changed


def _recording_browser(folder: Path) -> tuple[Path, Path]:
    """An executable that appends each address it is asked to open to a file."""
    opened = folder / "opened.txt"
    script = folder / "record-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    script.chmod(0o755)
    return script, opened


@pytest.fixture
def make_lab(tmp_path, chromium_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    browser, opened = _recording_browser(tmp_path)
    port = free_port()
    env = dict(
        os.environ,
        BROWSER=str(browser),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    args = f"--ip=127.0.0.1 --port={port} --ServerApp.port_retries=0"
    log_path = tmp_path / "make-lab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["make", "-s", "lab", f"LAB_ARGS={args}"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if opened.exists() and opened.read_text().strip():
                break
            time.sleep(0.5)
        log_text = log_path.read_text(errors="replace")
        if not opened.exists():
            pytest.fail(
                f"`make lab` opened no browser (exit {proc.poll()}); log:\n{tail(log_text)}"
            )
        yield opened.read_text().split()[0], log_path
    finally:
        stop_process_group(proc)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "make-lab.log").write_text(log_path.read_text(errors="replace"))


def test_make_lab_opens_the_quickstart(make_lab, headless_chromium):
    url, _ = make_lab
    page = headless_chromium.new_page(viewport={"width": 1400, "height": 900})
    try:
        # What a desktop browser gets: a local page that forwards to the server with the token.
        page.goto(url)
        page.wait_for_url(re.compile(r"/lab/tree/(notebooks/)?quickstart\.ipynb"), timeout=60_000)
        tab = page.locator(".lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel")
        tab.filter(has_text="quickstart.ipynb").wait_for(timeout=120_000)
        # the notebook's own title, rendered from its first cell
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        notebook.locator(".jp-RenderedMarkdown h1").filter(
            has_text="Quickstart: find, look at and fix wrong labels"
        ).wait_for(timeout=60_000)
        # the notebook's kernel (the set-up's virtual environment) starts and answers
        page.locator(".jp-StatusBar-TextItem").filter(
            has_text=re.compile(r"Python 3.*\|\s*Idle")
        ).wait_for(timeout=120_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "make-lab-quickstart.png"))
    finally:
        page.close()
