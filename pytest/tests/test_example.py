"""The example of docs/pytest.md: Alice and Bob on a hub, once per protocol."""
import pytest

pytestmark = pytest.mark.sanitize


def test_alice_and_bob(dc_hub, dc_client, tmp_path):
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "song.txt").write_text("la la la\n")
    alice = dc_client("alice", description="Alice's box")
    alice.share(tmp_path / "music")
    alice.wait_for("share.done", files=1)
    bob = dc_client("bob")
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url)
    alice.wait_for("user.join", nick="bob")

    # Private messages both ways, with characters NMDC and ADC must escape.
    alice.pm("bob", "price: $10 | path C:\\share")
    assert bob.wait_for("pm", from_="alice")["text"] == "price: $10 | path C:\\share"
    bob.pm("alice", "thanks\nsecond line")
    alice.wait_for("pm", text="thanks\nsecond line")

    # The user list, with what each user announced.
    users = {u["nick"]: u for u in bob.users()}
    assert sorted(users) == ["alice", "bob"]
    assert users["alice"]["description"] == "Alice's box" and users["alice"]["share"] == 9

    # Bob browses Alice's file list and downloads the song.
    [music] = bob.list("alice")["tree"]["children"]
    assert [(f["name"], f["size"]) for f in music["children"]] == [("song.txt", 9)]
    got = bob.download("alice", tmp_path, path="/music/song.txt")
    assert open(got["file"]).read() == "la la la\n"


def test_the_readme_example_runs(pytester, monkeypatch):
    """README's "Use it from your project" test file passes as written, in a
    session that loads the plugin by name as an installed one loads itself."""
    import re
    from conftest import BUILD_DIR, ROOT
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Use it from your project"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    pytester.makepyfile(test_pm=code)
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "pytest"))
    result = pytester.runpytest_inprocess("-p", "dctest.plugin", f"--dc-bin-dir={BUILD_DIR / 'bin'}",
                                          "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines_random(["*test_private_messages?nmdc? PASSED*", "*test_hub_sees_logins?adc? PASSED*"])
