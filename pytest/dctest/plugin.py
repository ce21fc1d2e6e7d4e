"""pytest plugin: DC hubs and dcclients as fixtures, dcharness scenarios as items.

Load it with `-p dctest.plugin` or `pytest_plugins = ["dctest.plugin"]` in a
top-level conftest.py, with pytest/ on sys.path (docs/pytest.md). It drives
the same executables and control channels as dcharness: fakehub (or, with
--dc-hub PROFILE, the hub of a dcharness hub profile, run by `dcharness hub`)
and dcclient.

Scenario files (*.scn) become items, one per scenario and protocol, run
through `dcharness run`, with --dc-scenarios or the ini setting
`dc_scenarios = true` (off by default, so a suite that runs its scenarios
with dcharness already does not run them twice).

Fixtures:
  dc_proto          "nmdc"/"adc" (or, when --dc-proto names them, their TLS
                    variants "nmdcs"/"adcs"); tests using it (or dc_hub) run
                    once per protocol of --dc-proto (default nmdc,adc)
  dc_hub            a hub for this test (fakehub with control socket and
                    trace, or --dc-hub PROFILE); options by marker:
                    @pytest.mark.dc_hub(motd="hi", user=["carol:pw:op"]);
                    a protocol the profile does not speak is a skip
  dc_hub_factory    dc_hub_factory(protocols=None, **fakehub_options) -> Hub
  dc_client         dc_client(nick, profile=None, **settings) -> Client
                    (dctest.client): dcclient, or the party of a client
                    profile (profile=, else --dc-client NICK=PROFILE, else
                    --dc-client PROFILE); @pytest.mark.dc_client_caps("list",
                    ...) skips a test whose parties lack a capability

Every process a fixture starts is stopped and reaped at teardown (clients
first, then hubs), also after a failure, a timeout or KeyboardInterrupt
(pytest runs finalizers then; PR_SET_PDEATHSIG covers a killed pytest). A
process that exits non-zero at teardown, or dies without the test asking,
fails the test: that is how sanitizer reports surface. When a test fails its
processes are stopped at once (so traces are flushed) and their logs, the
hub trace and the clients' last events are attached to the report.

Timeouts are multiplied by DCTEST_TIMEOUT_MULTIPLIER. Under pytest-xdist
every test has its own tmp_path and fakehub binds port 0, so workers never
share a directory or a port.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterable, Iterator

import pytest

from .client import Client
from .hub import Hub, start_fakehub, start_profile_hub
from . import htmlreport
from .procs import ProcessError

if TYPE_CHECKING:
    from .parties import ClientProfile

PROTOCOLS = ("nmdc", "adc")                       # the default selection
ALL_PROTOCOLS = ("nmdc", "adc", "nmdcs", "adcs")  # nmdcs/adcs: the same over TLS
_TRACKED: pytest.StashKey[list[Hub | Client]] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dctest", "Direct Connect fixtures and scenarios (dctest)")
    group.addoption("--dc-proto", metavar="LIST", default=None,
                    help="protocols for dc_proto/dc_hub tests and scenario items: nmdc,adc,nmdcs,adcs "
                         "(default nmdc,adc)")
    group.addoption("--dc-hub", metavar="PROFILE", default=None,
                    help="use the hub of this dcharness hub profile (name such as uhub, or a .hub file) "
                         "for dc_hub and scenario items instead of fakehub")
    group.addoption("--dc-bin-dir", metavar="DIR", default=None,
                    help="where fakehub, dcclient and dcharness are (default: ini dc_bin_dir, "
                         "then $DC_BUILD_DIR/bin, then PATH)")
    group.addoption("--dc-client", metavar="[NICK=]PROFILE", action="append", default=[],
                    help="run dc_client parties from this client profile (a name such as eiskaltdcpp, "
                         "or a .client file); NICK=PROFILE for one nick only; repeatable")
    group.addoption("--dc-html", metavar="FILE", default=None,
                    help="write an HTML report of the session (steps, logs, a sequence diagram per failed "
                         "test) to FILE, drawn by `dcharness html`")
    group.addoption("--dc-html-all", action="store_true", default=False,
                    help="with --dc-html: a sequence diagram for passed tests too")
    group.addoption("--dc-scenarios", action="store_true", default=False,
                    help="collect dcharness scenario files (*.scn) as test items (ini: dc_scenarios)")
    parser.addini("dc_bin_dir", "directory holding fakehub, dcclient and dcharness", default="")
    parser.addini("dc_scenarios", "collect *.scn scenario files as test items", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dc_hub(**options): fakehub options for the dc_hub fixture "
                                       "(motd='hi', user=['carol:pw:op'], max_users=2; docs/fakehub.md)")
    config.addinivalue_line("markers", "dc_client_caps(*caps): party capabilities the test needs "
                                       "(docs/parties.md); parties lacking one skip the test")
    protocols(config)   # a bad --dc-proto is a usage error before collection
    htmlreport.configure(config)
    client_profiles(config)


def client_profiles(config: pytest.Config) -> dict[str | None, ClientProfile]:
    """{nick or None (every client): ClientProfile} from --dc-client."""
    from .parties import ProfileError, load
    cached = getattr(config, "_dc_client_profiles", None)
    if cached is not None:
        return cached
    out: dict[str | None, ClientProfile] = {}
    for value in config.getoption("dc_client") or []:
        nick, sep, name = value.rpartition("=")
        if name and ("/" in name or name.endswith(".client")):
            name = str(config.invocation_params.dir / name)
        try:
            out[nick if sep else None] = load(name, _bin_dir(config))
        except ProfileError as e:
            raise pytest.UsageError(f"--dc-client {value}: {e}")
    config._dc_client_profiles = out  # type: ignore[attr-defined]
    return out


def protocols(config: pytest.Config) -> list[str]:
    """The protocols chosen with --dc-proto (default nmdc,adc)."""
    value = config.getoption("dc_proto")
    if not value:
        return list(PROTOCOLS)
    chosen = [p.strip() for p in value.split(",") if p.strip()]
    bad = [p for p in chosen if p not in ALL_PROTOCOLS]
    if bad or not chosen:
        raise pytest.UsageError(f"--dc-proto: expected a list of nmdc, adc, nmdcs, adcs, got {value!r}")
    return chosen


def _bin_dir(config: pytest.Config) -> pathlib.Path | None:
    opt = config.getoption("dc_bin_dir")
    if opt:
        return pathlib.Path(opt).resolve()
    ini = config.getini("dc_bin_dir")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / ini).resolve()
    if os.environ.get("DC_BUILD_DIR"):
        return (pathlib.Path(os.environ["DC_BUILD_DIR"]) / "bin").resolve()
    return None


def bin_path(config: pytest.Config, name: str) -> str:
    """Path of one of our executables (fakehub, dcclient, dcharness)."""
    d = _bin_dir(config)
    path = str(d / name) if d else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found ({d / name if d else 'not on PATH'}); "
                    "build it and pass --dc-bin-dir or set DC_BUILD_DIR", pytrace=False)
    return path


def hub_profile(config: pytest.Config) -> str | None:
    """The --dc-hub profile as dcharness takes it (a name, or a .hub file's
    path from where pytest was invoked), or None for fakehub."""
    name = config.getoption("dc_hub")
    if name and ("/" in name or name.endswith(".hub")):
        return str(config.invocation_params.dir / name)
    return name


# ---- scenario files as items (dctest.scenarios)

def pytest_collect_file(file_path: pathlib.Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if file_path.suffix == ".scn" and (config.getoption("dc_scenarios") or config.getini("dc_scenarios")):
        from .scenarios import ScenarioFile
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


# ---- protocol parametrisation

def _parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dc_proto" not in metafunc.fixturenames or _parametrized(metafunc, "dc_proto"):
        return
    metafunc.parametrize("dc_proto", protocols(metafunc.config))


# ---- process tracking and teardown

def _track(node: pytest.Item, obj: Hub | Client) -> None:
    tracked: list[Hub | Client] = []
    node.stash.setdefault(_TRACKED, tracked).append(obj)


def _stop_all(node: pytest.Item) -> list[str]:
    """Stop every process the fixtures started for this test, clients before
    hubs; returns the exit-status problems."""
    objs: list[Hub | Client] = node.stash.get(_TRACKED, [])
    problems = []
    for obj in sorted(objs, key=lambda o: isinstance(o, Hub)):
        try:
            obj.stop()
        except Exception as e:   # keep stopping the others
            problems.append(f"stopping {obj!r}: {e}")
        problem = obj.exit_problem()
        if problem:
            problems.append(problem)
    return problems


@pytest.fixture
def _dc_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """Teardown for every process the dc_* fixtures start in one test."""
    yield
    problems = _stop_all(request.node)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    htmlreport.on_setup(item)


def pytest_sessionfinish(session: pytest.Session) -> None:
    d = _bin_dir(session.config)
    problem = htmlreport.finish(session.config, str(d / "dcharness") if d else shutil.which("dcharness"))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problem:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    if reporter is not None and htmlreport.enabled(session.config):
        reporter.write_line(f"dctest: {problem or 'HTML report: ' + session.config.getoption('dc_html')}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    objs: list[Hub | Client] = item.stash.get(_TRACKED, [])
    htmlreport.on_report(item, call, report, objs)
    if not report.failed or not objs:
        return
    if call.when == "call" and not item.config.getoption("usepdb", False):
        _stop_all(item)   # flushes traces; teardown reports exit problems
    for obj in objs:
        for title, text in obj.report_sections():
            report.sections.append((title, text or "(empty)"))


# ---- fixtures

def _workdir(tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    return pathlib.Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp_path))


@pytest.fixture
def dc_hub_factory(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
                   _dc_processes: None) -> Callable[..., Hub]:
    """dc_hub_factory(protocols=None, **fakehub_options) -> Hub: a new hub
    for this test (protocols: default both), stopped at teardown. With
    --dc-hub PROFILE the profile's hub is started by `dcharness hub` instead
    (default: every protocol it speaks; its only option is `user`); a
    protocol or registered users it does not offer skip the test, and an
    unknown profile ends the session as a usage error."""
    config = request.config

    def make(protocols: Iterable[str] | None = None, **options: Any) -> Hub:
        profile = hub_profile(config)
        workdir = _workdir(tmp_path, "hub")
        if profile is None:
            hub = start_fakehub(bin_path(config, "fakehub"), workdir, protocols=protocols or PROTOCOLS,
                                **options)
        else:
            try:
                hub = start_profile_hub(bin_path(config, "dcharness"), profile, workdir,
                                        protocols=protocols, **options)
            except ProcessError as e:
                if e.returncode == 3:
                    pytest.skip(str(e))
                if e.returncode == 2:
                    pytest.exit(f"--dc-hub {profile}: {e}", returncode=pytest.ExitCode.USAGE_ERROR)
                raise
        _track(request.node, hub)
        return hub
    return make


@pytest.fixture
def dc_hub(request: pytest.FixtureRequest, dc_hub_factory: Callable[..., Hub], dc_proto: str) -> Hub:
    """A hub for this test's protocol (dc_proto); hub.url is its URL.
    Options from @pytest.mark.dc_hub(...)."""
    mark = request.node.get_closest_marker("dc_hub")
    options = dict(mark.kwargs if mark else {})
    if hub_profile(request.config):
        options.setdefault("protocols", (dc_proto,))   # the one this test needs
    elif dc_proto not in PROTOCOLS:
        options.setdefault("protocols", (*PROTOCOLS, dc_proto))   # fakehub: plain ones and this TLS one
    hub = dc_hub_factory(**options)
    hub.proto = dc_proto
    return hub


@pytest.fixture
def dc_client(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
              _dc_processes: None) -> Callable[..., Client]:
    """dc_client(nick, profile=None, **settings) -> Client: a party, stopped
    at teardown. profile: a client profile name or .client path; default
    --dc-client NICK=PROFILE, then --dc-client PROFILE, then dcclient.
    settings are the contract's (description="x", slots=3, active=False,
    ...), passed as --set to dcclient and as `set` requests to others."""
    from .parties import ProfileError, load
    config = request.config
    chosen = client_profiles(config)
    mark = request.node.get_closest_marker("dc_client_caps")
    needed = list(mark.args) if mark else []
    for nick, prof in chosen.items():
        lacking = prof.lacks(needed)
        if lacking:
            pytest.skip(f"{nick + ' ' if nick else ''}({prof.name}) lacks capability {', '.join(lacking)}")

    def make(nick: str, profile: str | None = None, **settings: Any) -> Client:
        prof: ClientProfile | None
        if profile is not None:
            try:
                prof = load(profile, _bin_dir(config))
            except ProfileError as e:
                pytest.fail(str(e), pytrace=False)
        else:
            prof = chosen.get(nick) or chosen.get(None)
        if prof is not None:
            lacking = prof.lacks(needed)
            if lacking:
                pytest.skip(f"{nick} ({prof.name}) lacks capability {', '.join(lacking)}")
        binary = bin_path(config, "dcclient") if prof is None or prof.builtin else \
            str((_bin_dir(config) or pathlib.Path("/usr/bin")) / "dcclient")
        client = Client(binary, _workdir(tmp_path, nick), nick, profile=prof, **settings)
        _track(request.node, client)
        return client
    return make
