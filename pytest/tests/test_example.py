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

