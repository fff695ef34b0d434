"""Debian's chromium for the dashboard test, driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
INSTALL = ROOT / "tools" / "install-chromium.sh"
ARTIFACTS = ROOT / "test-artifacts"
# Headless in a closed network: without the networking flags chromium floods it with retries.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium() -> str:
    """The chromium binary; installs Debian's package when it is missing. In CI a failed install
    fails the test; elsewhere (say, without root) the test is skipped with the reason."""
    found = shutil.which("chromium")
    if found:
        return found
    result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True)
    found = shutil.which("chromium")
    if found:
        return found
    message = f"chromium is missing and {INSTALL.name} failed: {result.stderr[-2000:]}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
