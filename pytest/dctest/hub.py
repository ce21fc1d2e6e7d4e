"""Hubs for tests: our fakehub, or any hub a dcharness hub profile describes.

A Hub is a running hub process plus, when the hub has one, its control socket
(fakehub's JSON lines, docs/fakehub.md) subscribed to every event from the
start, so wait_for() cannot miss an event that came before it was called.
Addresses come from a ready line (fakehub binds port 0; `dcharness hub`
reports what the profile's hub listens on), never guessed; everything
listens on 127.0.0.1. Hubs of other profiles run under `dcharness hub`
(start_profile_hub), which starts and stops them as a scenario run does;
without a control socket they only offer url/pid/log/stop.

Every timeout here is multiplied by DCTEST_TIMEOUT_MULTIPLIER.
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
from typing import Any, Iterable

from .procs import JsonLines, Process, ProcessError, scaled

# Unix socket paths are limited to 108 bytes; longer ones are reached through
# /proc/self/fd/N of their directory.
_MAX_SOCK_PATH = 100


def tail(path: str | os.PathLike[str], lines: int = 100) -> str:
    """The last `lines` lines of a text file ("" if it cannot be read)."""
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def connect_control(path: str | os.PathLike[str], name: str = "hub control", timeout: float = 10.0) -> JsonLines:
    """A JsonLines channel over fakehub's control socket at `path`; a path
    over the Unix socket limit is reached through its directory's fd."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(scaled(timeout))
    if len(str(path)) <= _MAX_SOCK_PATH:
        sock.connect(str(path))
    else:
        dfd = os.open(os.path.dirname(str(path)), os.O_PATH)
        try:
            sock.connect(f"/proc/self/fd/{dfd}/{os.path.basename(str(path))}")
        finally:
            os.close(dfd)
    sock.settimeout(None)
    ch = JsonLines(sock.makefile("r", encoding="utf-8", newline="\n"),
                   sock.makefile("w", encoding="utf-8", newline="\n"), name=name)
    ch._sock = sock   # the channel owns it: close() shuts it down
    return ch


def _fields(fields: dict) -> dict:
    """wait_for keywords -> event fields: a trailing _ is dropped (from_="bob"
    matches the field "from", a Python keyword)."""
    return {k[:-1] if k.endswith("_") else k: v for k, v in fields.items()}


