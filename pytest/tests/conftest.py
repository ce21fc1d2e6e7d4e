"""Plugins for the dctest plugin's own tests: dctest.plugin and pytester.

pytest accepts `pytest_plugins` only in the rootdir's conftest.py, so they are
loaded here while options are still being declared (this conftest is an
initial one whenever pytest/tests is on the command line or in testpaths).
Loaded elsewhere already (-p, a root conftest): left alone.
"""


def pytest_addoption(parser, pluginmanager):
    for name in ("dctest.plugin", "pytester"):
        if not pluginmanager.has_plugin(name):
            pluginmanager.import_plugin(name)
