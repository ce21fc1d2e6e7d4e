"""dctest: the Python side of dcharness.

Starts our executables (and real peers) as child processes and talks to them
over their JSON-lines channels. The pytest fixtures (dctest.plugin) and the
process-level tests of each component are built on this; nothing here knows a
DC protocol.
"""
from .procs import Process, JsonLines, ProcessError, free_port, require_binary
from .peers import EiskaltDaemon, PeerError, Uhub, stop_all

__all__ = ["Process", "JsonLines", "ProcessError", "free_port", "require_binary",
           "EiskaltDaemon", "PeerError", "Uhub", "stop_all"]
