"""partykit: the generic parts of a dcharness party (docs/parties.md).

A party is a process that speaks dcclient's JSON-lines framing on stdin/stdout
(docs/control-protocol.md) and the party contract (docs/parties.md). This
module holds everything that is the same for every party, so that an adapter
for another client (a library binding, a worker with other command names, a
daemon with an RPC interface) only maps requests and turns the client's state
into events:

- framing: lines of at most 1 MiB, bad JSON / bad ids / unknown commands /
  bad arguments answered `ok:false` with a stable `code`, the last line cut
  by EOF still handled;
- a dispatcher with argument specs (`@party.command("pm", nick=str, text=str)`,
  `opt(str)` for optional ones); each request runs in its own thread, so
  `ping` is answered while a `connect` is pending;
- the settings store: the contract's core settings, extra ones, unsupported
  ones, a map to the wrapped client's own names, and the `set`/`get`/
  `settings` requests;
- the ready line, and the stop path: EOF on stdin, SIGTERM/SIGINT, `quit` or
  the death of the parent (PR_SET_PDEATHSIG plus a parent-pid watchdog) call
  the adapter's `on_stop` once (leave the hub, stop daemons), then exit 0; a
  second signal exits at once;
- PartyError(code, text) for refusals, `UserTable` for correct
  user.join/update/leave events, `Children` for daemons that never outlive the
  party: each is started in its own process group with PR_SET_PDEATHSIG=SIGKILL
  from a thread that lives as long as the party (the death signal follows the
  thread that forked, not the process), and is killed by the stop path.

Standard library only. Everything written to stdout goes through emit()/the
dispatcher; human logs go to stderr (log()).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from typing import Any, Callable, Iterable, NoReturn, Sequence, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

MAX_LINE = 1 << 20
_PR_SET_PDEATHSIG = 1

# The contract's error codes (docs/parties.md, "Error codes").
CODES = frozenset("""bad-request unknown-command unsupported not-connected already-connected
not-online nick-taken bad-password password-required connect-failed bad-url unknown-setting
bad-value no-such-path not-a-file no-such-dir refused transfer-failed timeout
keyprint-mismatch internal""".split())

# The contract's core settings: name -> (type, default).
CORE_SETTINGS = {"nick": (str, "party"), "password": (str, ""), "description": (str, ""),
                 "email": (str, ""), "share_size": (int, 0), "slots": (int, 2),
                 "active": (bool, True)}


class PartyError(Exception):
    """A refused request: `code` is one of CODES, the text says why."""

    def __init__(self, code: str, text: str):
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(text)
        self.code, self.text = code, text


def scaled(seconds: float) -> float:
    """seconds times DCTEST_TIMEOUT_MULTIPLIER (as every dcharness limit)."""
    try:
        m = float(os.environ.get("DCTEST_TIMEOUT_MULTIPLIER", "1"))
    except ValueError:
        m = 1.0
    return seconds * (m if m > 0 else 1.0)


def wait_until(pred: Callable[[], T], timeout: float, what: str, interval: float = 0.02,
               code: str = "timeout") -> T:
    """Poll pred() until it returns something true; PartyError(code) naming
    `what` after `timeout` (scaled) seconds."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise PartyError(code, f"{what} within {scaled(timeout):g} s")
        time.sleep(interval)


def parse_hub_url(url: str) -> dict:
    """{scheme, host, port, protocol: nmdc|adc, tls, keyprint or None} of a
    hub URL, or PartyError(bad-url)."""
    schemes = {"dchub": ("nmdc", False), "nmdc": ("nmdc", False), "nmdcs": ("nmdc", True),
               "adc": ("adc", False), "adcs": ("adc", True)}
    u = urllib.parse.urlsplit(url)
    if u.scheme not in schemes:
        raise PartyError("bad-url", f"bad hub URL {url!r}: scheme must be one of {', '.join(schemes)}")
    try:
        port = u.port
    except ValueError:
        port = None
    if not u.hostname or not port:
        raise PartyError("bad-url", f"bad hub URL {url!r}: expected SCHEME://HOST:PORT")
    kps = urllib.parse.parse_qs(u.query).get("kp")
    kp = kps[0] if kps else None
    protocol, tls = schemes[u.scheme]
    if kp and not tls:
        raise PartyError("bad-url", f"bad hub URL {url!r}: kp on a plain URL")
    return {"scheme": u.scheme, "host": u.hostname, "port": port, "protocol": protocol,
            "tls": tls, "keyprint": kp}


