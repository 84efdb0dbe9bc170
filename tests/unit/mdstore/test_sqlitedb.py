"""The SQLite helper the four SQLite layers share: checked names, generations, connections."""

from __future__ import annotations

import sqlite3

import pytest

from mdstore.errors import PublisherError, StoreError
from mdstore.sqlitedb import BadName, Generations, Sql, connect, marks, quote, sql, transaction

HOSTILE = ['x"; DROP TABLE y; --', "1abc", "", "a b", "a-b", "a.b", "tbl\n", "é", "x" * 129]


def tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


# --- names -----------------------------------------------------------------------------------


def test_quote_accepts_plain_identifiers_and_quotes_them():
    assert quote("rec_v00000001") == '"rec_v00000001"'
    assert quote("_x9") == '"_x9"'
    assert quote("x" * 128) == '"' + "x" * 128 + '"'


@pytest.mark.parametrize("name", HOSTILE)
def test_quote_refuses_anything_else_with_a_clear_error(name):
    with pytest.raises(BadName) as caught:
        quote(name)
    assert str(caught.value) == (
        f"{name!r} is not a valid SQL name (a letter or '_', then letters, digits or '_', at most 128)"
    )


def test_quote_refuses_non_strings_and_raises_the_layers_error():
    with pytest.raises(BadName, match="^None is not a valid SQL name"):
        quote(None)  # type: ignore[arg-type]
    with pytest.raises(PublisherError, match="^'a b' is not a valid SQL name"):
        quote("a b", error=PublisherError)


def test_sql_fills_names_quoted_fragments_as_they_are_and_numbers():
    statement = sql(
        "SELECT a FROM {table} WHERE id IN ({ids}){where} LIMIT {n}",
        table="g1_docs",
        ids=marks(3),
        where=Sql(" AND b = ?"),
        n=5,
    )
    assert statement == 'SELECT a FROM "g1_docs" WHERE id IN (?,?,?) AND b = ? LIMIT 5'


@pytest.mark.parametrize("name", HOSTILE)
def test_sql_refuses_a_bad_name_before_anything_runs(name):
    with pytest.raises(BadName):
        sql("DROP TABLE {table}", table=name)


def test_sql_refuses_other_types_and_missing_slots():
    with pytest.raises(TypeError, match="not bool"):
        sql("SELECT {n}", n=True)
    with pytest.raises(TypeError, match="not float"):
        sql("SELECT {n}", n=1.5)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="table"):
        sql("SELECT * FROM {table}")


def test_marks_and_fragments():
    assert marks(1) == "?"
    assert marks(4) == "?,?,?,?"
    with pytest.raises(ValueError, match="positive number"):
        marks(0)
    joined = Sql(" AND ").join([Sql("a = ?"), Sql("b = ?")])
    assert isinstance(joined, Sql)
    assert joined == "a = ? AND b = ?"
    with pytest.raises(TypeError, match="Sql fragments, not str"):
        Sql(" AND ").join([Sql("a = ?"), "1=1; DROP TABLE x"])


# --- generations -----------------------------------------------------------------------------

VERSIONS = Generations("{kind}_{key}", ("rec",), key=r"v\d+", what="version id", field="version")
SNAPSHOTS = Generations("{kind}_{key}", ("rec", "mem"), key=r"\d+", what="snapshot id", error=PublisherError)
BUILDS = Generations("g{key}_{kind}", ("docs", "state"), key=r"[0-9a-f]{12}", field="target")


def test_generation_names_follow_the_pattern():
    assert dict(VERSIONS.tables("v00000007")) == {"rec": "rec_v00000007"}
    assert dict(SNAPSHOTS.tables(12)) == {"rec": "rec_12", "mem": "mem_12"}
    assert dict(BUILDS.tables("0123456789ab")) == {
        "docs": "g0123456789ab_docs",
        "state": "g0123456789ab_state",
    }
    assert SNAPSHOTS.tables(12).sql("SELECT * FROM {rec} JOIN {mem} USING (id) WHERE x = ?") == (
        'SELECT * FROM "rec_12" JOIN "mem_12" USING (id) WHERE x = ?'
    )
    assert VERSIONS.tables("v1") is VERSIONS.tables("v1")  # made once
    with pytest.raises(TypeError, match=r"fill a template with tables\.sql"):
        f"SELECT * FROM {VERSIONS.tables('v1')}_x"  # noqa: B018


