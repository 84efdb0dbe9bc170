"""The XSLT sandbox is enforced by the engines: the hostile corpus against the engine API.

Every Saxon attack runs twice: as a curator meets it (static checks first, they name the line),
and with the static checks switched off, to prove that the confined worker alone holds. Nothing
may leak the secret, reach the HTTP server or write a file, whichever line refuses.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import transforms.saxon_xslt as saxon_xslt
from mdstore.errors import ConfigError, MappingError
from tests.unit.transforms.conftest import stylesheet, write
from tests.unit.transforms.hostile import CHECKED, ENGINE, LXML, SAXON, SECRET, attack, expected
from transforms.confine import landlock_abi
from transforms.registry import build_chain

pytestmark = pytest.mark.skipif(landlock_abi() < 1, reason="the kernel offers no Landlock")


@pytest.fixture
def hostile(tmp_path, mappings_dir, monkeypatch):
    monkeypatch.setenv("CC_TEST_SECRET", SECRET)  # environment-variable() must not find it
    with attack(tmp_path, mappings_dir) as found:
        yield found


def run_fixture(hostile, name: str) -> tuple[MappingError | None, str]:
    """(the error, or None and the output) of fixture ``name`` applied to one record."""
    hostile.place(name)
    step = {"type": "xslt", "mapping": f"{name}.xsl"}
    if name.startswith("saxon"):  # the loops get 2 s; the rest the time they need on a busy machine
        step["time_limit"] = 2 if "loop" in name else 30
    try:
        chain = build_chain([step], base_dir=hostile.mappings, output="xml")
        return None, chain.apply(b"<r/>", record_id="ds::1").decode("utf-8")
    except MappingError as exc:
        return exc, ""


@pytest.mark.parametrize("name", SAXON)
def test_saxon_engine_alone_refuses_every_attack(hostile, monkeypatch, name):
    monkeypatch.setattr(saxon_xslt, "check_stylesheet", lambda *args, **kwargs: None)
    message, output = ENGINE[name]
    error, result = run_fixture(hostile, name)
    if message is None:
        assert error is None, error
        assert result.endswith(output)
    else:
        assert error is not None, result
        assert expected(message, hostile) in str(error)
        assert error.step == f"xslt {name}.xsl"
    hostile.assert_nothing_escaped(str(error), result)


@pytest.mark.parametrize("name", SAXON)
def test_saxon_attacks_are_refused_with_a_message_for_curators(hostile, name):
    error, result = run_fixture(hostile, name)
    assert error is not None, result
    message = CHECKED.get(name) or ENGINE[name][0]
    assert expected(message, hostile) in str(error)
    hostile.assert_nothing_escaped(str(error), result)


@pytest.mark.parametrize("name", LXML)
def test_lxml_refuses_every_attack(hostile, name):
    error, result = run_fixture(hostile, name)
    assert error is not None, result
    assert expected(ENGINE[name][0], hostile) in str(error)
    hostile.assert_nothing_escaped(str(error), result)


def test_the_corpus_is_complete():
    assert set(ENGINE) == set(SAXON) | set(LXML)
    assert len(SAXON) == 27 and len(LXML) == 12


def test_saxon_worker_refuses_an_include_outside_even_unchecked(hostile):
    """``read_stylesheet`` refuses such an include before Saxon sees it; the worker holds alone too."""
    path = hostile.place("saxon-include-xml-base")
    worker = saxon_xslt.SaxonWorker(
        {"root": str(hostile.mappings), "stylesheet": str(path), "params": {}, "compile_time_limit": 60},
        label="xslt saxon-include-xml-base.xsl",
        path=path,
    )
    with pytest.raises(MappingError) as info:
        worker.start()
    assert f"does not compile: reading {hostile.secret_dir}/module.xsl is refused" in str(info.value)
    hostile.assert_nothing_escaped(str(info.value))


# --- legitimate stylesheets keep working ----------------------------------------------------------


def test_saxon_reads_modules_and_documents_inside_the_mappings_directory(mappings_dir):
    write(mappings_dir / "vocabularies" / "terms.xml", "<terms><t>alpha</t><t>beta</t></terms>")
    write(mappings_dir / "vocabularies" / "terms.json", '{"first": "gamma"}')
    write(
        mappings_dir / "parts" / "names.xsl",
        stylesheet('<xsl:template name="named"><named/></xsl:template>', version="3.0"),
    )
    write(
        mappings_dir / "parts" / "base.xsl",
        stylesheet('<xsl:template match="r" priority="-5"><imported/></xsl:template>', version="3.0"),
    )
    body = (
        '<xsl:import href="parts/base.xsl"/><xsl:include href="parts/names.xsl"/>'
        '<xsl:template match="/"><out>'
        '<doc><xsl:value-of select="doc(\'vocabularies/terms.xml\')//t" separator=","/></doc>'
        "<text><xsl:value-of select=\"unparsed-text-lines('vocabularies/colours.csv')[2]\"/></text>"
        "<json><xsl:value-of select=\"json-doc('vocabularies/terms.json')?first\"/></json>"
        '<src><xsl:source-document href="vocabularies/terms.xml" streamable="no">'
        '<xsl:value-of select="count(//t)"/></xsl:source-document></src>'
        '<xsl:call-template name="named"/><xsl:apply-templates select="r"/>'
        "</out></xsl:template>"
    )
    write(mappings_dir / "main.xsl", stylesheet(body, version="3.0"))
    chain = build_chain([{"type": "xslt", "mapping": "main.xsl"}], base_dir=mappings_dir, output="xml")
    assert (
        chain.apply(b"<r/>")
        .decode("utf-8")
        .endswith(
            "<out><doc>alpha,beta</doc><text>red,rouge,Red</text><json>gamma</json><src>2</src>"
            "<named/><imported/></out>"
        )
    )


def test_lxml_reads_modules_and_documents_inside_the_mappings_directory(mappings_dir):
    write(mappings_dir / "vocabularies" / "terms.xml", "<terms><t>alpha</t><t>beta</t></terms>")
    write(
        mappings_dir / "parts" / "names.xsl", stylesheet('<xsl:template name="named"><named/></xsl:template>')
    )
    write(
        mappings_dir / "parts" / "base.xsl",
        stylesheet('<xsl:template match="r" priority="-5"><imported/></xsl:template>'),
    )
    body = (
        '<xsl:import href="parts/base.xsl"/><xsl:include href="parts/names.xsl"/>'
        '<xsl:template match="/"><out><doc><xsl:for-each select="document(\'vocabularies/terms.xml\')//t">'
        '<xsl:value-of select="."/></xsl:for-each></doc><xsl:call-template name="named"/>'
        '<xsl:apply-templates select="r"/></out></xsl:template>'
    )
    write(mappings_dir / "main.xsl", stylesheet(body))
    chain = build_chain([{"type": "xslt", "mapping": "main.xsl"}], base_dir=mappings_dir, output="xml")
    assert (
        chain.apply(b"<r/>").decode("utf-8").endswith("<out><doc>alphabeta</doc><named/><imported/></out>\n")
    )


def test_a_symbolic_link_that_stays_inside_may_be_read(mappings_dir):
    write(mappings_dir / "vocabularies" / "terms.xml", "<terms><t>alpha</t></terms>")
    (mappings_dir / "current.xml").symlink_to(mappings_dir / "vocabularies" / "terms.xml")
    write(
        mappings_dir / "m.xsl",
        stylesheet(
            '<xsl:template match="/"><out><xsl:value-of select="doc(\'current.xml\')"/></out></xsl:template>',
            version="3.0",
        ),
    )
    chain = build_chain([{"type": "xslt", "mapping": "m.xsl"}], base_dir=mappings_dir, output="xml")
    assert chain.apply(b"<r/>").decode("utf-8").endswith("<out>alpha</out>")


# --- runaway stylesheets --------------------------------------------------------------------------

LOOP_ON_DEMAND = stylesheet(
    '<xsl:template name="loop"><xsl:param name="n"/><xsl:call-template name="loop">'
    '<xsl:with-param name="n" select="$n + 1"/></xsl:call-template></xsl:template>'
    '<xsl:template match="/"><xsl:if test="/r/@loop"><xsl:call-template name="loop">'
    '<xsl:with-param name="n" select="1"/></xsl:call-template></xsl:if>'
    '<out><xsl:value-of select="/r"/></out></xsl:template>',
    version="3.0",
)


def test_a_looping_record_is_stopped_and_the_next_record_runs(mappings_dir):
    write(mappings_dir / "m.xsl", LOOP_ON_DEMAND)
    chain = build_chain(
        [{"type": "xslt", "mapping": "m.xsl", "time_limit": 1.5}], base_dir=mappings_dir, output="xml"
    )
    assert chain.apply(b"<r>one</r>").decode("utf-8").endswith("<out>one</out>")
    started = time.monotonic()
    with pytest.raises(MappingError) as info:
        chain.apply(b'<r loop="yes">two</r>', record_id="ds::2")
    assert 1.5 <= time.monotonic() - started < 5
    assert str(info.value) == (
        "ds::2: xslt m.xsl: m.xsl: the stylesheet ran longer than the time limit of 1.5 s for this "
        "record (a loop or runaway recursion?); it was stopped"
    )
    assert chain.apply(b"<r>three</r>").decode("utf-8").endswith("<out>three</out>")


def test_a_worker_whose_parent_stops_listening_ends_itself(mappings_dir):
    """The worker's own alarm ends a loop even if nobody is left to kill it."""
    path = write(mappings_dir / "m.xsl", LOOP_ON_DEMAND)
    setup = {"root": str(mappings_dir), "stylesheet": str(path), "params": {}, "compile_time_limit": 60}
    worker = saxon_xslt.SaxonWorker(setup, label="xslt m.xsl", path=path)
    worker.start()
    popen = worker._process.popen
    saxon_xslt._write(popen, {"record": '<r loop="yes"/>', "params": {}, "time_limit": 1})
    assert popen.wait(timeout=10) == -14  # SIGALRM
    worker.close()