# ---- argument specs

class opt:
    """An optional argument of type `type` (a bare type is required)."""

    def __init__(self, type_: Any) -> None:
        self.type = type_


ANY = object()     # an argument of any JSON type (e.g. set's value)
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", float: "a number",
               dict: "an object", list: "an array"}


def _type_ok(value: object, t: Any) -> bool:
    if t is ANY:
        return True
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, t)


def check_args(cmd: str, spec: dict, args: dict) -> dict:
    """args checked against spec: PartyError(bad-request) naming the argument."""
    for name in args:
        if name not in spec:
            raise PartyError("bad-request", f"{cmd}: unknown argument '{name}'")
    out = {}
    for name, t in spec.items():
        required = not isinstance(t, opt)
        t = t.type if isinstance(t, opt) else t
        if name not in args or args[name] is None:
            if required:
                raise PartyError("bad-request", f"{cmd}: missing argument '{name}'")
            continue
        if not _type_ok(args[name], t):
            raise PartyError("bad-request", f"{cmd}: argument '{name}' must be {_TYPE_NAMES[t]}")
        out[name] = args[name]
    return out


class Result:
    """A handler's result plus `then`, called right after the reply is
    written (e.g. connect: the reply, then hub.connected)."""

    def __init__(self, result: dict, then: Callable[[], object] | None = None) -> None:
        self.result, self.then = result, then


# ---- settings

class Settings:
    """Typed settings: the core ones (CORE_SETTINGS) plus `extra` {name:
    (type, default)}; names in `unsupported` are known but refused with
    code unsupported; `native` maps a harness name to the wrapped client's
    own name (see native())."""

    def __init__(self, extra: dict[str, tuple[Any, Any]] | None = None, unsupported: Iterable[str] = (),
                 native: dict[str, str] | None = None, defaults: dict[str, Any] | None = None) -> None:
        self.spec = {**CORE_SETTINGS, **(extra or {})}
        self.unsupported = set(unsupported)
        self.native_names = dict(native or {})
        self.values = {n: d for n, (_, d) in self.spec.items()}
        self.values.update(defaults or {})

    def check(self, name: str, value: Any) -> Any:
        if name in self.unsupported:
            raise PartyError("unsupported", f"setting '{name}' is not supported by this party")
        if name not in self.spec:
            raise PartyError("unknown-setting", f"unknown setting '{name}'")
        t = self.spec[name][0]
        if not _type_ok(value, t):
            raise PartyError("bad-value", f"setting '{name}' must be {_TYPE_NAMES[t]}")
        if t in (int, float) and value < 0:
            raise PartyError("bad-value", f"setting '{name}' must not be negative")
        return float(value) if t is float else value

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def native(self) -> dict:
        """{the client's own name: value} for every supported setting."""
        return {self.native_names.get(n, n): v for n, v in self.values.items()
                if n not in self.unsupported}


# ---- users

class UserTable:
    """The user list as events: put() emits user.join for a nick not seen
    yet (the party's own too, once) and user.update when a known user's
    fields change; remove() emits user.leave; sync() does both from a whole
    list. Thread-safe."""

    def __init__(self, party: "Party"):
        self.party, self._lock = party, threading.Lock()
        self.users: dict[str, dict] = {}

    def put(self, nick: str, **fields: Any) -> None:
        user = {"nick": nick, **fields}
        with self._lock:
            old = self.users.get(nick)
            if old == user:
                return
            self.users[nick] = user
            self.party.emit("user.join" if old is None else "user.update", **user)

    def remove(self, nick: str) -> None:
        with self._lock:
            if self.users.pop(nick, None) is not None:
                self.party.emit("user.leave", nick=nick)

    def sync(self, users: dict) -> None:
        """users: {nick: fields} as the client sees them now."""
        for nick in [n for n in self.users if n not in users]:
            self.remove(nick)
        for nick, fields in users.items():
            self.put(nick, **fields)

    def clear(self) -> None:
        """Forget everyone without events (the hub connection is gone)."""
        with self._lock:
            self.users.clear()

    def list(self) -> list:
        with self._lock:
            return [dict(self.users[n]) for n in sorted(self.users)]

    def __contains__(self, nick: object) -> bool:
        return nick in self.users


