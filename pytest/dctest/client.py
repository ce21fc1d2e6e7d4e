"""Parties for tests: one Python method per control request.

A Client starts the `dcclient` executable, or the party a client profile
describes (docs/parties.md: eiskaltdcpp, a kit-based adapter, ...), and
talks to it over stdin/stdout JSON lines (docs/control-protocol.md), the
channel dcharness scenarios use. The API is the same whatever the party; a
request needing a capability the profile does not list (share, list,
download) skips the test naming the party and the capability.
Each request of the protocol's Requests table is a method of the same name
with the same arguments (test_client_methods_match_protocol_doc checks the
table against this class); a refused request raises ProcessError carrying
the client's error text (and `.code`, the contract's error code). Events are read with wait_for().

Every timeout here is multiplied by DCTEST_TIMEOUT_MULTIPLIER.
"""
from __future__ import annotations

import builtins
import json
import os
import pathlib
from typing import TYPE_CHECKING, Any, NoReturn

from .hub import _fields, tail
from .procs import Process, ProcessError, scaled

if TYPE_CHECKING:
    from .parties import ClientProfile


def _setting_text(value: object) -> str:
    """A Python value as dcclient's --set NAME=VALUE text."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


class Client:
    """A running dcclient. `nick` is the nick it was started with; `events`
    holds every event seen so far. Ownership: stop() must be called (the
    dc_client fixture does); it is idempotent."""

    def __init__(self, binary: str | os.PathLike[str], workdir: str | os.PathLike[str], nick: str, *,
                 timeout: float = 10.0, profile: ClientProfile | None = None, **settings: Any) -> None:
        """Start `binary` with --nick and a --set per keyword setting
        (description="x", share_size=1024, ...) and wait for its ready line.
        With `profile` (a dctest.parties.ClientProfile other than the
        built-in dcclient) start the profile's command instead, then send
        `set nick` and one `set` per setting (mapped to the party's own
        names; an unsupported one skips the test). Its stderr log is
        `workdir`/<kind>.log."""
        from .parties import dcclient_profile, placeholder_values
        self.profile = profile or dcclient_profile()
        self.kind = self.profile.name
        self.nick, self.workdir = nick, pathlib.Path(workdir)
        self.caps = set(self.profile.caps)
        self.exit_expected = False
        self.returncode: int | None = None
        self._running_at_stop: bool | None = None
        log = self.workdir / f"{self.kind}.log"
        if self.profile.builtin:
            argv: list[object] = [binary, "--nick", nick]
            for name, value in settings.items():
                argv += ["--set", f"{name}={_setting_text(value)}"]
            self.process = Process(argv, name=f"dcclient {nick}", log=log, stdin_pipe=True)
        else:
            values = placeholder_values(self.profile, bin_dir=str(pathlib.Path(binary).parent),
                                        workdir=self.workdir, name=nick, nick=nick)
            env = {**os.environ, **self.profile.env_for(**values)}
            self.process = Process(self.profile.argv(**values), name=f"{self.kind} {nick}", log=log,
                                   stdin_pipe=True, env=env)
            timeout = self.profile.ready_timeout
        try:
            self.process.wait_ready(scaled(timeout))
            if not self.profile.builtin:
                for name, value in {"nick": nick, **settings}.items():
                    native = self.profile.settings.get(name, name)
                    if native is None:
                        self._skip(f"setting {name}")
                    self.request("set", name=native, value=value)
        except BaseException:
            self.stop()
            raise

    def _skip(self, what: str) -> NoReturn:
        import pytest
        pytest.skip(f"{self.nick} ({self.kind}) lacks {what}")

    def need(self, *caps: str) -> None:
        """Skip the test unless this party has every capability in caps."""
        for cap in caps:
            if cap not in self.caps:
                self._skip(f"capability {cap}")

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> pathlib.Path:
        return self.process.log_path

    @property
    def events(self) -> list[dict]:
        return self.process.chan.events

    def request(self, cmd: str, timeout: float = 10.0, **args: Any) -> dict:
        """Any control request; arguments that are None are left out. Returns
        the result; raises ProcessError(error text) on ok:false."""
        args = {k: v for k, v in args.items() if v is not None}
        return self.process.chan.request(cmd, timeout=scaled(timeout), **args)

    def wait_for(self, event: str, timeout: float = 10.0, **fields: Any) -> dict:
        """The first not-yet-consumed event `event` whose fields equal `fields`
        (from_="bob" stands for the field "from")."""
        return self.process.chan.wait_for(event, timeout=scaled(timeout), **_fields(fields))

    # -- the requests of docs/control-protocol.md, in its order
    def ping(self) -> dict:
        """{"pong": true}, answered at once."""
        return self.request("ping")

    def connect(self, url: str, nick: str | None = None, password: str | None = None,
                timeout: float = 10.0) -> dict:
        """Log in to `url`; returns {"url", "protocol", "nick"} once logged in."""
        return self.request("connect", timeout=timeout, url=url, nick=nick, password=password)

    def disconnect(self) -> dict:
        """Leave the hub (queued messages are flushed first)."""
        return self.request("disconnect")

    def say(self, text: str) -> dict:
        """Main chat."""
        return self.request("say", text=text)

    def pm(self, nick: str, text: str) -> dict:
        """A private message to `nick` (who must be online)."""
        return self.request("pm", nick=nick, text=text)

    def users(self) -> list[dict]:
        """The user list sorted by nick, own entry included."""
        return self.request("users")["users"]

    def get(self, name: str) -> Any:
        """The value of setting `name`."""
        return self.request("get", name=name)["value"]

    def set(self, name: str, value: Any) -> dict:
        """Change setting `name` (a JSON value of the setting's type). A
        fault setting (`up_*`, `hub_read`) needs the `faults` capability."""
        if name.startswith("up_") or name == "hub_read":
            self.need("faults")
        return self.request("set", name=name, value=value)

    def settings(self) -> list[dict]:
        """Every setting: [{"name", "type", "value", "default", "description"}]."""
        return self.request("settings")["settings"]

    def share(self, path: str | os.PathLike[str]) -> dict:
        """Share directory `path` (hashed in the background: wait for the
        `share.done` event before others list it)."""
        self.need("share")
        return self.request("share", path=str(path))

    def list(self, nick: str, path: str | None = None, timeout: float = 60.0) -> dict:
        """Fetch `nick`'s file list; replied when it has arrived:
        {"tree": {"name", "type": "dir", "children": [...]}, ...} (files
        have "size" and "tth"); `path` picks a subtree."""
        self.need("list")
        return self.request("list", timeout=timeout, nick=nick, path=path)

    def download(self, nick: str, target_dir: str | os.PathLike[str], path: str | None = None, tth: str | None = None,
                 name: str | None = None, timeout: float = 300.0) -> dict:
        """Download a file of `nick` (by virtual `path` or `tth`) into
        `target_dir`; replied once it is complete and verified:
        {"file", "size", "tth", "bytes_per_second", ...}."""
        self.need("download")
        return self.request("download", timeout=timeout, nick=nick, path=path, tth=tth,
                            target_dir=str(target_dir), name=name)

    def mkfile(self, path: str | os.PathLike[str], size: int = 0, seed: int | None = None, text: bool | None = None,
               timeout: float = 60.0) -> dict:
        """Write a fixture file of `size` deterministic bytes (same `seed`, same
        bytes; `text`: compressible numbered lines); a `path` string ending
        in "/" only creates that directory."""
        self.need("control-ext")
        return self.request("mkfile", timeout=timeout, path=str(path), size=size, seed=seed, text=text)

    def raw(self, line: str) -> dict:
        """Send one protocol line to the hub exactly as given (for tests of a
        hub's handling of bad input; docs/control-protocol.md)."""
        self.need("control-ext")
        return self.request("raw", line=line)

    def flood(self, count: int, size: int | None = None, nick: str | None = None,
              interval: int | None = None) -> dict:
        """A fault (docs/control-protocol.md): send `count` chat lines (or PMs
        to `nick`) of `size` bytes, all at once or one per `interval` ms
        (then a `flood.done` event follows)."""
        self.need("control-ext")
        return self.request("flood", count=count, size=size, nick=nick, interval=interval)

    def quit(self) -> dict:
        """Leave the hub and exit 0."""
        self.exit_expected = True
        return self.request("quit")

    # -- process
    def signal(self, sig: int) -> None:
        """Send a signal; the client may then exit without failing the test."""
        self.exit_expected = True
        self.process.signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.process.wait(scaled(timeout))

    def stop(self) -> int | None:
        """SIGTERM (the client leaves the hub cleanly), SIGKILL after a grace
        period, reap. Returns the exit status."""
        if self.returncode is None:
            self._running_at_stop = self.process.proc.poll() is None
            grace = 3.0 if self.profile.builtin else self.profile.stop_grace
            self.returncode = self.process.stop(grace=scaled(grace))
        return self.returncode

    def exit_problem(self) -> str | None:
        """After stop(): why the exit status is wrong, or None."""
        rc = self.returncode
        if rc is None or rc == 0:
            return None
        if self._running_at_stop:
            return f"{self.kind} {self.nick} (pid {self.pid}) exited with status {rc} when stopped; log: {self.log_path}"
        if not self.exit_expected:
            return f"{self.kind} {self.nick} (pid {self.pid}) exited by itself with status {rc}; log: {self.log_path}"
        return None

    def report_sections(self) -> builtins.list[tuple[str, str]]:   # `list` is a method here
        events = "\n".join(json.dumps(e, ensure_ascii=False) for e in self.events[-40:])
        sections = [(f"dctest {self.kind} {self.nick} log: {self.log_path}", tail(self.log_path))]
        # what the party keeps in its own directory (a daemon's log, ...)
        for path in sorted(self.workdir.rglob("*.log")):
            if path != self.log_path and "logs" not in path.relative_to(self.workdir).parts:
                sections.append((f"dctest {self.kind} {self.nick} {path.name}: {path}", tail(path)))
        return sections + [(f"dctest {self.kind} {self.nick} events (last 40)", events)]


__all__ = ["Client", "ProcessError"]
