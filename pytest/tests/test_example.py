"""The example of docs/pytest.md: Alice and Bob on a hub, once per protocol."""
import pytest

pytestmark = pytest.mark.sanitize


def test_alice_and_bob(dc_hub, dc_client):
    alice = dc_client("alice", description="Alice's box")
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
    assert users["alice"]["description"] == "Alice's box"