# ---- child processes

def _die_with_parent() -> None:
    """In the child between fork and exec: SIGKILL when the forking thread dies."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Children:
    """Daemons a party starts. spawn() forks from one thread that lives as
    long as the party, each child in its own process group with
    PR_SET_PDEATHSIG=SIGKILL: a SIGKILLed party takes its daemons along.
    stop() signals a child's group, SIGKILLs it after a grace period and
    reaps it; kill_all() is the last resort of the stop path."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self._jobs: queue.Queue[tuple[list[str], dict, list, threading.Event]] = queue.Queue()
        threading.Thread(target=self._spawner, name="partykit-spawner", daemon=True).start()

    def _spawner(self) -> None:
        while True:
            argv, kwargs, box, done = self._jobs.get()
            try:
                box.append(subprocess.Popen(argv, start_new_session=True,
                                            preexec_fn=_die_with_parent, **kwargs))
            except BaseException as e:      # handed to the caller
                box.append(e)
            done.set()

    def spawn(self, argv: Sequence[object], **popen_kwargs: Any) -> subprocess.Popen:
        """subprocess.Popen(argv, **popen_kwargs) in its own session, with
        PR_SET_PDEATHSIG; raises what Popen raises."""
        box: list[subprocess.Popen | BaseException] = []
        done = threading.Event()
        self._jobs.put(([str(a) for a in argv], popen_kwargs, box, done))
        done.wait()
        got = box[0]
        if isinstance(got, BaseException):
            raise got
        self.procs.append(got)
        return got

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 3.0) -> int:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
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
        rc = proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)
        return rc

    def kill_all(self) -> None:
        for proc in list(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# ---- the party

class Party:
    """One party process. Subclass it (or register handlers on an instance)
    and call run(). Attributes: `dir` (its own directory, --dir), `seed`
    (--seed, a unique identity seed), `settings`, `users`, `children`,
    `hub` (None, or {url, protocol, nick, tls} while logged in).

    Hooks for adapters: on_set(name, value) after a setting changed (raise
    PartyError to refuse, e.g. unsupported while connected); on_stop() once
    on EOF/SIGTERM/quit/parent death: leave the hub, stop daemons (children
    are SIGKILLed afterwards anyway)."""

    def __init__(self, name: str, version: str = "0", argv: Sequence[str] | None = None,
                 settings: Settings | None = None) -> None:
        self.name, self.version = name, version
        ap = argparse.ArgumentParser(prog=name, description=f"dcharness party {name} (docs/parties.md)")
        ap.add_argument("--dir", help="the party's own directory (default: a new temp dir)")
        ap.add_argument("--seed", type=int, default=None, help="unique identity seed")
        ap.add_argument("--nick", default=None, help="initial nick")
        ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting (VALUE as JSON, else as a string)")
        self.args, self.extra_argv = ap.parse_known_args(argv)
        self.dir = os.path.abspath(self.args.dir or tempfile.mkdtemp(prefix=f"{name}-"))
        os.makedirs(self.dir, exist_ok=True)
        self.seed = self.args.seed if self.args.seed is not None else int.from_bytes(os.urandom(8), "big")
        self.settings = settings or Settings()
        if self.args.nick:
            self.settings.values["nick"] = self.args.nick
        for item in self.args.set:
            name_, _, text = item.partition("=")
            try:
                value = json.loads(text)
            except ValueError:
                value = text
            try:
                self.settings.values[name_] = self.settings.check(name_, value)
            except PartyError as e:
                sys.exit(f"{self.name}: --set {item}: {e.text}")
        self.users = UserTable(self)
        self.children = Children()
        self.hub: dict[str, Any] | None = None
        self._commands: dict[str, tuple[dict, Callable[..., Any]]] = {}
        self._out = threading.Lock()
        self._inbox: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        # Stop signals go through a pipe: the handler runs between any two
        # bytecodes of the main thread, also while it holds the inbox's lock
        # inside queue.get(), so the handler itself must take no lock.
        self._signal_r, self._signal_w = os.pipe()
        os.set_blocking(self._signal_w, False)
        threading.Thread(target=self._signal_reader, name="partykit-signals", daemon=True).start()
        self._parent = os.getppid()
        self._busy, self._in_flight = threading.Condition(), 0
        builtin: tuple[tuple[str, dict, Callable[..., Any]], ...] = (
                              ("ping", {}, lambda: {"pong": True}),
                              ("set", {"name": str, "value": ANY}, self._set),
                              ("get", {"name": str}, self._get),
                              ("settings", {}, self._settings),
                              ("quit", {}, self._quit))
        for cmd, spec, fn in builtin:
            self._commands[cmd] = (spec, fn)

    # -- registering handlers
    def command(self, name: str, /, **spec: Any) -> Callable[[F], F]:
        """Decorator: fn(**args) -> result dict (or Result, or None = {}) for
        request `name`; spec: {arg: type or opt(type)}."""
        def register(fn: F) -> F:
            self._commands[name] = (spec, fn)
            return fn
        return register

    @property
    def stopping(self) -> bool:
        """True once the stop path began (on_stop runs, or is about to)."""
        return self._stopping.is_set()

    def has(self, name: str) -> bool:
        return name in self._commands

    # -- output
    def _write(self, obj: dict) -> None:
        data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        with self._out:
            try:
                os.write(1, data) if len(data) < 65536 else self._write_all(data)
            except (BrokenPipeError, OSError):
                pass

    @staticmethod
    def _write_all(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]

    def emit(self, event: str, **fields: Any) -> None:
        """An event line {"event": event, ...fields}."""
        self._write({"event": event, **fields})

    def log(self, text: str) -> None:
        """A human log line on stderr."""
        sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {self.name}: {text}\n")
        sys.stderr.flush()

    # -- hub state helpers
    def require_hub(self) -> dict[str, Any]:
        if self.hub is None:
            raise PartyError("not-connected", "not connected to a hub")
        return self.hub

    def hub_connected(self, url: str, protocol: str, nick: str, **more: Any) -> None:
        hub = {"url": url, "protocol": protocol, "nick": nick, **more}
        self.hub = hub
        self.emit("hub.connected", **hub)

    def hub_disconnected(self, reason: str, logged_in: bool = True) -> None:
        """The connection ended: forget the users, emit hub.disconnected."""
        self.hub = None
        self.users.clear()
        self.emit("hub.disconnected", reason=reason, logged_in=logged_in)

    # -- built-in requests
    def _set(self, name: str, value: Any) -> dict:
        value = self.settings.check(name, value)
        old = self.settings.values.get(name)
        self.settings.values[name] = value
        try:
            self.on_set(name, value)
        except BaseException:
            self.settings.values[name] = old
            raise
        return {}

    def _get(self, name: str) -> dict:
        if name in self.settings.unsupported:
            raise PartyError("unsupported", f"setting '{name}' is not supported by this party")
        if name not in self.settings.spec:
            raise PartyError("unknown-setting", f"unknown setting '{name}'")
        t = self.settings.spec[name][0]
        return {"name": name, "type": {str: "string", int: "int", bool: "bool", float: "double"}.get(t, "string"),
                "value": self.settings[name]}

    def _settings(self) -> dict:
        return {"settings": [{**self._get(n), "default": d} for n, (_, d) in self.settings.spec.items()
                             if n not in self.settings.unsupported]}

    def _quit(self) -> Result:
        return Result({}, then=lambda: self._inbox.put(("stop", "quit")))

    def on_set(self, name: str, value: Any) -> None:
        """Hook: a setting changed (the store already holds it)."""

    def on_start(self) -> None:
        """Hook: before the ready line (start what must run first)."""

    def on_stop(self) -> None:
        """Hook: leave the hub, stop daemons. Called once."""

    # -- the loop
    def _reader(self) -> None:
        """stdin -> inbox: whole lines (without \\n, \\r), a marker for each
        overlong line, then EOF."""
        buf, skipping = b"", False
        while True:
            try:
                chunk = os.read(0, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                if buf and not skipping:
                    self._inbox.put(("line", buf))
                self._inbox.put(("stop", "EOF on stdin"))
                return
            buf += chunk
            start = 0
            while True:
                i = buf.find(b"\n", start)
                if i < 0:
                    break
                line, start = buf[start:i], i + 1
                if skipping:
                    skipping = False
                elif len(line) > MAX_LINE + (line.endswith(b"\r")):
                    self._inbox.put(("long", None))
                else:
                    self._inbox.put(("line", line))
            buf = buf[start:]
            if len(buf) > MAX_LINE + 1 and not skipping:
                self._inbox.put(("long", None))
                skipping, buf = True, b""
            elif skipping:
                buf = b""

    def _reply_error(self, rid: int | str | None, code: str, text: str) -> None:
        self._write({"id": rid, "ok": False, "error": text, "code": code})

    def _handle(self, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            return
        try:
            msg = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            return self._reply_error(None, "bad-request", f"request is not JSON: {e}")
        if not isinstance(msg, dict):
            return self._reply_error(None, "bad-request", "request is not a JSON object")
        rid = msg.get("id")
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (int, str))):
            return self._reply_error(None, "bad-request", "id must be an integer or a string")
        cmd, args = msg.get("cmd"), msg.get("args")
        if not isinstance(cmd, str):
            return self._reply_error(rid, "bad-request", "request has no cmd string")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return self._reply_error(rid, "bad-request", "args must be an object")
        if cmd not in self._commands:
            return self._reply_error(rid, "unknown-command", f"unknown command '{cmd}'")
        spec, fn = self._commands[cmd]
        try:
            args = check_args(cmd, spec, args)
        except PartyError as e:
            return self._reply_error(rid, e.code, e.text)
        with self._busy:
            self._in_flight += 1
        threading.Thread(target=self._run, args=(rid, cmd, fn, args), daemon=True).start()

    def _run(self, rid: int | str | None, cmd: str, fn: Callable[..., Any], args: dict) -> None:
        try:
            self._run_one(rid, cmd, fn, args)
        finally:
            with self._busy:
                self._in_flight -= 1
                self._busy.notify_all()

    def _run_one(self, rid: int | str | None, cmd: str, fn: Callable[..., Any], args: dict) -> None:
        try:
            result = fn(**args)
        except PartyError as e:
            return self._reply_error(rid, e.code, e.text)
        except Exception as e:
            self.log(f"{cmd} raised:\n{traceback.format_exc()}")
            return self._reply_error(rid, "internal", f"{cmd}: internal error: {e}")
        then = None
        if isinstance(result, Result):
            result, then = result.result, result.then
        self._write({"id": rid, "ok": True, "result": result or {}})
        if then:
            then()

    def _watch_parent(self) -> None:
        while not self._stopping.is_set():
            if os.getppid() != self._parent:
                self._inbox.put(("stop", "parent died"))
                return
            time.sleep(0.5)

    def _signalled(self, signum: int, frame: object) -> None:
        """The signal handler: no locks (see __init__), only a pipe write."""
        if self._stopping.is_set():        # a second signal: no more waiting
            self.children.kill_all()
            os._exit(0)
        try:
            os.write(self._signal_w, bytes([signum]))
        except BlockingIOError:            # the pipe is full of stops already
            pass

    def _signal_reader(self) -> None:
        while data := os.read(self._signal_r, 64):
            self._inbox.put(("stop", signal.Signals(data[0]).name))

    def run(self) -> NoReturn:
        """Start (on_start), print the ready line, serve requests until EOF,
        a stop signal, quit or the parent's death; then on_stop() and exit 0."""
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != self._parent:
            sys.exit(0)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._signalled)
        try:
            self.on_start()
        except Exception as e:
            self.log(f"start failed: {e}\n{traceback.format_exc()}")
            self.children.kill_all()
            sys.exit(1)
        self.emit("ready", pid=os.getpid(), version=self.version, party=self.name)
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._watch_parent, daemon=True).start()
        while True:
            try:
                kind, data = self._inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if kind == "line":
                self._handle(data)
            elif kind == "long":
                self._reply_error(None, "bad-request", f"request line longer than {MAX_LINE} bytes")
            elif kind == "stop":
                self.log(f"stopping: {data}")
                break
        self._stopping.set()
        with self._busy:        # requests read before the stop get their replies (briefly)
            self._busy.wait_for(lambda: self._in_flight == 0, timeout=scaled(1.0))
        try:
            self.on_stop()
        except Exception:
            self.log(f"on_stop raised:\n{traceback.format_exc()}")
        self.children.kill_all()
        sys.stdout.flush()
        os._exit(0)
