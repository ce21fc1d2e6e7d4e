"""Shared pytest setup for the process-level tests next to each component.

Tests find the built executables through DC_BUILD_DIR (default: ./build), in
its bin/ folder. Processes are started through the dctest package in pytest/ (dctest.Process:
own process group, ready line, teardown that never leaves a child behind).
Its pytest plugin (fixtures dc_hub, dc_client, ...) and pytester (for the
plugin's own tests, which run inner sessions) are loaded for every test,
the plugin once only, from this checkout.
"""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "pytest"))  # the dctest package

# An installed dctest (the .deb, pip) registers itself by its pytest11 entry
# point under the name "dctest.plugin" before this file is read; then the
# line below is a no-op (a plugin is never loaded twice), and the copy that
# was loaded must be this checkout's (PYTHONPATH=pytest, as ci/test sets),
# not the installed one, or these tests would test the wrong code.
_loaded = sys.modules.get("dctest")
if _loaded is not None and not pathlib.Path(_loaded.__file__).resolve().is_relative_to(ROOT / "pytest"):
    raise pytest.UsageError(f"pytest loaded the installed dctest ({_loaded.__file__}) by its entry point, "
                            f"not this checkout's: run with PYTHONPATH={ROOT / 'pytest'}")

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
