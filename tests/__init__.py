"""contentcloud's tests.

A regular package, so that pytest (rootdir-based "prepend" imports) puts the repository root on
sys.path and `tests.servers`, the test-server launchers, imports without installing anything.
A test folder whose modules or conftest import `tests.servers` needs its own `__init__.py` too
(tests/integration has one): pytest adds the root only for modules inside this package chain.
"""
