"""One way to open the project's SQLite files, write to them, and keep tables in generations.

Four layers keep their data in SQLite: the MDStore (:mod:`mdstore.sqlite`), the embedded index
(:mod:`provision.index.sqlite`), the publisher's snapshots (:mod:`provision.oai.index`) and the
download ledger (:mod:`harvesters.download.ledger`). What they share lives here, once:

* :func:`connect`: an autocommit connection in WAL mode (readers go on while one writer writes),
  ``synchronous=NORMAL`` (a commit is durable at the next checkpoint, a crash loses no committed
  row in WAL mode), a busy timeout, and each layer's own tuning (page size, caches, mmap).
* :class:`transaction`: ``BEGIN IMMEDIATE`` … ``COMMIT``, ``ROLLBACK`` on any error, with an
  optional translation of SQLite's errors into the layer's own (a full disk, a damaged file).
* Names: SQL takes values as ``?`` parameters but not table names, so a statement that names a
  table of one generation is text made at run time. Every such name goes through :func:`quote`
  (a letter or ``_``, then letters, digits and ``_``; double-quoted), and statements are filled
  by :func:`sql` from a constant template, in the spirit of psycopg's ``sql.SQL`` and
  ``sql.Identifier``: what is filled in is a checked name, a number, or a :class:`Sql` fragment
  the program itself wrote, never a value.
* :class:`Generations`: a layer's tables kept as generations (the MDStore's table per version,
  the index's tables per rebuild, the publisher's tables per snapshot): create one, point readers
  at it in one transaction (:meth:`Generations.flip`), drop the one it replaced. In WAL mode a
  reader runs each request in one read transaction, so it sees the old generation or the new one,
  never a half-built one, even while the old one is dropped under it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from mdstore.errors import ContentcloudError, StoreError

#: a table or index name as the layers make them (SQLite allows more; we need no more)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

K = TypeVar("K")


class BadName(ContentcloudError):
    """A string that was to name a table (or an index, a column) is not a plain SQL identifier.

    A bug or a hostile value, never something to retry: no statement is run with it."""


class Sql(str):
    """SQL text the program wrote itself (a fixed clause, a list of ``?``), filled into a
    template by :func:`sql` as it is. Never make one from a value that came from outside."""

    __slots__ = ()

    def join(self, parts: Iterable[str]) -> Sql:  # type: ignore[override]
        """Fragments joined by this one; each part must itself be a :class:`Sql`."""
        items = list(parts)
        for part in items:
            if not isinstance(part, Sql):
                raise TypeError(f"Sql.join takes Sql fragments, not {type(part).__name__}: {part!r}")
        return Sql(str.join(self, items))


def quote(name: str, *, error: type[ContentcloudError] = BadName) -> str:
    """``name`` double-quoted, if it is a plain SQL identifier; else ``error`` (which says so)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise error(
            f"{name!r} is not a valid SQL name (a letter or '_', then letters, digits or '_', at most 128)"
        )
    return f'"{name}"'


