"""dcload (client/load/dcload.c): N clients from one process into a fakehub
child, some chatting and sending PMs; the JSON report must account for every
login and every delivery, and a hub that refuses some clients must show up as
failures with the hub's reason and a non-zero exit."""
import json
import subprocess

import pytest

from dccproc import fakehub_factory  # noqa: F401 (fixture)

pytestmark = pytest.mark.sanitize


def run_dcload(bin_path, *args, timeout=60):
    r = subprocess.run([str(bin_path("dcload")), "--json", *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, json.loads(r.stdout), r.stderr


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_dcload_accounts_for_every_login_and_delivery(fakehub_factory, bin_path, proto):
    hub = fakehub_factory("--max-users", "100")
    rc, rep, err = run_dcload(bin_path, "--hub", hub.url(proto), "--clients", "40", "--concurrency", "8",
                              "--chatters", "5", "--messages", "4", "--hub-pid", str(hub.proc.pid))
    assert rc == 0, (rep, err)
    assert rep["completed"] is True and rep["online"] == 40 and rep["failed"] == 0
    assert rep["sent"] == 5 * 4 * 2
    assert rep["chat_deliveries"] == 5 * 4 * 40, "every chat line reaches all 40 (sender included)"
    assert rep["pm_deliveries"] == 5 * 4
    assert rep["expected_deliveries"] == rep["chat_deliveries"] + rep["pm_deliveries"]
    assert rep["lost"] == 0
    assert rep["logins_per_second"] > 0 and rep["deliveries_per_second"] > 0
    lat = rep["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert rep["hub_rss_kib_before"] > 0 and rep["hub_rss_kib_after"] > 0
    assert rep["hub_anon_kib_per_user"] >= 0


def test_dcload_reports_refusals(fakehub_factory, bin_path):
    hub = fakehub_factory("--max-users", "10")
    rc, rep, err = run_dcload(bin_path, "--hub", hub.adc_url, "--clients", "15", "--chatters", "2",
                              "--messages", "2", "--timeout", "20")
    assert rc == 1, (rep, err)
    assert rep["online"] == 10 and rep["failed"] == 5
    assert rep["first_error"], rep


def test_dcload_rejects_bad_arguments(bin_path):
    for args in (["--clients", "5"], ["--hub", "adcs://127.0.0.1:1/?kp=SHA256/X"], ["--hub", "adc://h:1", "--clients", "x"]):
        r = subprocess.run([str(bin_path("dcload")), *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and r.stderr, (args, r)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_dcload_stopped_early_reports_what_happened_so_far(fakehub_factory, bin_path, sig):
    """A harness stops a background load with SIGTERM (or SIGINT) and still
    gets its figures: what was sent, delivered and lost so far."""
    import signal
    import time
    hub = fakehub_factory()
    p = subprocess.Popen([str(bin_path("dcload")), "--json", "--hub", hub.nmdc_url, "--clients", "4", "--chatters", "4",
                          "--messages", "100000", "--interval", "0.01"], stdout=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        p.send_signal(getattr(signal, sig))
        out, _ = p.communicate(timeout=20)
    finally:
        p.kill()
        p.wait()
    rep = json.loads(out)
    assert p.returncode == 1 and rep["completed"] is False and rep["phase"] == "messages", rep
    assert rep["sent"] > 0 and rep["chat_deliveries"] > 0
    assert 0 <= rep["lost"] <= rep["sent"] * 4   # in flight when it stopped, at most
