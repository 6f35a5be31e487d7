"""Set-up shared by every test: each test's "auto" decisions store (the default of Session and
Workbench: ``workbench-output/decisions/<fingerprint>.db``) lands in a temporary folder of its
own, so no test reads decisions another test (or an earlier run) made, and nothing is written
into the checkout. A hook, not a fixture, so it also covers hypothesis tests and fixtures of
wider scope built during the test's set-up. Notebook kernels and JupyterLab servers started
by a test inherit it (the browser tests' shared JupyterLab gives its kernels a folder of its own,
emptied before each module: tests/browser/conftest.py)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_ROOT: list[str] = []


def pytest_configure(config):
    _ROOT.append(tempfile.mkdtemp(prefix="wb-test-decisions-"))


def pytest_unconfigure(config):
    while _ROOT:
        shutil.rmtree(_ROOT.pop(), ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    os.environ["WORKBENCH_DECISIONS_DIR"] = tempfile.mkdtemp(dir=_ROOT[0])
