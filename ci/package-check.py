"""Run by ci/package, copied into an empty directory outside the checkout:
a user's test file for an installed dctest (the .deb, or pip into a venv).
No conftest.py and no -p: the plugin must come from its pytest11 entry point,
from where ci/package says (DCTEST_EXPECT_DIR), with nothing of the checkout
on sys.path."""
import os
import pathlib
import sys

import dctest


def test_the_plugin_came_from_its_entry_point(pytestconfig):
    expect = pathlib.Path(os.environ["DCTEST_EXPECT_DIR"])
    assert pathlib.Path(dctest.__file__).resolve().is_relative_to(expect), dctest.__file__
    dists = {dist.project_name for _, dist in pytestconfig.pluginmanager.list_plugin_distinfo()}
    assert "dctest" in dists, dists
    checkout = os.environ["DCTEST_CHECKOUT"]
    assert not [p for p in sys.path if p and pathlib.Path(p).resolve().is_relative_to(checkout)], sys.path
    assert not [p for p in os.environ["PATH"].split(":") if p.startswith(checkout)]


def test_alice_and_bob(dc_hub, dc_client):
    alice, bob = dc_client("alice"), dc_client("bob", description="Bob's box")
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url)
    alice.wait_for("user.join", nick="bob", description="Bob's box")
    alice.pm("bob", "price: $10 | path C:\\share")
    assert bob.wait_for("pm", from_="alice")["text"] == "price: $10 | path C:\\share"
    assert sorted(u["nick"] for u in dc_hub.users()) == ["alice", "bob"]