def test_a_malformed_key_is_refused_with_the_layers_error():
    with pytest.raises(StoreError) as caught:
        VERSIONS.tables('v1"; DROP TABLE units; --')
    assert str(caught.value) == 'v1"; DROP TABLE units; --: malformed version id'
    assert caught.value.version == 'v1"; DROP TABLE units; --'
    for key in (-1, True, "1x", None, 1.0):
        with pytest.raises(PublisherError) as refused:
            SNAPSHOTS.tables(key)  # type: ignore[arg-type]
        assert str(refused.value) == f"malformed snapshot id: {key!r}"
    with pytest.raises(StoreError, match="^v1\n: malformed version id$"):
        VERSIONS.tables("v1\n")  # re.match's $ would let the newline through


def test_create_and_drop_a_generation(tmp_path):
    con = connect(tmp_path / "g.sqlite")
    with transaction(con):
        made = SNAPSHOTS.create(
            con, 3, ["CREATE TABLE {rec}(id TEXT PRIMARY KEY)", "CREATE TABLE {mem}(id TEXT, s TEXT)"]
        )
        SNAPSHOTS.create(con, 4, ["CREATE TABLE {rec}(id TEXT PRIMARY KEY)", "CREATE TABLE {mem}(id TEXT)"])
    assert made.key == 3
    assert tables(con) == ["mem_3", "mem_4", "rec_3", "rec_4"]
    with transaction(con):
        SNAPSHOTS.drop(con, 3)
    assert tables(con) == ["mem_4", "rec_4"]
    with transaction(con):
        SNAPSHOTS.drop(con, 3)  # gone already: nothing to do
    assert tables(con) == ["mem_4", "rec_4"]


def _pointer_db(path):
    con = connect(path)
    with transaction(con):
        con.execute("CREATE TABLE pointer(name TEXT PRIMARY KEY, key TEXT NOT NULL)")
        t = BUILDS.create(
            con, "aaaaaaaaaaaa", ["CREATE TABLE {docs}(v TEXT)", "CREATE TABLE {state}(v TEXT)"]
        )
        con.execute(t.sql("INSERT INTO {docs} VALUES ('old')"))
        con.execute("INSERT INTO pointer VALUES ('main', 'aaaaaaaaaaaa')")
    return con


def _read(con: sqlite3.Connection) -> tuple[str, list[str]]:
    (key,) = con.execute("SELECT key FROM pointer WHERE name = 'main'").fetchone()
    return key, [v for (v,) in con.execute(BUILDS.tables(key).sql("SELECT v FROM {docs}"))]


def test_flip_is_atomic_for_a_reader_in_another_connection(tmp_path):
    writer = _pointer_db(tmp_path / "g.sqlite")
    reader = connect(tmp_path / "g.sqlite")
    with transaction(writer):
        t = BUILDS.create(
            writer, "bbbbbbbbbbbb", ["CREATE TABLE {docs}(v TEXT)", "CREATE TABLE {state}(v TEXT)"]
        )
        writer.execute(t.sql("INSERT INTO {docs} VALUES ('new')"))
    assert _read(reader) == ("aaaaaaaaaaaa", ["old"])  # built but not live: unseen

    reader.execute("BEGIN")  # a request in flight across the flip
    assert _read(reader) == ("aaaaaaaaaaaa", ["old"])

    def point(con: sqlite3.Connection) -> str:
        (old,) = con.execute("SELECT key FROM pointer WHERE name = 'main'").fetchone()
        con.execute("UPDATE pointer SET key = 'bbbbbbbbbbbb' WHERE name = 'main'")
        return old

    assert BUILDS.flip(writer, point) == "aaaaaaaaaaaa"
    assert _read(reader) == ("aaaaaaaaaaaa", ["old"])  # its snapshot still has the old generation
    reader.execute("COMMIT")
    assert _read(reader) == ("bbbbbbbbbbbb", ["new"])  # the next request sees the new one
    assert tables(reader) == ["gbbbbbbbbbbbb_docs", "gbbbbbbbbbbbb_state", "pointer"]  # old one dropped


