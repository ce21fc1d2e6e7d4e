"""Client profiles (harness/profiles/NAME.client) for the pytest side.

The format is dcharness's (docs/parties.md, "Client profiles"): one
directive per line, words split like the .hub files (double quotes group,
backslash escapes), `#` comments. This reader takes exactly the directives
the contract lists and refuses anything else at file:line, so a profile
means the same under pytest as in a scenario run.

`dcclient` is built in (the reference party, every capability).
"""
from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import signal
from typing import Iterable



def _share() -> pathlib.Path:
    """{share}: the directory holding parties/ and the profiles. In a
    checkout, the repository (pytest/dctest/ is two levels down); installed
    to a prefix P (cmake --install, the .deb: P/lib/python3/dist-packages/
    dctest), P/share/dcharness; installed by pip, the share/dcharness beside
    the dcharness on PATH."""
    here = pathlib.Path(__file__).resolve().parent
    candidates = [here.parent.parent, here.parents[3] / "share" / "dcharness"]
    found = shutil.which("dcharness")
    if found:
        candidates.append(pathlib.Path(found).resolve().parent.parent / "share" / "dcharness")
    for c in candidates:
        if (c / "parties").is_dir():
            return c
    return candidates[0]


SHARE = _share()
CAPS = frozenset("core share list download resume compress tls passive password live-settings "
                 "user-fields op control-ext faults non-bmp".split())
PLACEHOLDERS = frozenset("bin share dir name nick seed python".split())
_PLACEHOLDER = re.compile(r"\{([a-z]+)\}")


class ProfileError(Exception):
    pass


class ClientProfile:
    """name, command (words, placeholders unexpanded), ready_timeout,
    caps, stop_signal, stop_grace, settings {harness name: party name or
    None = unsupported}, env {NAME: VALUE}, path."""

    def __init__(self, name: str | None, path: str | None = None) -> None:   # name: None until parsed
        self.name, self.path = name, path
        self.command: list[str] = []
        self.caps: set[str] = {"core"}
        self.settings: dict[str, str | None] = {}
        self.env: dict[str, str] = {}
        self.ready_timeout, self.stop_signal, self.stop_grace = 10.0, signal.SIGTERM, 5.0

    @property
    def builtin(self) -> bool:
        return self.path is None

    def lacks(self, caps: Iterable[str]) -> list[str]:
        return [c for c in caps if c not in self.caps]

    def argv(self, **values: object) -> list[str]:
        """The command with {placeholders} replaced by values (strings)."""
        return [_PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), w) for w in self.command]

    def env_for(self, **values: object) -> dict[str, str]:
        return {k: _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), v) for k, v in self.env.items()}


def dcclient_profile() -> ClientProfile:
    p = ClientProfile("dcclient")
    p.caps = set(CAPS)
    return p


def _duration(word: str, where: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", word)
    if not m:
        raise ProfileError(f"{where}: bad duration {word!r} (e.g. 5s, 500ms)")
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def parse(text: str, path: str = "<profile>") -> ClientProfile:
    prof = ClientProfile(None, path)
    for no, line in enumerate(text.split("\n"), 1):
        where = f"{path}:{no}"
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            raise ProfileError(f"{where}: {e}") from None
        if not words:
            continue
        key, args = words[0], words[1:]
        if key == "name" and len(args) == 1:
            prof.name = args[0]
        elif key == "command" and args:
            for w in args:
                for ph in _PLACEHOLDER.findall(w):
                    if ph not in PLACEHOLDERS:
                        raise ProfileError(f"{where}: unknown placeholder {{{ph}}}")
            prof.command = args
        elif key == "ready" and args and args[0] == "line" and len(args) <= 2:
            if len(args) == 2:
                prof.ready_timeout = _duration(args[1], where)
        elif key == "caps" and args:
            for c in args:
                if c not in CAPS:
                    raise ProfileError(f"{where}: unknown capability {c!r}")
            prof.caps = {"core", *args}
        elif key == "stop" and 1 <= len(args) <= 2:
            try:
                prof.stop_signal = signal.Signals["SIG" + args[0]]
            except KeyError:
                raise ProfileError(f"{where}: unknown signal {args[0]!r}") from None
            if len(args) == 2:
                prof.stop_grace = _duration(args[1], where)
        elif key == "setting" and len(args) == 2:
            prof.settings[args[0]] = None if args[1] == "unsupported" else args[1]
        elif key == "env" and len(args) == 2:
            prof.env[args[0]] = args[1]
        else:
            raise ProfileError(f"{where}: unknown or malformed line: {line.strip()!r}")
    if not prof.name or not prof.command:
        raise ProfileError(f"{path}: a profile needs `name` and `command`")
    return prof


def profile_dirs(bin_dir: str | os.PathLike[str] | None = None) -> list[pathlib.Path]:
    dirs = [SHARE / "harness" / "profiles", SHARE / "profiles"]   # in-tree, installed
    if bin_dir:
        dirs.append(pathlib.Path(bin_dir) / ".." / "share" / "dcharness" / "profiles")
    return dirs


def load(name_or_path: str, bin_dir: str | os.PathLike[str] | None = None) -> ClientProfile:
    """A profile by name (searched in profile_dirs) or by .client path;
    `dcclient` is built in."""
    if name_or_path == "dcclient":
        return dcclient_profile()
    if "/" in name_or_path or name_or_path.endswith(".client"):
        candidates = [pathlib.Path(name_or_path)]
    else:
        candidates = [d / f"{name_or_path}.client" for d in profile_dirs(bin_dir)]
    for path in candidates:
        if path.is_file():
            return parse(path.read_text(encoding="utf-8"), str(path))
    raise ProfileError(f"no client profile {name_or_path!r} (looked in "
                       f"{', '.join(str(c) for c in candidates)})")


def placeholder_values(profile: ClientProfile, *, bin_dir: str | None, workdir: str | os.PathLike[str],
                       name: str, nick: str) -> dict[str, str]:
    return {"bin": bin_dir or "", "share": str(SHARE), "dir": str(workdir), "name": name,
            "nick": nick, "seed": str(int.from_bytes(os.urandom(8), "big")),
            "python": "/usr/bin/python3"}
