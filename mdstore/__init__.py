"""The MDStore: a versioned, transactional metadata store, and the shared kernel.

Lower than every other package: it imports only the standard library and its drivers.
"""