def marks(count: int) -> Sql:
    """``?,?,…`` for ``count`` parameters (an ``IN (…)`` list); at least one."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"marks(): need a positive number of parameters, got {count!r}")
    return Sql(",".join("?" * count))


def sql(template: str, /, **parts: str | int) -> str:
    """The statement ``template`` with its ``{slot}`` fields filled: a :class:`Sql` as it is, an
    ``int`` as a number, any other string as a checked, quoted name (:func:`quote`). Values never
    go here: they stay ``?`` parameters. A slot the template names but ``parts`` lacks is a
    ``KeyError`` (a bug), and literal braces in the template are written ``{{`` and ``}}``."""
    return template.format_map({slot: _part(value) for slot, value in parts.items()})


def _part(value: str | int) -> str:
    if isinstance(value, Sql):
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"sql(): a part is a name, an Sql fragment or an int, not {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    return quote(value)


# --------------------------------------------------------------------------------- connections


def connect(
    path: str | Path,
    *,
    timeout: float = 60.0,
    tune: bool = True,
    page_size: int | None = None,
    cache_kib: int | None = None,
    temp_store_memory: bool = False,
    mmap_bytes: int | None = None,
    autocheckpoint_pages: int | None = None,
) -> sqlite3.Connection:
    """An autocommit connection (``isolation_level=None``: transactions are the caller's, see
    :class:`transaction`) usable from any thread the caller serialises, waiting up to ``timeout``
    seconds for another writer's lock.

    With ``tune`` (the default) it also sets WAL mode, ``synchronous=NORMAL`` and the busy timeout,
    then the layer's own settings: ``page_size`` (only takes effect when the file is created, so it
    is set before WAL mode), ``cache_kib`` (the page cache, per connection), ``temp_store_memory``,
    ``mmap_bytes`` (reads through the OS page cache) and ``autocheckpoint_pages`` (WAL pages between
    checkpoints). Without it the connection is bare: for a short-lived one that writes a row to a
    file another connection set up, or a reader that must not wait (``timeout=0``).
    """
    con = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    if not tune:
        return con
    pragmas: list[tuple[str, int | str]] = []
    if page_size is not None:
        pragmas.append(("page_size", int(page_size)))
    pragmas += [("journal_mode", "WAL"), ("synchronous", "NORMAL"), ("busy_timeout", int(timeout * 1000))]
    if cache_kib is not None:
        pragmas.append(("cache_size", -int(cache_kib)))
    if temp_store_memory:
        pragmas.append(("temp_store", "MEMORY"))
    if mmap_bytes is not None:
        pragmas.append(("mmap_size", int(mmap_bytes)))
    if autocheckpoint_pages is not None:
        pragmas.append(("wal_autocheckpoint", int(autocheckpoint_pages)))
    try:
        for pragma, value in pragmas:  # constant names, ints or constant words: nothing from outside
            con.execute(f"PRAGMA {pragma}={value}")
    except BaseException:
        con.close()
        raise
    return con


class transaction:  # noqa: N801 (used as a statement: ``with transaction(con):``)
    """``with transaction(con) as con:`` runs the block in ``BEGIN IMMEDIATE`` … ``COMMIT``.

    IMMEDIATE takes the write lock at once, so two writers queue on the busy timeout rather than
    one failing at its first write with a deadlock. Any exception, or a failed ``COMMIT``, rolls the
    transaction back (if SQLite did not already). ``on_error`` turns an SQLite error (of ``BEGIN``,
    the block or ``COMMIT``) into the layer's own: it returns the exception to raise instead, or
    None to let the SQLite error through. A class rather than a generator: the MDStore opens one per
    batch of records.
    """

    __slots__ = ("con", "on_error", "joined")

    def __init__(
        self,
        con: sqlite3.Connection,
        on_error: Callable[[sqlite3.Error], BaseException | None] | None = None,
        *,
        joined: bool = False,
    ) -> None:
        self.con = con
        self.on_error = on_error
        #: the block is part of a transaction the caller holds open: no BEGIN or COMMIT here, and an
        #: error is only translated (the holder's own ``transaction`` ends it)
        self.joined = joined

    def __enter__(self) -> sqlite3.Connection:
        if self.joined:
            return self.con
        try:
            self.con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._translate(exc)
            raise
        return self.con

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self.joined:
            if isinstance(exc, sqlite3.Error):
                self._translate(exc)
            return
        if exc_type is None:
            try:
                self.con.execute("COMMIT")
                return
            except sqlite3.Error as failed:
                exc = failed
        if self.con.in_transaction:
            self.con.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            self._translate(exc)
        if exc_type is None and exc is not None:  # COMMIT failed: an error, not a success
            raise exc

    def _translate(self, exc: sqlite3.Error) -> None:
        if self.on_error is not None:
            mapped = self.on_error(exc)
            if mapped is not None:
                raise mapped from exc


# --------------------------------------------------------------------------------- generations


class Tables(Mapping[str, str]):
    """The tables of one generation: kind → checked table name (unquoted); :meth:`sql` fills a
    template's ``{kind}`` slots with them, quoted."""

    __slots__ = ("key", "_names", "_quoted", "_statements")

    def __init__(self, key: object, names: Mapping[str, str]) -> None:
        self.key = key
        self._names = dict(names)
        self._quoted = {kind: Sql(quote(name)) for kind, name in names.items()}
        #: statements made from templates that need no other part (the constant ones: most)
        self._statements: dict[str, str] = {}

    def __getitem__(self, kind: str) -> str:
        return self._names[kind]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def sql(self, template: str, /, **parts: str | int) -> str:
        """:func:`sql` with this generation's tables as slots (``{docs}``, ``{rec}``…) beside ``parts``."""
        if parts:
            return sql(template, **self._quoted, **parts)
        made = self._statements.get(template)
        if made is None:
            if len(self._statements) >= 256:
                self._statements.clear()
            made = self._statements[template] = sql(template, **self._quoted)
        return made

    def __format__(self, spec: str) -> str:
        # an f-string over a generation (the old ``f"{p}_docs"``) would put this object's text into SQL
        raise TypeError("a Tables is not formatted into SQL: fill a template with tables.sql('… {docs} …')")

    def __repr__(self) -> str:
        return f"<Tables {self.key!r}: {', '.join(self._names.values())}>"