class Hub:
    """A running hub. `urls` maps protocol -> URL; `url` is the URL for
    `proto` (the test's protocol under the dc_hub fixture). Control requests
    raise ProcessError when the hub refuses them or has no control socket.
    `process` is the hub itself or, for a profile hub, the `dcharness hub`
    in front of it (`pid` is then the hub's, from its ready line).

    Ownership: stop() must be called (the fixtures do); it is idempotent."""

    def __init__(self, proc: Process, *, urls: dict[str, str], name: str = "fakehub", pid: int | None = None,
                 control_path: str | os.PathLike[str] | None = None,
                 trace_path: str | os.PathLike[str] | None = None, features: Iterable[str] = (),
                 grace: float = 3.0) -> None:
        self.process, self.name, self.urls = proc, name, dict(urls)
        self.pid = pid or proc.pid
        self.proto = next(iter(self.urls))
        self.features = set(features)
        self.control_path = control_path
        self.trace_path = pathlib.Path(trace_path) if trace_path else None
        self._grace = grace
        self._control: JsonLines | None = None
        self.exit_expected = False   # the test asked the hub to exit
        self.returncode: int | None = None
        self._running_at_stop: bool | None = None
        if control_path:
            self._control = connect_control(control_path, name=f"{name} control")
            self.request("subscribe")

    # -- what tests read
    @property
    def url(self) -> str:
        return self.urls[self.proto]

    @property
    def log_path(self) -> pathlib.Path:
        return self.process.log_path

    def trace(self) -> list[dict]:
        """The hub's protocol trace so far (fakehub flushes it at shutdown
        and on SIGUSR1), one dict per line."""
        if not self.trace_path or not self.trace_path.exists():
            return []
        return [json.loads(line) for line in self.trace_path.read_text().splitlines() if line]

    # -- control socket (docs/fakehub.md, "Control socket")
    def request(self, cmd: str, timeout: float = 10.0, **args: Any) -> dict:
        """Any control request; returns its result, raises ProcessError on ok:false."""
        if self._control is None:
            raise ProcessError(f"hub {self.name} has no control socket")
        return self._control.request(cmd, timeout=scaled(timeout), **args)

    def ping(self) -> dict:
        return self.request("ping")

    def users(self) -> list[dict]:
        """Logged-in users: [{"nick", "proto", "sid"? , "ip", "op"}]."""
        return self.request("users")["users"]

    def kick(self, nick: str, reason: str | None = None) -> dict:
        args: dict[str, Any] = {"nick": nick} if reason is None else {"nick": nick, "reason": reason}
        return self.request("kick", **args)

    def raw(self, line: str, nick: str | None = None, all: bool = False,
            proto: str | None = None) -> int:
        """Send a protocol line (no terminator) to one user or to all; returns
        how many got it."""
        args: dict[str, Any] = {"line": line}
        if nick is not None:
            args["nick"] = nick
        if all:
            args["all"] = True
        if proto is not None:
            args["proto"] = proto
        return self.request("raw", **args)["sent"]

    def chat(self, text: str) -> dict:
        """Hub chat to everyone, both protocols."""
        return self.request("chat", text=text)

    def fault(self, rule: str | None = None, **fields: Any) -> int:
        """Add a fault rule (docs/fakehub.md, "Fault rules"), as text
        (`hub.fault("delay=2s cmd=pm from=alice")`) or as fields
        (`hub.fault(delay="2s", cmd="pm", from_="alice")`; a trailing _ is
        dropped, `True` is a bare field like `drop`, `half_close` is
        `half-close`). Returns the rule's id; a bad rule raises ProcessError
        naming the field."""
        if (rule is None) == (not fields):
            raise ValueError("fault(): give a rule text or fields, not both")
        add: str | dict[str, Any] = rule if rule is not None else \
            {k.replace("_", "-") if k == "half_close" else k: v for k, v in _fields(fields).items()}
        return self.request("fault", add=add)["id"]

    def faults(self) -> list[dict]:
        """The rule table: [{"id", "rule", "action", "matched", "applied", "active"}]."""
        return self.request("fault", list=True)["rules"]

    def clear_faults(self, rule_id: int | None = None) -> int:
        """End one rule or every rule; returns how many were active."""
        return self.request("fault", clear=True if rule_id is None else rule_id)["cleared"]

    def subscribe(self, events: list[str] | None = None) -> dict:
        """Narrow (or widen) the events this hub object receives; it is
        subscribed to all of them from the start."""
        args: dict[str, Any] = {} if events is None else {"events": events}
        return self.request("subscribe", **args)

    def wait_for(self, event: str, timeout: float = 10.0, **fields: Any) -> dict:
        """The first not-yet-consumed hub event `event` (login, logout, chat,
        pm, ctm, shutdown) whose fields equal `fields` (from_= for "from")."""
        if self._control is None:
            raise ProcessError(f"hub {self.name} has no control socket")
        return self._control.wait_for(event, timeout=scaled(timeout), **_fields(fields))

    def shutdown(self) -> dict:
        """Ask the hub to shut down (same path as SIGTERM)."""
        self.exit_expected = True
        return self.request("shutdown")

    # -- process
    def signal(self, sig: int) -> None:
        """Send a signal to the hub; it may then exit without failing the test."""
        self.exit_expected = True
        if self.process.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.process.wait(scaled(timeout))

    def stop(self) -> int | None:
        """Stop the hub (SIGTERM; `dcharness hub` then stops its hub the
        profile's way), SIGKILL after the grace period, reap it and close
        the control socket. Returns the exit status."""
        if self.returncode is None:
            if self._control is not None:
                self._control.close()
            self._running_at_stop = self.process.proc.poll() is None
            self.returncode = self.process.stop(grace=scaled(self._grace))
        return self.returncode

    def exit_problem(self) -> str | None:
        """After stop(): why the exit status is wrong, or None. A hub we
        stopped must exit 0; one that died before must have been asked to."""
        rc = self.returncode
        if rc is None or rc == 0:
            return None
        if self._running_at_stop:
            return f"{self.name} (pid {self.pid}) exited with status {rc} when stopped; log: {self.log_path}"
        if not self.exit_expected:
            return f"{self.name} (pid {self.pid}) exited by itself with status {rc}; log: {self.log_path}"
        return None

    def report_sections(self) -> list[tuple[str, str]]:
        sections = [(f"dctest {self.name} log: {self.log_path}", tail(self.log_path))]
        if self.trace_path:
            sections.append((f"dctest {self.name} trace: {self.trace_path}", tail(self.trace_path)))
        return sections


