"""The dctest plugin's own tests. A package, so that its modules are imported
as tests.* and never clash with test modules of the same name elsewhere."""
