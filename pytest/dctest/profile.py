"""Start the hub of a dcharness hub profile (--dc-hub PROFILE) for dc_hub.

Profiles are the harness's files (harness/profiles/NAME.hub, format in
docs/scenarios.md "Hub profiles"); scenario items never come here, they hand
the profile to dcharness itself. dcharness has no command that starts just a
hub and prints a ready line, so this module reads a profile only as far as
starting the hub needs: `command`, `per-user`, `file`, `per-user-file`,
`port pick`, `ready` (line, port, adc-handshake, log), `url`, `control`,
`trace`, `stop`, `protocols`, `features`, `known-stop-crash`. The word
syntax is the harness's (bare words, "double quotes" with \\ \" \\n \\t \\r
\\{ \\} escapes, 'single quotes' literal); \\x and \\u escapes are refused
rather than guessed at. Placeholders: {bin} {dir} {port} {ready:KEY}
{user} {password} {role} {op_suffix}.
"""
from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import time

from .hub import Hub
from .procs import Process, ProcessError, free_port, scaled

_PACKAGED = pathlib.Path(__file__).resolve().parents[2] / "harness" / "profiles"
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "{": "{{", "}": "}}"}


def words(line: str, where: str) -> list[str]:
    """Split a profile line into templates (literal braces doubled)."""
    out, i, n = [], 0, len(line)
    while i < n:
        if line[i] in " \t":
            i += 1
            continue
        if line[i] == "#":
            break
        word = []
        while i < n and line[i] not in " \t":
            c = line[i]
            if c == '"':
                i += 1
                while True:
                    if i >= n:
                        raise ProcessError(f"{where}: missing closing quote")
                    c = line[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\":
                        esc = line[i + 1:i + 2]
                        if esc not in _ESCAPES:
                            raise ProcessError(f"{where}: escape \\{esc} not supported by dctest.profile")
                        word.append(_ESCAPES[esc])
                        i += 2
                    else:
                        word.append(c)
                        i += 1
            elif c == "'":
                end = line.find("'", i + 1)
                if end < 0:
                    raise ProcessError(f"{where}: missing closing quote")
                word.append(line[i + 1:end].replace("{", "{{").replace("}", "}}"))
                i = end + 1
            elif c == "\\":
                raise ProcessError(f"{where}: backslash outside quotes")
            else:
                word.append(c)
                i += 1
        out.append("".join(word))
    return out


def expand(template: str, values: dict) -> str:
    def one(m):
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        if m.group(1) not in values:
            raise ProcessError(f"placeholder {m.group(0)} has no value here")
        return values[m.group(1)]
    return re.sub(r"\{\{|\}\}|\{([a-z_]+(?::[^{}]*)?)\}", one, template)


def find_profile(name: str, bin_dir=None) -> pathlib.Path:
    """A profile by path (contains / or ends in .hub) or by name, searched
    like dcharness does: $DCHARNESS_PROFILE_DIR, <bin>/../share/dcharness/profiles,
    and this source tree's harness/profiles."""
    if "/" in name or name.endswith(".hub"):
        return pathlib.Path(name).resolve()
    dirs = [os.environ.get("DCHARNESS_PROFILE_DIR"),
            bin_dir and pathlib.Path(bin_dir).parent / "share" / "dcharness" / "profiles", _PACKAGED]
    for d in filter(None, dirs):
        path = pathlib.Path(d) / f"{name}.hub"
        if path.exists():
            return path
    raise ProcessError(f"hub profile {name!r} not found in {[str(d) for d in dirs if d]}")


class Profile:
    """A parsed hub profile; start() runs its hub."""

    def __init__(self, path: pathlib.Path, bin_dir=None):
        self.path, self.bin_dir = path, bin_dir
        self.name, self.protocols, self.features = path.stem, [], set()
        self.command, self.per_user, self.files, self.urls = [], [], [], {}
        self.pick_port, self.ready, self.control, self.trace = False, ("line",), None, None
        self.stop_signal, self.grace, self.crash_ok = signal.SIGTERM, 3.0, None
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            w = words(line, f"{path}:{lineno}")
            if not w:
                continue
            key, args = w[0], w[1:]
            if key == "name":
                self.name = args[0]
            elif key == "protocols":
                self.protocols = args
            elif key == "features":
                self.features = set(args)
            elif key == "command":
                self.command = args
            elif key == "per-user":
                self.per_user = args
            elif key in ("file", "per-user-file"):
                self.files.append((args[0], args[1] if len(args) > 1 else None, key == "per-user-file"))
            elif key == "port":
                self.pick_port = args == ["pick"]
            elif key == "ready":
                self.ready = tuple(args)
            elif key == "url":
                self.urls[args[0]] = args[1]
            elif key in ("control", "trace"):
                setattr(self, key, args[0])
            elif key == "stop":
                self.stop_signal = getattr(signal, "SIG" + args[0])
                self.grace = float(args[1].rstrip("s")) if len(args) > 1 else 3.0
            elif key == "known-stop-crash":
                self.crash_ok = args[0]
            else:
                raise ProcessError(f"{path}:{lineno}: {key!r} not understood by dctest.profile")

    def start(self, workdir, user=(), timeout: float = 10.0) -> Hub:
        """Start the hub in `workdir`. `user`: registered users as
        "NICK:PASSWORD[:op]" strings (the same form as fakehub's --user)."""
        workdir = pathlib.Path(workdir)
        users = [(u.split(":") + [""])[:3] for u in ([user] if isinstance(user, str) else user)]
        for attempt in range(3 if self.pick_port else 1):
            values = {"bin": str(self.bin_dir or ""), "dir": str(workdir)}
            if self.pick_port:
                values["port"] = str(free_port())
            self._write_files(workdir, values, users)
            argv = [expand(w, values) for w in self.command]
            for nick, password, op in users:
                argv += [expand(w, dict(values, **_user_values(nick, password, op))) for w in self.per_user]
            proc = Process(argv, name=self.name, log=workdir / "hub.log", stdout_to_log=self.ready[0] != "line")
            try:
                values.update(self._wait_ready(proc, values, scaled(timeout)))
                return Hub(proc, name=self.name,
                           urls={p: expand(t, values) for p, t in self.urls.items()},
                           control_path=self.control and expand(self.control, values),
                           trace_path=self.trace and expand(self.trace, values),
                           features=self.features, stop_signal=self.stop_signal,
                           grace=self.grace, crash_ok=self.crash_ok)
            except BaseException as e:
                exited = proc.proc.poll() is not None
                proc.stop()
                if not (exited and self.pick_port and attempt < 2 and isinstance(e, ProcessError)):
                    raise
        raise AssertionError("unreachable")

    def _write_files(self, workdir: pathlib.Path, values: dict, users):
        for name in {f for f, _, _ in self.files}:
            (workdir / name).write_text("")
        for name, line, per_user in self.files:
            rows = [dict(values, **_user_values(*u)) for u in users] if per_user else [values]
            with open(workdir / name, "a") as f:
                for row in rows if line is not None else []:
                    f.write(expand(line, row) + "\n")

    def _wait_ready(self, proc: Process, values: dict, timeout: float) -> dict:
        """Wait until the hub is ready; returns {ready:KEY} values."""
        kind = self.ready[0]
        if kind == "line":
            ready = proc.wait_ready(timeout)
            return {f"ready:{k}": str(v) for k, v in ready.items()}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.proc.poll() is not None:
                raise ProcessError(f"{self.name} exited with {proc.proc.returncode} before it was ready:\n"
                                   f"{proc.log_tail()}")
            if kind == "log" and self.ready[1] in proc.log_path.read_text(errors="replace"):
                return {}
            if kind in ("port", "adc-handshake") and _probe(int(values["port"]), kind == "adc-handshake"):
                return {}
            time.sleep(0.02)
        raise ProcessError(f"{self.name} not ready ({' '.join(self.ready)}) within {timeout}s:\n{proc.log_tail()}")


def _user_values(nick, password, op) -> dict:
    return {"user": nick, "password": password, "role": "op" if op == "op" else "user",
            "op_suffix": ":op" if op == "op" else ""}


def _probe(port: int, handshake: bool) -> bool:
    """Does 127.0.0.1:port accept (and, with handshake, answer HSUP with ISID)?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            if not handshake:
                return True
            s.sendall(b"HSUP ADBASE ADTIGR\n")
            data = b""
            while b"ISID" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return True
    except OSError:
        return False


def load_profile(name: str, bin_dir=None) -> Profile:
    return Profile(find_profile(name, bin_dir), bin_dir)