def _option_args(settings: dict) -> list[str]:
    """fakehub options from keyword settings: motd="hi" -> --motd hi, lists
    repeat the option (user=["a:pw", "b:pw:op"]), True -> bare flag."""
    argv = []
    for key, value in settings.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            argv.append(f"--{key.replace('_', '-')}")
            if v is not True:
                argv.append(str(v))
    return argv


def start_fakehub(binary: str | os.PathLike[str], workdir: str | os.PathLike[str], *,
                  protocols: Iterable[str] = ("nmdc", "adc"), timeout: float = 10.0,
                  **settings: Any) -> Hub:
    """Start fakehub on 127.0.0.1 port 0 for `protocols`, in `workdir`
    (its working directory, so that the control socket's path stays short
    for bind()) with a control socket and a trace there; `settings` are
    fakehub options (docs/fakehub.md), e.g. motd="hi",
    user=["carol:secret:op"], max_users=2."""
    workdir = pathlib.Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    argv: list[object] = [binary, "--control", "hub.sock", "--trace", workdir / "hub.trace"]
    for proto in protocols:
        argv += [f"--{proto}", "127.0.0.1:0"]
    proc = Process(argv + _option_args(settings), name="fakehub", log=workdir / "hub.log", cwd=workdir)
    try:
        ready = proc.wait_ready(scaled(timeout))
        # TLS listeners (nmdcs, adcs) carry the hub's keyprint, which clients check.
        urls = {p: (f"{p}://{ready[p]}/?kp={ready['keyprint']}" if p.endswith("s")
                    else ("dchub://" if p == "nmdc" else "adc://") + ready[p]) for p in protocols}
        return Hub(proc, urls=urls, control_path=workdir / "hub.sock", trace_path=workdir / "hub.trace",
                   features=("hub-control", "registered-users", "signals", "hup"))
    except BaseException:
        proc.stop()
        raise


def start_profile_hub(dcharness: str | os.PathLike[str], profile: str, workdir: str | os.PathLike[str], *,
                      protocols: Iterable[str] | None = None, user: Iterable[str] | str = (),
                      timeout: float = 30.0) -> Hub:
    """The hub of a dcharness hub profile (a name such as uhub, or a .hub
    file), started by `dcharness hub` in `workdir` exactly as a scenario run
    starts it (docs/scenarios.md, "dcharness hub"). `protocols`: the ones
    it must offer (default: all the profile speaks); `user`: registered
    users as "NICK:PASSWORD[:op]". Its hub.log holds dcharness's messages
    and the hub's output. A ProcessError with returncode 3 means the profile
    does not offer what was asked (its text says why), 2 a usage error such
    as an unknown profile: nothing was started then."""
    workdir = pathlib.Path(workdir)
    argv = [dcharness, "hub", "--hub", profile, "--dir", workdir, "--bin-dir", os.path.dirname(dcharness)]
    if protocols:
        argv += ["--proto", ",".join(protocols)]
    for u in [user] if isinstance(user, str) else user:
        argv += ["--user", u]
    proc = Process(argv, name=f"dcharness hub --hub {profile}", log=workdir / "hub.log")
    try:
        ready = proc.wait_ready(scaled(timeout))   # dcharness gives the hub 10 s of its own
    except BaseException as e:
        rc = proc.stop()
        if isinstance(e, ProcessError):
            err = ProcessError(proc.log_tail().removeprefix("dcharness: "))
            err.returncode = rc
            raise err from None
        raise
    return Hub(proc, name=ready["profile"], pid=ready["pid"], urls=ready["urls"],
               control_path=ready["control"], trace_path=ready["trace"], features=ready["features"],
               grace=30.0)   # dcharness itself kills the hub after the profile's grace