class Generations:
    """A layer's tables kept in generations, each a set of tables of the same ``kinds`` named by
    ``pattern`` from the generation's key (``"g{key}_{kind}"``, ``"{kind}_{key}"``).

    ``key`` is the pattern a key must match in full (checked before any name is made); a key that
    does not is refused with ``error("malformed <what>")``, located by the error's where-field
    ``field`` when given (``version=…``, ``target=…``): what the layer's users see.
    The pointer that tells readers which generation is live belongs to the layer (a row of its
    own catalogue); :meth:`flip` is the one way to move it.
    """

    def __init__(
        self,
        pattern: str,
        kinds: Sequence[str],
        *,
        key: str = r"[A-Za-z0-9_]+",
        what: str = "generation",
        error: type[ContentcloudError] = StoreError,
        field: str | None = None,
    ) -> None:
        self.pattern = pattern
        self.kinds = tuple(kinds)
        self.key = re.compile(key)
        self.what = what
        self.error = error
        self.field = field
        self._made: dict[str | int, Tables] = {}

    def tables(self, key: str | int) -> Tables:
        """The (checked) names of generation ``key``'s tables."""
        if type(key) not in (str, int):  # refused by _tables, with the layer's message
            return self._tables(key)
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= 4096:  # a cache of names, not of state: any entry may go
                self._made.clear()
            made = self._made[key] = self._tables(key)
        return made

    def _tables(self, key: str | int) -> Tables:
        text = str(key) if isinstance(key, int) and not isinstance(key, bool) and key >= 0 else key
        if not isinstance(text, str) or not self.key.fullmatch(text):
            if self.field is None:
                raise self.error(f"malformed {self.what}: {key!r}")
            raise self.error(f"malformed {self.what}", **{self.field: str(key)})
        return Tables(key, {kind: self.pattern.format(key=text, kind=kind) for kind in self.kinds})

    def create(
        self, con: sqlite3.Connection, key: str | int, ddl: Iterable[str], **parts: str | int
    ) -> Tables:
        """Create generation ``key``: each statement of ``ddl`` is a template over its tables
        (``CREATE TABLE {docs}(…)``) and ``parts`` (an index's name). Run it inside the caller's
        transaction."""
        tables = self.tables(key)
        for statement in ddl:
            con.execute(tables.sql(statement, **parts))
        return tables

    def drop(self, con: sqlite3.Connection, key: str | int) -> None:
        """Drop generation ``key``'s tables (their indexes go with them); a missing one is fine.

        Inside the caller's transaction if one is open; outside one each ``DROP`` commits on its
        own, and SQLite then keeps no statement journal of the pages it frees (inside one large
        transaction it journals them all, in memory with ``temp_store=MEMORY``: measured on the
        embedded index, +584 MB against +72 MB for a 100,000-document generation)."""
        for name in self.tables(key).values():
            con.execute(sql("DROP TABLE IF EXISTS {table}", table=name))

    def flip(self, con: sqlite3.Connection, point: Callable[[sqlite3.Connection], K | None]) -> K | None:
        """Make a generation live: ``point(con)`` moves the layer's pointer (and writes whatever
        must change with it) inside one write transaction and returns the key of the generation it
        replaced (None: there was none); then that generation is dropped in a second transaction.

        Readers see the old generation or the new one: the pointer moves in one commit, and a
        reader that read the old pointer keeps its read transaction's snapshot of the old tables
        even while they are dropped (one table per transaction, see :meth:`drop`; a crash half-way
        leaves tables no pointer names, which the layer's next build drops). Returns the replaced
        key.
        """
        with transaction(con):
            old = point(con)
        if old is not None:
            self.drop(con, old)  # type: ignore[arg-type]
        return old
