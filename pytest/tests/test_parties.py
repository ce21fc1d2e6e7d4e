"""Client profiles under pytest (dctest.parties, dc_client(profile=),
--dc-client, @pytest.mark.dc_client_caps) and the third kind of party of
the test data: harness/tests/data/parties/toyworker.py, a worker with its
own command names wrapped by the party kit (docs/parties.md)."""
import pathlib

import pytest

from dctest import ProcessError
from dctest.parties import ProfileError, load, parse

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
TOY = str(ROOT / "harness" / "tests" / "data" / "parties" / "toyworker.client")


@pytest.mark.parametrize("dc_proto", ["nmdc"])
@pytest.mark.parametrize("pair", [("toy", "toy"), ("toy", "dcclient"), ("dcclient", "toy")],
                         ids=["toy-toy", "toy-dcclient", "dcclient-toy"])
def test_toyworker_passes_the_core(dc_hub, dc_client, pair):
    alice, bob = (dc_client(nick, profile=TOY if kind == "toy" else None)
                  for nick, kind in zip(("alice", "bob"), pair))
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url)
    alice.wait_for("user.join", nick="bob")
    bob.wait_for("user.join", nick="alice")
    for c in (alice, bob):
        c.wait_for("user.join", nick=c.nick)              # its own nick, once
        assert [e for e in c.events if e["event"] == "user.join" and e["nick"] == c.nick][1:] == []
    alice.pm("bob", "price: $10 | a & b")
    bob.wait_for("pm", from_="alice", text="price: $10 | a & b")
    bob.pm("alice", "two\nlines")
    alice.wait_for("pm", from_="bob", text="two\nlines")
    bob.say("hello all")
    alice.wait_for("chat", from_="bob", text="hello all")
    assert [u["nick"] for u in alice.users()] == ["alice", "bob"]
    with pytest.raises(ProcessError) as e:
        alice.pm("nobody", "x")
    assert e.value.code == "not-online"            # whatever the party's text
    bob.disconnect()
    alice.wait_for("user.leave", nick="bob")


def test_toyworker_refuses_what_it_lacks(dc_client, tmp_path):
    toy = dc_client("alice", profile=TOY)
    assert toy.caps == {"core"}
    with pytest.raises(pytest.skip.Exception, match=r"alice \(toyworker\) lacks capability share"):
        toy.share(tmp_path)
    with pytest.raises(pytest.skip.Exception, match=r"bob \(toyworker\) lacks setting description"):
        dc_client("bob", profile=TOY, description="x")
    with pytest.raises(ProcessError) as e:
        toy.request("set", name="colour", value="red")
    assert e.value.code == "unknown-setting"
    with pytest.raises(ProcessError) as e:
        toy.connect("adc://127.0.0.1:1")
    assert e.value.code == "unsupported"


@pytest.mark.parametrize("text, culprit", [
    ("name x\ncommand a\nbogus line\n", "p.client:3: unknown or malformed line"),
    ("name x\ncommand a {nope}\n", "p.client:2: unknown placeholder {nope}"),
    ("name x\ncommand a\ncaps core teleport\n", "p.client:3: unknown capability 'teleport'"),
    ("name x\ncommand a\nstop FOO 1s\n", "p.client:3: unknown signal 'FOO'"),
    ("name x\ncommand a\nready line soon\n", "p.client:3: bad duration 'soon'"),
    ("name x\n", "p.client: a profile needs `name` and `command`"),
])
def test_profile_errors_name_file_and_line(text, culprit):
    with pytest.raises(ProfileError) as e:
        parse(text, "p.client")
    assert str(e.value).startswith(culprit)


def test_shipped_profiles_load():
    eisk = load("eiskaltdcpp")
    assert eisk.caps >= {"core", "share", "list", "download", "password", "tls", "passive"}
    assert "resume" not in eisk.caps and "live-settings" not in eisk.caps
    assert eisk.stop_grace == 8 and eisk.ready_timeout == 15 and eisk.settings["share_size"] is None
    assert load("dcclient").builtin and load(TOY).name == "toyworker"
    with pytest.raises(ProfileError, match="no client profile 'nope'"):
        load("nope")


def test_caps_marker_and_option_skip(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.dc_client_caps("share", "list")
        def test_needs_list(dc_client):
            raise AssertionError("not reached with a toyworker")

        def test_plain(dc_client):
            pass
    """)
    # a copy: a path argument outside pytester's dir would move the rootdir
    (pytester.path / "toy.client").write_text(pathlib.Path(TOY).read_text())
    result = pytester.runpytest("-p", "dctest.plugin", "--dc-client", "toy.client", "-rs")
    result.assert_outcomes(skipped=1, passed=1)
    result.stdout.fnmatch_lines(["*(toyworker) lacks capability share, list*"])
    result = pytester.runpytest("-p", "dctest.plugin", "--dc-client", "nosuchparty")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dc-client nosuchparty: no client profile 'nosuchparty'*"])


def test_toyworker_passes_the_core_scenarios(bin_path, tmp_path):
    """dcharness runs the shipped core scenarios with every client a
    toyworker (NMDC: the worker speaks nothing else); what needs more than
    the core is skipped naming the capability."""
    import subprocess
    scn = ROOT / "scenarios"
    core = [scn / f"{n}.scn" for n in ("pm-both-ways", "chat", "nick-taken", "client-vanishes", "hub-kick")]
    r = subprocess.run([str(bin_path("dcharness")), "run", "--proto", "nmdc", "--client", TOY,
                        *map(str, core), scn / "transfer-small.scn"],
                       capture_output=True, text=True, timeout=300)
    assert "6 scenario runs: 5 passed, 0 failed, 1 skipped" in r.stdout, r.stdout + r.stderr
    assert "alice (toyworker) lacks capability share" in r.stdout
