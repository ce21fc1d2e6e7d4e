"""Legacy NMDC transfer commands from a raw peer over a real socket:
`$Get files.xml.bz2$1` (and $GetListLen, $UGetBlock, $Send), sent after
both sides offered ADCGet, get an `$Error` at once and the connection
closes, instead of silence until the idle timeout. A DC++-family client
never sends them to a peer that announces ADCGet (it treats such a peer as
an old client it cannot download from); DC++ itself answers $GetListLen
with `$Error GetListLength not supported` and disconnects."""
import time

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)
from test_upload_errors import nmdc_peer

pytestmark = pytest.mark.sanitize


@pytest.fixture
def alice(tmp_path, fakehub, dcclient):
    root = tmp_path / "share"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello world\n")
    alice = dcclient("--nick", "alice", "--share", str(root), name="alice")
    alice.channel.wait_for("share.done", timeout=30)
    alice.channel.request("connect", url=fakehub.nmdc_url)
    return alice


@pytest.mark.parametrize("cmd, error", [
    (b"$Get files.xml.bz2$1|", b"$Error Legacy transfer commands are not supported, use ADCGet"),
    (b"$Get share\\hello.txt$1|", b"$Error Legacy transfer commands are not supported, use ADCGet"),
    (b"$UGetBlock 0 -1 files.xml.bz2|", b"$Error Legacy transfer commands are not supported, use ADCGet"),
    (b"$GetListLen|", b"$Error GetListLength not supported"),
    (b"$Send|", b"$Error Legacy transfer commands are not supported, use ADCGet"),
])
def test_legacy_command_gets_error_at_once(alice, fakehub, cmd, error):
    cc = nmdc_peer(fakehub.ready["nmdc"])   # handshake done, both offered ADCGet
    try:
        t0 = time.monotonic()
        cc.send(cmd)
        assert cc.msg() == error
        assert cc.closed(), "the connection stays open after the $Error"
        # At once: not after transfer_timeout (30 s) or the idle timeout (120 s).
        assert time.monotonic() - t0 < 5
    finally:
        cc.s.close()
        cc.hub.s.close()
    # The client is unaffected: a new connection still gets the list.
    cc = nmdc_peer(fakehub.ready["nmdc"])
    try:
        cc.send(b"$ADCGET file files.xml.bz2 0 -1|")
        snd = cc.msg()
        assert snd.startswith(b"$ADCSND file files.xml.bz2 0 ")
        assert cc.raw(int(snd.split(b" ")[-1]))[:3] == b"BZh"
    finally:
        cc.s.close()
        cc.hub.s.close()
