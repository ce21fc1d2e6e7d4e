"""Child processes with a ready line, and JSON-lines request/event channels.

Every Process runs in its own session (so its process group can be signalled
as a whole) and gets PR_SET_PDEATHSIG=SIGKILL, so it dies with the Python
process that started it even if that one is SIGKILLed. stop() sends SIGTERM to
the group, waits for a grace period, then SIGKILLs and reaps: nothing started
here outlives its test.
"""
from __future__ import annotations

import collections
import ctypes
import json
import os
import pathlib
import queue
import signal
import socket
import subprocess
import threading
import time
from typing import IO, Any, Mapping, Sequence

_PR_SET_PDEATHSIG = 1


class ProcessError(Exception):
    returncode: int | None = None   # set when the process ended before it was ready
    code: str | None = None         # a refused request: the party's error code


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def timeout_multiplier() -> float:
    """DCTEST_TIMEOUT_MULTIPLIER (default 1), the factor dcharness applies to
    every limit; slow or sanitized builds set it > 1."""
    try:
        m = float(os.environ.get("DCTEST_TIMEOUT_MULTIPLIER", "1"))
    except ValueError:
        return 1.0
    return m if m > 0 else 1.0


def scaled(seconds: float) -> float:
    """A timeout scaled by DCTEST_TIMEOUT_MULTIPLIER."""
    return seconds * timeout_multiplier()


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out, for peers that cannot bind port 0
    themselves (uhub). Callers must retry on a clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class JsonLines:
    """One JSON-lines channel: requests with ids, replies matched by id, and
    unprompted events kept in order until a test waits for them.

    Ownership: reads `rfile` on a daemon thread; write() goes to `wfile`.
    Either may be a pipe or a socket file."""

    def __init__(self, rfile: IO[str], wfile: IO[str] | None, name: str = "channel") -> None:
        self._r, self._w, self.name = rfile, wfile, name
        self._lines: queue.Queue = queue.Queue()
        self._replies: dict = {}
        self.events: list[dict] = []        # every event seen, in order
        self._pending: list[dict] = []      # events not yet consumed by wait_for
        self._next_id = 1
        self._lock = threading.Lock()
        self.closed = False
        self._sock: socket.socket | None = None   # set by unix(): the channel owns it
        # (CLOCK_MONOTONIC seconds, "in " sent / "out" received, line): what
        # went over the channel, for the HTML report's diagram (journal_log).
        self.journal: collections.deque[tuple[float, str, str]] = collections.deque(maxlen=20000)
        threading.Thread(target=self._reader, daemon=True).start()

    @classmethod
    def unix(cls, path: str | os.PathLike[str], name: str = "control", timeout: float = 10.0) -> "JsonLines":
        """Connect to a JSON-lines Unix socket (fakehub --control, dcclient
        --control-socket). The channel owns the socket: close() it."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.settimeout(None)
        ch = cls(sock.makefile("r", encoding="utf-8", newline="\n"),
                 sock.makefile("w", encoding="utf-8", newline="\n"), name=name)
        ch._sock = sock
        return ch

    def close(self) -> None:
        """Shut the socket down first: closing a file object while the reader
        thread is blocked reading it never returns."""
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for f in (self._r, self._w):
            try:
                if f is not None:
                    f.close()
            except (OSError, ValueError):
                pass
        if sock is not None:
            sock.close()

    def __enter__(self) -> "JsonLines":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reader(self) -> None:
        try:
            for raw in self._r:
                self.journal.append((time.monotonic(), "out", raw.rstrip("\n")))
                self._lines.put(raw)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _pump(self, timeout: float) -> bool:
        """Take one line off the wire; False on timeout or EOF."""
        try:
            raw = self._lines.get(timeout=max(timeout, 0))
        except queue.Empty:
            return False
        if raw is None:
            self.closed = True
            return False
        try:
            msg = json.loads(raw)
        except ValueError:
            raise ProcessError(f"{self.name}: not JSON: {raw!r}")
        if "event" in msg:
            self.events.append(msg)
            self._pending.append(msg)
        else:
            self._replies[msg.get("id")] = msg
        return True

    def send_raw(self, text: str) -> None:
        if self._w is None:
            raise ProcessError(f"{self.name}: nothing to write requests to")
        self.journal.append((time.monotonic(), "in ", text.rstrip("\n")))
        self._w.write(text if text.endswith("\n") else text + "\n")
        self._w.flush()

    def journal_log(self, path: str | os.PathLike[str], t0: float, received: str = "out") -> None:
        """Write the journal as dcharness logs it (docs/scenarios.md: seconds
        since t0, "in |" for what was sent, `received` ("out" for a party's
        stdout, "ctl" for a hub's control socket) for what came back)."""
        with open(path, "w", encoding="utf-8", errors="replace") as f:
            for t, tag, line in list(self.journal):
                f.write(f"{t - t0:8.3f} {received if tag == 'out' else tag}| {line}\n")

    def request(self, cmd: str, timeout: float = 10.0, check: bool = True, **args: Any) -> dict:
        """Send {"id","cmd","args"} and return the reply's result (check=True)
        or the whole reply (check=False)."""
        with self._lock:
            rid = self._next_id
            self._next_id += 1
        self.send_raw(json.dumps({"id": rid, "cmd": cmd, "args": args}))
        reply = self.reply(rid, timeout)
        if check:
            if not reply.get("ok"):
                err = ProcessError(f"{self.name}: {cmd} failed: {reply.get('error')}")
                err.code = reply.get("code")
                raise err
            return reply.get("result", {})
        return reply

    def reply(self, rid: int, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while rid not in self._replies:
            if self.closed or not self._pump(deadline - time.monotonic()):
                if self.closed:
                    raise ProcessError(f"{self.name}: closed before replying to {rid}")
                if time.monotonic() >= deadline:
                    raise ProcessError(f"{self.name}: no reply to request {rid} in {timeout}s")
        return self._replies.pop(rid)

    def wait_for(self, event: str, timeout: float = 10.0, **fields: Any) -> dict:
        """The first not-yet-consumed event named `event` whose fields equal
        `fields`; consumed events are not returned again."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self._pending):
                if ev.get("event") == event and all(ev.get(k) == v for k, v in fields.items()):
                    return self._pending.pop(i)
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                seen = [e.get("event") for e in self.events[-20:]]
                raise ProcessError(f"{self.name}: no {event} {fields} within {timeout}s "
                                   f"(closed={self.closed}; last events: {seen})")
            self._pump(min(left, 0.2))


def stop_group(proc: subprocess.Popen, grace: float) -> int:
    """SIGTERM the process group led by `proc`, SIGKILL it after `grace`
    seconds, reap. Returns the exit status (negative = killed by that signal).
    The group is killed even when the leader already exited: it may hold
    children."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.wait()


class Process:
    """An executable started in its own session, stdout piped (JSON lines),
    stderr appended to `log`. With stdout_to_log=True stdout goes to the log
    too and there is no channel (for programs without a JSON ready line).
    Ownership: stop() must be called (fixtures do); it is idempotent."""

    def __init__(self, argv: Sequence[object], *, name: str, log: str | os.PathLike[str],
                 env: Mapping[str, str] | None = None, stdin_pipe: bool = False,
                 cwd: str | os.PathLike[str] | None = None, stdout_to_log: bool = False) -> None:
        self.name, self.log_path = name, pathlib.Path(log)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=self._log if stdout_to_log else subprocess.PIPE, stderr=self._log,
            env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,
            text=True, bufsize=1)
        self.pid = self.proc.pid
        assert stdout_to_log or self.proc.stdout is not None
        self.channel = None if stdout_to_log else JsonLines(self.proc.stdout, self.proc.stdin, name=name)  # type: ignore[arg-type]

    @property
    def chan(self) -> JsonLines:
        """The JSON-lines channel; ProcessError for a process that has none."""
        if self.channel is None:
            raise ProcessError(f"{self.name} has no JSON-lines channel (its stdout goes to its log)")
        return self.channel

    def wait_ready(self, timeout: float = 10.0) -> dict:
        """The process's first line must be {"event":"ready",...}."""
        try:
            return self.chan.wait_for("ready", timeout=timeout)
        except ProcessError as e:
            raise ProcessError(f"{e}\n--- {self.log_path} ---\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM the group, SIGKILL it after `grace` seconds, reap. Returns
        the exit status (negative = killed by that signal)."""
        rc = stop_group(self.proc, grace)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        self._log.close()
        return rc

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def require_binary(name: str) -> str:
    """Path of a real peer's executable (uhub, eiskaltdcpp-daemon). Absent:
    the test is skipped on a developer's machine but FAILS under CI=true,
    where ci/setup must have installed it."""
    import shutil
    import pytest
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} is not installed (apt-get install {name}, or run ci/setup)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)
