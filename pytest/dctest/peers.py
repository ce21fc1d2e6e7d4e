"""Drivers for the real DC peers from Debian: uhub here, eiskaltdcpp-daemon
in dctest.eiskaltdcpp (re-exported here; as a party: docs/parties.md).

Interop tests need reference programs that we did not write. Each driver
writes a private config into a temp dir, starts the program on 127.0.0.1 in
its own process group (dies with us: PR_SET_PDEATHSIG), waits until it really
answers (uhub: the ADC handshake naming our hub), so a foreign listener is
never mistaken for ours; stop() sends SIGTERM, SIGKILLs after a grace
period, and reaps (stop_all() does that for several at once). uhub cannot
bind port 0 and report it, so ports come from free_port() and a start that
hits a taken port is retried on new ones. Standard library only.
"""
from __future__ import annotations

import base64
import os
import pathlib
import secrets
import signal
import socket
import ssl
import subprocess
import time
from typing import Any, Iterable, Sequence

from .procs import ProcessError, _die_with_parent, free_port, stop_group

LOCALHOST = "127.0.0.1"


class PeerError(ProcessError):
    pass


class _PortClash(Exception):
    """A port we picked was taken by someone else between pick and bind."""


def _spawn(argv: Sequence[object], log: pathlib.Path, cwd: str | os.PathLike[str] | None = None) -> subprocess.Popen:
    """Start argv in its own session with stdout and stderr appended to log."""
    with open(log, "ab") as out:
        return subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True, preexec_fn=_die_with_parent)


def _stop(proc: subprocess.Popen | None, grace: float) -> int | None:
    """SIGTERM the process group, SIGKILL it after `grace` s, reap."""
    return None if proc is None else stop_group(proc, grace)


