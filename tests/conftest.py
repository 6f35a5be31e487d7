"""Set-up shared by every test: each test's "auto" decisions store (the default of Session and
Workbench: ``workbench-output/decisions/<fingerprint>.db``) lands in a temporary folder of its
own, so no test reads decisions another test (or an earlier run) made, and nothing is written
into the checkout. A hook, not a fixture, so it also covers hypothesis tests and fixtures of
wider scope built during the test's set-up. Notebook kernels and JupyterLab servers started
by a test inherit it (the browser tests' shared JupyterLab gives its kernels a folder of its own,
emptied before each module: tests/browser/conftest.py).

Also no thread pools that spin while they wait, here and in every process a test starts
(kernels, servers and workers inherit the variables; a value set outside is kept): one BLAS
thread (numpy's and scipy's OpenBLAS; the tests' matrices are small) and OpenMP threads (torch,
sklearn) that sleep between parallel regions instead of spinning. On a 2-core machine, threads
of one pool spinning while another pool's threads work starve both: one 5-fold sklearn
LogisticRegression took 49-92 s instead of 0.3 s, test_probe's CNN 57-70 s instead of 5 s."""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

# BLAS libraries loaded before this file (by pytest's plugins) read the variable too late.
threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")

_ROOT: list[str] = []


def pytest_configure(config):
    _ROOT.append(tempfile.mkdtemp(prefix="wb-test-decisions-"))


def pytest_unconfigure(config):
    while _ROOT:
        shutil.rmtree(_ROOT.pop(), ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    os.environ["WORKBENCH_DECISIONS_DIR"] = tempfile.mkdtemp(dir=_ROOT[0])
