"""The dctest plugin's own tests. A package, so that its conftest.py is imported
as tests.conftest and never shadows the root conftest module that other
components import (from conftest import ROOT, dc_bin)."""