def test_a_failed_flip_changes_nothing(tmp_path):
    writer = _pointer_db(tmp_path / "g.sqlite")

    def point(con: sqlite3.Connection) -> str:
        con.execute("UPDATE pointer SET key = 'bbbbbbbbbbbb' WHERE name = 'main'")
        raise RuntimeError("the build's last check failed")

    with pytest.raises(RuntimeError, match="last check"):
        BUILDS.flip(writer, point)
    assert _read(connect(tmp_path / "g.sqlite")) == ("aaaaaaaaaaaa", ["old"])
    assert BUILDS.flip(writer, lambda con: None) is None  # nothing replaced: nothing dropped
    assert tables(writer) == ["gaaaaaaaaaaaa_docs", "gaaaaaaaaaaaa_state", "pointer"]


# --- connections and transactions ------------------------------------------------------------


def test_connect_sets_wal_and_the_layers_tuning(tmp_path):
    con = connect(
        tmp_path / "t.sqlite",
        timeout=30,
        page_size=16384,
        cache_kib=16384,
        temp_store_memory=True,
        mmap_bytes=1 << 20,
        autocheckpoint_pages=4000,
    )
    pragma = {
        name: con.execute(f"PRAGMA {name}").fetchone()[0]
        for name in (
            "journal_mode",
            "synchronous",
            "busy_timeout",
            "cache_size",
            "temp_store",
            "mmap_size",
            "wal_autocheckpoint",
        )
    }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "cache_size": -16384,
        "temp_store": 2,
        "mmap_size": 1 << 20,
        "wal_autocheckpoint": 4000,
    }
    con.execute("CREATE TABLE t(x)")
    assert con.execute("PRAGMA page_size").fetchone() == (16384,)
    assert con.isolation_level is None  # transactions are the caller's
    bare = connect(tmp_path / "bare.sqlite", timeout=0, tune=False)
    assert bare.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert bare.execute("PRAGMA busy_timeout").fetchone() == (0,)


def _insert(con: sqlite3.Connection, *values: object, on_error=None, fail: bool = False) -> None:
    with transaction(con, on_error):
        for value in values:
            con.execute("INSERT INTO t VALUES (?)", (value,))
        if fail:
            raise ZeroDivisionError("the block failed")


def test_transaction_commits_rolls_back_and_translates_errors(tmp_path):
    con = connect(tmp_path / "t.sqlite")
    con.execute("CREATE TABLE t(x PRIMARY KEY)")
    _insert(con, 1)
    with pytest.raises(ZeroDivisionError, match="the block failed"):
        _insert(con, 2, fail=True)
    assert not con.in_transaction
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]

    def translate(exc: sqlite3.Error) -> StoreError | None:
        return StoreError(f"t.sqlite: {exc}") if isinstance(exc, sqlite3.IntegrityError) else None

    with pytest.raises(StoreError, match=r"^t\.sqlite: UNIQUE constraint failed: t\.x$") as caught:
        _insert(con, 3, 1, on_error=translate)
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]  # the 3 went with the rest
    con.execute("DROP TABLE t")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _insert(con, 4, on_error=translate)  # not translated: passes through


def test_a_locked_begin_is_translated_too(tmp_path):
    holder = connect(tmp_path / "t.sqlite")
    holder.execute("CREATE TABLE t(x PRIMARY KEY)")
    holder.execute("BEGIN IMMEDIATE")
    waiter = connect(tmp_path / "t.sqlite", timeout=0)
    with pytest.raises(StoreError, match="^busy: database is locked$"):
        _insert(waiter, 1, on_error=lambda exc: StoreError(f"busy: {exc}"))
    assert not waiter.in_transaction
    holder.execute("ROLLBACK")
