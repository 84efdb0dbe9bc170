"""Confining a process to reading one directory: Linux Landlock, through ``ctypes``.

SaxonC's Python API offers no URI resolver, so the only place left to decide what an XSLT 2.0/3.0
stylesheet may read is the operating system: the Saxon worker (:mod:`transforms.saxon_worker`)
calls :func:`confine_to` once its libraries are loaded and before it compiles anything. From then
on the kernel refuses, for that process only and irreversibly, every file access but reading inside
the directory, and (Landlock ABI 4+) every TCP connect or bind. Whatever URI a stylesheet builds —
``xml:base`` on any element, shadow attributes, static parameters, ``xsl:source-document``,
``collection()``, symbolic links — the read either lands inside the directory or fails.

Landlock needs Linux 5.13 or later with the ``landlock`` LSM enabled (the default on current
distributions; container runtimes must allow its three system calls). :func:`landlock_abi`
says whether it is there.
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path

# system call numbers: the same on every architecture (added after the syscall table unification)
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
#: every filesystem right the kernel knows, by ABI version (ABI 2 adds REFER, 3 TRUNCATE, 5 IOCTL_DEV)
_FS_ALL = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_ALL_LATEST = (1 << 16) - 1
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers, 0 when there is none (or not Linux)."""
    if platform.system() != "Linux":
        return 0
    version = _libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(int(version), 0)


def confine_to(directory: Path) -> int:
    """Allow this process, from now on, to read files inside ``directory`` and nothing else.

    No file may be written, created or removed anywhere, nothing outside ``directory`` read, and
    (ABI 4+) no TCP connection opened. Already open descriptors (the worker's pipes, loaded
    libraries) keep working. Returns the ABI version used; raises ``OSError`` when the kernel
    cannot confine the process (the caller must then refuse to run untrusted code).
    """
    libc = _libc()
    abi = landlock_abi()
    if abi < 1:
        raise OSError("Linux Landlock is not available (needs kernel 5.13+ with the landlock LSM)")
    attr = _RulesetAttr(_FS_ALL.get(abi, _FS_ALL_LATEST), 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        parent = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            rule = _PathBeneathAttr(_FS_READ_FILE | _FS_READ_DIR, parent)
            if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"landlock_add_rule: {os.strerror(errno)}")
        finally:
            os.close(parent)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(NO_NEW_PRIVS): {os.strerror(errno)}")
        if libc.syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"landlock_restrict_self: {os.strerror(errno)}")
    finally:
        os.close(ruleset)
    return abi
