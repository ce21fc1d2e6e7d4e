"""Fixtures for dcclient's process-level tests: fakehub and dcclient children
started through dctest.Process (own process group, ready line, teardown that
reaps). Teardown stops each dcclient with SIGTERM and checks that it exited 0,
so every test also checks the clean-shutdown path (and, in the ASan build,
that the process did not leak: LeakSanitizer makes the exit status non-zero).
"""
from __future__ import annotations

import pytest

from dctest import Process


class Fakehub:
    """A running fakehub; stopped by the fixture that made it."""

    def __init__(self, proc: Process, ready: dict):
        self.proc, self.ready = proc, ready
        self.nmdc_url = f"dchub://{ready['nmdc']}"
        self.adc_url = f"adc://{ready['adc']}"

    def url(self, proto: str) -> str:
        return self.adc_url if proto == "adc" else self.nmdc_url


@pytest.fixture
def fakehub_factory(tmp_path, bin_path):
    """fakehub_factory(*extra_args) -> Fakehub listening on NMDC and ADC."""
    hubs: list[Process] = []

    def start(*extra) -> Fakehub:
        p = Process([bin_path("fakehub"), "--nmdc", "127.0.0.1:0", "--adc", "127.0.0.1:0", *extra],
                    name=f"fakehub{len(hubs)}", log=tmp_path / f"fakehub{len(hubs)}.log")
        hubs.append(p)
        return Fakehub(p, p.wait_ready())

    yield start
    for p in hubs:
        rc = p.stop()
        assert rc == 0, f"fakehub exited {rc}\n{p.log_tail()}"


@pytest.fixture
def fakehub(fakehub_factory):
    return fakehub_factory()


@pytest.fixture
def dcclient(tmp_path, bin_path):
    """dcclient(*args, name=...) -> Process with its ready event consumed.
    Teardown: SIGTERM, and the exit status must be 0 (unless the test already
    stopped it and set p.expect_rc)."""
    procs: list[Process] = []

    def start(*args, name: str | None = None) -> Process:
        name = name or f"dcclient{len(procs)}"
        p = Process([bin_path("dcclient"), *args], name=name, stdin_pipe=True,
                    log=tmp_path / f"{name}.log")
        p.expect_rc = 0
        procs.append(p)
        ready = p.wait_ready()
        assert ready["pid"] == p.pid and ready["version"]
        return p

    yield start
    failures = []
    for p in procs:
        rc = p.stop()
        if rc != p.expect_rc:
            failures.append(f"{p.name} exited {rc}, expected {p.expect_rc}\n{p.log_tail()}")
    assert not failures, "\n".join(failures)


def nicks(channel) -> list[str]:
    return [u["nick"] for u in channel.request("users")["users"]]


def wait_nicks(channel, want: set[str], timeout: float = 10.0):
    """Wait (on user.join events, never sleeping) until `want` is in the user list."""
    import time
    deadline = time.monotonic() + timeout
    while not want <= set(nicks(channel)):
        left = deadline - time.monotonic()
        assert left > 0, f"{channel.name}: users {nicks(channel)} lack {want}"
        try:
            channel.wait_for("user.join", timeout=min(left, 1.0))
        except Exception:
            pass
