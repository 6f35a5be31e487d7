"""A folder nobody may create files in, also for root (who ignores permission bits)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest


@contextlib.contextmanager
def read_only_folder(folder):
    """Make ``folder`` refuse new entries for the block: mode 0o555, and for root the immutable
    attribute (``chattr +i``); skips the test where neither can be set."""
    folder = str(folder)
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", folder], capture_output=True).returncode:
        pytest.skip("running as root and cannot set the immutable attribute (chattr +i)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", folder], check=True)
