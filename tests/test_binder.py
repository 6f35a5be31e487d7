"""The Binder configuration follows repo2docker's conventions and matches the project."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def test_cpu_torch_pinned_like_the_setup_script():
    requirements = (BINDER / "requirements.txt").read_text()
    (pinned,) = re.findall(r"^torch==([\d.]+)\+cpu$", requirements, flags=re.M)
    assert "download.pytorch.org/whl/cpu" in requirements  # the CPU wheels' index
    setup = (ROOT / ".ci" / "setup").read_text()
    assert f'"torch=={pinned}"' in setup


def test_runtime_matches_the_supported_python():
    (version,) = re.findall(r"^python-(3\.\d+)$", (BINDER / "runtime.txt").read_text(), re.M)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minimum = re.search(r">=\s*(3\.\d+)", project["requires-python"]).group(1)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))


def test_post_build_installs_the_package_and_is_executable():
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert re.search(
        r"^pip install [^\n]*(\.|\"\.\[dask\]\")\s*$", text, flags=re.M
    )  # this repository
