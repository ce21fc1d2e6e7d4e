"""Shared pytest setup for the process-level tests next to each component.

Tests find the built executables through DC_BUILD_DIR (default: ./build), in
its bin/ folder. Processes are started through the dctest package in pytest/ (dctest.Process:
own process group, ready line, teardown that never leaves a child behind).
Its pytest plugin (fixtures dc_hub, dc_client, ...) and pytester (for the
plugin's own tests, which run inner sessions) are loaded for every test.
"""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "pytest"))  # the dctest package

pytest_plugins = ["dctest.plugin", "pytester"]

BUILD_DIR = pathlib.Path(os.environ.get("DC_BUILD_DIR", ROOT / "build")).resolve()


def dc_bin(name: str) -> pathlib.Path:
    """Path of a built executable; fails the test clearly when it is missing."""
    path = BUILD_DIR / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} not built (set DC_BUILD_DIR or run cmake --build build)")
    return path


@pytest.fixture
def bin_path():
    return dc_bin
