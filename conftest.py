"""Shared pytest setup for the process-level tests next to each component.

Tests find the built executables through DC_BUILD_DIR (default: ./build), in
its bin/ folder. Nothing here starts processes: each suite does that itself,
through the harness's fixtures once they exist (pytest/).
"""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent
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