def test_the_worker_stops_when_the_step_closes(mappings_dir):
    write(mappings_dir / "m.xsl", stylesheet('<xsl:template match="/"><out/></xsl:template>', version="3.0"))
    chain = build_chain([{"type": "xslt", "mapping": "m.xsl"}], base_dir=mappings_dir, output="xml")
    step = chain.steps[0]
    popen = step._worker._process.popen
    assert popen.poll() is None
    step.close()
    assert popen.poll() == 0


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_time_limit_must_be_a_positive_number(mappings_dir, value):
    write(mappings_dir / "m.xsl", stylesheet('<xsl:template match="/"><out/></xsl:template>', version="3.0"))
    with pytest.raises(ConfigError, match="is not a positive number of seconds"):
        build_chain([{"type": "xslt", "mapping": "m.xsl", "time_limit": value}], base_dir=mappings_dir)


# --- the confinement itself ---------------------------------------------------------------------


def test_a_confined_process_reads_inside_only_writes_nothing_and_connects_nowhere(tmp_path):
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "ok.txt").write_text("fine")
    (tmp_path / "secret.txt").write_text(SECRET)
    script = textwrap.dedent(
        f"""
        import socket, sys
        sys.path.insert(0, {str(Path(saxon_xslt.__file__).parents[1])!r})
        from transforms.confine import confine_to
        abi = confine_to(__import__("pathlib").Path({str(inside)!r}))
        print(open({str(inside / "ok.txt")!r}).read())
        for attempt in (
            lambda: open({str(tmp_path / "secret.txt")!r}).read(),
            lambda: open({str(inside / "new.txt")!r}, "w"),
            lambda: open({str(inside / "ok.txt")!r}, "a"),
            lambda: open("/etc/hostname").read(),
        ):
            try:
                attempt()
                print("ALLOWED")
            except PermissionError:
                print("refused")
        if abi >= 4:
            try:
                socket.create_connection(("127.0.0.1", 9), timeout=2)
            except PermissionError:
                print("refused")
            except OSError as exc:
                print("REACHED", exc)
        else:
            print("refused")
        """
    )
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["fine", "refused", "refused", "refused", "refused", "refused"], (
        result.stderr
    )
    assert not (inside / "new.txt").exists()


