"""Hidden files and directories (names starting with '.') are not shared
unless share_hidden is set, as in DC++: not counted, not in the file list a
peer gets, not downloadable by path."""
import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sanitize


def make_share(root):
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_bytes(b"[core]\n")
    (root / ".secret").write_bytes(b"password\n")
    (root / "sub").mkdir()
    (root / "sub" / ".hidden.txt").write_bytes(b"hidden\n")
    (root / "sub" / "visible.txt").write_bytes(b"visible\n")
    (root / "readme.txt").write_bytes(b"readme\n")


def names(tree, prefix=""):
    out = set()
    for k in tree.get("children", []):
        out.add(prefix + k["name"])
        out |= names(k, prefix + k["name"] + "/")
    return out


@pytest.mark.parametrize("share_hidden", [False, True])
def test_hidden_entries_shared_only_when_asked(tmp_path, fakehub, dcclient, share_hidden):
    root = tmp_path / "share"
    make_share(root)
    alice = dcclient("--nick", "alice", "--share", str(root),
                     "--set", f"share_hidden={'true' if share_hidden else 'false'}", name="alice")
    done = alice.channel.wait_for("share.done", timeout=30)
    assert done["files_hashed"] == (5 if share_hidden else 2)
    bob = dcclient("--nick", "bob", name="bob")
    for c in (alice, bob):
        c.channel.request("connect", url=fakehub.nmdc_url)
    wait_nicks(bob.channel, {"alice", "bob"})
    got = names(bob.channel.request("list", nick="alice", timeout=60)["tree"])
    visible = {"share", "share/readme.txt", "share/sub", "share/sub/visible.txt"}
    hidden = {"share/.git", "share/.git/config", "share/.secret", "share/sub/.hidden.txt"}
    assert got == (visible | hidden if share_hidden else visible)
    (tmp_path / "dl").mkdir()
    res = bob.channel.request("download", check=False, nick="alice", path="/share/.secret",
                              target_dir=str(tmp_path / "dl"), timeout=60)
    assert res["ok"] == share_hidden, res
    if share_hidden:
        assert (tmp_path / "dl" / ".secret").read_bytes() == b"password\n"
    else:
        assert "/share/.secret" in res["error"], res