def stop_all(peers: Iterable[Any], grace: float = 3.0) -> list:
    """Stop several peers together: SIGTERM to every one first, then each
    stop() gets what is left of `grace`. A daemon takes ~1 s to die, so
    stopping N of them costs ~1 s instead of N."""
    peers = list(peers)
    for peer in peers:
        if peer.proc is not None and peer.proc.poll() is None:
            try:
                os.killpg(peer.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    return [peer.stop(grace=max(deadline - time.monotonic(), 0.0)) for peer in peers]


def _tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _listening_ports(pid: int) -> set[int]:
    """TCP ports (IPv4) on which process `pid` has a listening socket."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    with open("/proc/net/tcp") as f:
        for row in f.read().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:      # 0A = LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def random_cid() -> str:
    """39 base32 characters (192 random bits): a CID or PID."""
    return base64.b32encode(secrets.token_bytes(24)).decode().rstrip("=")


# --------------------------------------------------------------------- uhub

class Uhub:
    """uhub on 127.0.0.1 with a private config in `workdir`.

    users: {nick: password} registered through mod_auth_simple; operators:
    the same for operators. tls=True adds a self-signed certificate and
    makes the port TLS-only (tls_require=yes). extra: more config lines.
    Use as a context manager or call start()/stop()."""

    binary = "uhub"
    plugin_dir = pathlib.Path("/usr/lib/uhub")

    def __init__(self, workdir: str | os.PathLike[str], *, users: dict | None = None,
                 operators: dict | None = None, tls: bool = False,
                 extra: dict | None = None, name: str = "uhub") -> None:
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.users, self.operators = dict(users or {}), dict(operators or {})
        self.tls, self.extra, self.name = tls, dict(extra or {}), name
        # A name nobody else uses: the handshake proves the hub is ours.
        self.hub_name = f"dctest-{secrets.token_hex(6)}"
        self.log_path = self.dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.ready_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"{'adcs' if self.tls else 'adc'}://{LOCALHOST}:{self.port}"

    def _write_config(self) -> pathlib.Path:
        lines = [f"server_port={self.port}", f"server_bind_addr={LOCALHOST}",
                 f"hub_name={self.hub_name}", "max_users=500", "show_banner=no"]
        if self.tls:
            cert, key = self.dir / "hub.crt", self.dir / "hub.key"
            if not cert.exists():
                subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                "-keyout", key, "-out", cert, "-days", "2",
                                "-subj", "/CN=127.0.0.1"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lines += ["tls_enable=yes", "tls_require=yes",
                      f"tls_certificate={cert}", f"tls_private_key={key}"]
        if self.users or self.operators:
            for nick, pw in {**self.users, **self.operators}.items():
                if any(c in nick + pw for c in '"\n') or any(c.isspace() for c in nick):
                    raise ValueError(f"uhub's users file cannot hold {nick!r}/{pw!r}")
            accounts = self.dir / "users.txt"
            accounts.write_text("".join(f"user {n} \"{p}\"\n" for n, p in self.users.items())
                                + "".join(f"op {n} \"{p}\"\n" for n, p in self.operators.items()))
            plugins = self.dir / "plugins.conf"
            plugins.write_text(f'plugin {self.plugin_dir / "mod_auth_simple.so"} '
                               f'"file={accounts}"\n')
            lines.append(f"file_plugins={plugins}")
        lines += [f"{k}={v}" for k, v in self.extra.items()]
        conf = self.dir / "uhub.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout: float = 10.0, attempts: int = 5) -> "Uhub":
        t0 = time.monotonic()
        for _ in range(attempts):
            self.port = free_port()
            conf = self._write_config()
            self.proc = _spawn([self.binary, "-c", conf, "-v"], self.log_path, cwd=self.dir)
            try:
                self._wait_handshake(time.monotonic() + timeout)
                self.ready_seconds = time.monotonic() - t0
                return self
            except _PortClash:
                _stop(self.proc, 1.0)
                self.proc = None
            except BaseException:
                self.stop()
                raise
        raise PeerError(f"{self.name}: no free port after {attempts} attempts")

    def connect(self, timeout: float = 5.0) -> socket.socket:
        """A raw client socket to the hub (TLS-wrapped when tls=True)."""
        sock = socket.create_connection((LOCALHOST, self.port), timeout=timeout)
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        return sock

    def _wait_handshake(self, deadline: float) -> None:
        """Ready = HSUP answered with ISUP, ISID and our own hub name in IINF."""
        assert self.proc is not None
        while True:
            if self.proc.poll() is not None:
                log = _tail(self.log_path)
                if "Address already in use" in log:
                    raise _PortClash()
                raise PeerError(f"{self.name} exited with {self.proc.returncode}\n{log}")
            if time.monotonic() > deadline:
                raise PeerError(f"{self.name}: no ADC handshake on {self.port}\n"
                                f"{_tail(self.log_path)}")
            try:
                sock = self.connect(timeout=max(deadline - time.monotonic(), 0.1))
            except (ConnectionRefusedError, ssl.SSLError, ConnectionResetError):
                time.sleep(0.005)
                continue
            with sock:
                sock.sendall(b"HSUP ADBASE ADTIGR\n")
                seen: set[str] = set()
                buf = b""
                while not {"ISUP", "ISID", "IINF"} <= seen:
                    try:
                        chunk = sock.recv(4096)
                    except (OSError, ssl.SSLError):
                        chunk = b""
                    if not chunk:
                        break
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        text = line.decode(errors="replace")
                        seen.add(text[:4])
                        if text.startswith("IINF") and \
                                f" NI{self.hub_name}" not in f" {text} ":
                            raise _PortClash()   # a hub, but not ours
                if {"ISUP", "ISID", "IINF"} <= seen:
                    return
            time.sleep(0.005)

    def stop(self, grace: float = 3.0) -> int | None:
        rc, self.proc = _stop(self.proc, grace), None
        return rc

    def __enter__(self) -> "Uhub":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------- eiskaltdcpp-daemon
# The daemon driver lives in dctest.eiskaltdcpp (the eiskaltdcpp party,
# parties/eiskaltdcpp_party.py, is built on it); kept importable from here.
from .eiskaltdcpp import EiskaltDaemon  # noqa: E402,F401
