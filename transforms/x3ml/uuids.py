"""Where the ``UUID`` generator's values come from.

* ``test``: the reference's test source, ``uuid:`` and ``size`` capital letters counting up in
  base 26 from ``A…A``, one sequence per run, so that outputs compare with the reference letter
  for letter (the order of calls is the engine's business).
* ``random``: ``urn:uuid:`` and a random version-4 UUID, as the reference does in production.
* ``reproducible``: ``urn:uuid:`` and a version-5 UUID of the record id and the place the value
  is asked for (mapping and link position, the entity's role, the source node paths), so that
  running a mapping again over the same record gives the same RDF.

The reference also draws plain random UUIDs outside this source (``uuid="yes"`` templates,
``*_RANDOM_UUID`` arguments); :meth:`UUIDSource.random_text` provides those: random in the test
and random modes (as in the reference), derived like the others in the reproducible mode.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Literal

__all__ = [
    "NAMESPACE",
    "ReproducibleUUIDSource",
    "TestUUIDSource",
    "TooManyTestUUIDs",
    "UUIDMode",
    "UUIDSource",
    "make_uuid_source",
]

UUIDMode = Literal["reproducible", "test", "random"]

#: namespace of the reproducible UUIDs (a fixed, arbitrary UUID; changing it changes every IRI)
NAMESPACE = uuid.UUID("6f0b1c2e-8c1d-5c55-9a53-3f7e1d1a4c10")

KeyFn = Callable[[], str]


class TooManyTestUUIDs(RuntimeError):
    """The test source ran out of letters (the reference's "Too many test UUIDs")."""


class UUIDSource:
    """Random UUIDs (the reference's production source)."""

    def generate(self, key: KeyFn) -> str:
        return f"urn:uuid:{uuid.uuid4()}"

    def random_text(self, key: KeyFn) -> str:
        return str(uuid.uuid4())


class TestUUIDSource(UUIDSource):
    """``uuid:AA``, ``uuid:AB``, … (``X3MLGeneratorPolicy.TestUUIDSource``)."""

    __test__ = False  # not a pytest class, whatever its name says

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("the test UUID size must be at least 1")
        self.size = size
        self.limit = 26**size
        self.count = 0

    def generate(self, key: KeyFn) -> str:
        if self.count >= self.limit:
            raise TooManyTestUUIDs(f"Too many test UUIDs at {self.count}. Use a larger size.")
        value = self.count
        self.count += 1
        letters = []
        for _ in range(self.size):
            value, rest = divmod(value, 26)
            letters.append(chr(65 + rest))
        return "uuid:" + "".join(reversed(letters))


_NAMESPACE_BYTES = NAMESPACE.bytes


def _uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` without building a ``UUID`` object (a third of the
    cost of a reproducible entity)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])  # noqa: S324 - RFC 4122 v5
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class ReproducibleUUIDSource(UUIDSource):
    """``urn:uuid:`` + uuid5(record id, key)."""

    def __init__(self, record_id: str) -> None:
        self.record_id = record_id
        self._prefix = record_id + chr(31)

    def generate(self, key: KeyFn) -> str:
        return "urn:uuid:" + _uuid5_text(self._prefix + key())

    def random_text(self, key: KeyFn) -> str:
        return _uuid5_text(self._prefix + key() + chr(31) + "random")


def make_uuid_source(mode: UUIDMode, *, record_id: str | None, test_size: int = 2) -> UUIDSource:
    """The source for one run."""
    if mode == "test":
        return TestUUIDSource(test_size)
    if mode == "random":
        return UUIDSource()
    if mode == "reproducible":
        if record_id is None:
            raise ValueError("the reproducible UUID mode needs a record id")
        return ReproducibleUUIDSource(record_id)
    raise ValueError(f"unknown UUID mode {mode!r}; expected reproducible, test or random")