def test_without_confinement_a_saxon_stylesheet_is_refused(mappings_dir):
    """Deny by default: when the worker cannot confine itself (here its root is not a directory, as
    a kernel without Landlock fails too), nothing is compiled."""
    path = write(
        mappings_dir / "m.xsl", stylesheet('<xsl:template match="/"><out/></xsl:template>', version="3.0")
    )
    setup = {"root": str(path), "stylesheet": str(path), "params": {}, "compile_time_limit": 60}
    worker = saxon_xslt.SaxonWorker(setup, label="xslt m.xsl", path=path)
    with pytest.raises(MappingError) as info:
        worker.start()
    assert str(info.value) == (
        "xslt m.xsl: m.xsl: XSLT 2.0/3.0 mappings run only where the kernel can confine their file reads "
        "to the mappings directory (Linux Landlock), and here it cannot: [Errno 20] Not a directory: "
        f"'{path}'"
    )
    assert worker._process.popen is None


def test_a_record_that_eats_memory_ends_its_worker_and_the_next_record_runs(mappings_dir, monkeypatch):
    monkeypatch.setattr(saxon_xslt, "MEMORY_LIMIT", 512 << 20)
    body = (
        '<xsl:template match="/"><out><xsl:value-of select="if (/r/@eat) then string-length(string-join('
        "for $i in 1 to 100000000 return '0123456789012345678901234567890123456789')) else /r\"/></out>"
        "</xsl:template>"
    )
    write(mappings_dir / "m.xsl", stylesheet(body, version="3.0"))
    chain = build_chain([{"type": "xslt", "mapping": "m.xsl"}], base_dir=mappings_dir, output="xml")
    with pytest.raises(MappingError) as info:
        chain.apply(b'<r eat="yes"/>', record_id="ds::1")
    assert str(info.value) == (
        "ds::1: xslt m.xsl: m.xsl: the Saxon worker stopped while transforming this record (exit code 99); "
        "did the stylesheet need more than its 512 MiB of memory?"
    )
    assert chain.apply(b"<r>next</r>").decode("utf-8").endswith("<out>next</out>")


def test_time_limit_is_refused_for_xslt_1_which_cannot_be_stopped(mappings_dir):
    write(mappings_dir / "m.xsl", stylesheet('<xsl:template match="/"><out/></xsl:template>'))
    with pytest.raises(ConfigError) as info:
        build_chain([{"type": "xslt", "mapping": "m.xsl", "time_limit": 5}], base_dir=mappings_dir)
    assert info.value.message == (
        "time_limit applies to XSLT 2.0/3.0 (Saxon) only: libxslt cannot stop a running stylesheet; "
        "XSLT 1.0 is bounded by its template recursion depth (3000)"
    )
