"""contentcloud's tests. A regular package, so that pytest puts the repository root on sys.path
and `tests.servers` (the test-server launchers) imports without installing anything; test folders
below it that import each other need an `__init__.py` as well (tests/integration has one)."""
