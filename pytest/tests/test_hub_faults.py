"""Hub.fault(): fault rules from pytest (docs/pytest.md), with dcclient as
the party that meets them: a dropped PM never arrives, a delayed one arrives
late, a bad rule raises naming the field."""
import time

import pytest

from dctest import ProcessError

pytestmark = pytest.mark.sanitize


def test_fault_rules_from_pytest(dc_hub, dc_client):
    if "hub-control" not in dc_hub.features:
        pytest.skip(f"hub {dc_hub.name} has no control socket")
    alice, bob = dc_client("alice"), dc_client("bob")
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url)
    alice.wait_for("user.join", nick="bob")
    bob.wait_for("user.join", nick="alice")

    first = dc_hub.fault("drop cmd=pm from=alice count=1")
    second = dc_hub.fault(delay="700ms", cmd="pm", from_="bob", count=1)
    assert second == first + 1
    with pytest.raises(ProcessError, match='field "delay"'):
        dc_hub.fault(delay="soon", cmd="pm")
    with pytest.raises(ProcessError, match='field "colour"'):
        dc_hub.fault(drop=True, colour="red")

    alice.pm("bob", "dropped")
    alice.pm("bob", "delivered")
    assert bob.wait_for("pm", from_="alice")["text"] == "delivered"
    t0 = time.monotonic()
    bob.pm("alice", "late")
    alice.wait_for("pm", text="late")
    assert time.monotonic() - t0 >= 0.6
    table = {r["id"]: r for r in dc_hub.faults()}
    assert (table[first]["applied"], table[first]["active"]) == (1, False)
    assert (table[second]["action"], table[second]["applied"]) == ("delay", 1)
    assert dc_hub.clear_faults() == 0          # both used up their count
