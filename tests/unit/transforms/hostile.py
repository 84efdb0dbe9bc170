"""The hostile stylesheet corpus (``tests/fixtures/hostile-xslt``) laid out for an attack.

Each fixture names its targets with placeholders: ``@SECRET_URI@`` (a ``file:`` URI of a directory
beside the mappings directory holding ``secret.txt``, ``secret.xml``, ``secret.json`` and
``module.xsl``/``module1.xsl`` that would leak the secret), ``@SECRET_PATH@`` (the same as a path),
``@HTTP@`` (a local server counting requests) and ``@OUT_URI@`` (a directory nothing may be
written to). The mappings directory also holds ``link.xml``, a symbolic link to the secret.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
CORPUS = PROJECT / "tests" / "fixtures" / "hostile-xslt"
SECRET = "TOP-SECRET-7c2e"

SAXON = sorted(p.stem for p in CORPUS.glob("saxon-*.xsl"))
LXML = sorted(p.stem for p in CORPUS.glob("lxml-*.xsl"))


@dataclass
class Attack:
    mappings: Path
    secret_dir: Path
    out_dir: Path
    http: str
    hits: list[str] = field(default_factory=list)

    def text(self, name: str) -> str:
        """The fixture ``name`` with its placeholders filled in."""
        text = (CORPUS / f"{name}.xsl").read_text(encoding="utf-8")
        for key, value in {
            "@SECRET_URI@": self.secret_dir.as_uri() + "/",
            "@SECRET_PATH@": str(self.secret_dir),
            "@HTTP@": self.http,
            "@OUT_URI@": self.out_dir.as_uri() + "/",
        }.items():
            text = text.replace(key, value)
        return text

    def place(self, name: str, directory: Path | None = None) -> Path:
        """Write the fixture into the mappings directory (or ``directory``) as ``name.xsl``."""
        path = (directory or self.mappings) / f"{name}.xsl"
        path.write_text(self.text(name), encoding="utf-8")
        return path

    def assert_nothing_escaped(self, *outputs: str | bytes) -> None:
        """No output holds the secret, no request reached the server, no file was written."""
        for output in outputs:
            text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
            assert SECRET not in text
        assert self.hits == []
        assert list(self.out_dir.iterdir()) == []


def make_secrets(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "secret.txt").write_text(SECRET, encoding="utf-8")
    (directory / "secret.xml").write_text(f"<s>{SECRET}</s>", encoding="utf-8")
    (directory / "secret.json").write_text(json.dumps({"secret": SECRET}), encoding="utf-8")
    for name, version in (("module.xsl", "3.0"), ("module1.xsl", "1.0")):
        (directory / name).write_text(
            f'<xsl:stylesheet version="{version}" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            f'<xsl:template name="leak">{SECRET}</xsl:template></xsl:stylesheet>',
            encoding="utf-8",
        )
    return directory


@contextmanager
def attack(tmp_path: Path, mappings: Path) -> Iterator[Attack]:
    """Secrets beside ``mappings``, decoy modules inside it, and a counting HTTP server."""
    secret_dir = make_secrets(tmp_path / "secret")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for name, version in (("module.xsl", "3.0"), ("module1.xsl", "1.0")):
        (mappings / name).write_text(
            f'<xsl:stylesheet version="{version}" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            '<xsl:template name="leak">harmless</xsl:template></xsl:stylesheet>',
            encoding="utf-8",
        )
    os.symlink(secret_dir / "secret.xml", mappings / "link.xml")
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            hits.append(self.path)
            body = f"<s>{SECRET}</s>".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Attack(mappings, secret_dir, out_dir, f"http://127.0.0.1:{server.server_address[1]}", hits)
    finally:
        server.shutdown()
        server.server_close()


#: what the confined engine alone answers (static checks switched off); ``{secret}`` is the
#: secret directory; ``None``: no error, the output is the second element
ENGINE: dict[str, tuple[str | None, str]] = {
    "saxon-collection": ("Internal error evaluating template rule at line 4", ""),
    "saxon-computed-uri": ("reading {secret}/secret.txt is refused: a mapping may read files inside", ""),
    "saxon-doc-absolute": ("reading {secret}/secret.xml is refused", ""),
    "saxon-document-relative": ("reading {secret}/secret.xml is refused", ""),
    "saxon-environment": (None, "<out/>"),  # the worker's environment is empty
    "saxon-include-xml-base": ("'module.xsl' is refused: it lies outside the mappings directory", ""),
    "saxon-iterate-loop": ("the stylesheet ran longer than the time limit of 2 s for this record", ""),
    "saxon-java-reflexive": ("Reflexive calls to Java methods are not available under Saxon-HE", ""),
    "saxon-json-doc": ("reading {secret}/secret.json is refused", ""),
    "saxon-load-xquery-module": ("Requested feature (fn:load-xquery-module) requires Saxon-EE", ""),
    "saxon-network": ("and nothing on the network (Access to URI http://127.0.0.1:", ""),
    "saxon-network-text": ("and nothing on the network (Access to URI http://127.0.0.1:", ""),
    "saxon-parse-xml-entity": ("refused by the sandbox", ""),
    "saxon-recursion": ("Too many nested function calls. May be due to infinite recursion", ""),
    "saxon-result-document": (
        "xsl:result-document is refused: a mapping writes no files (it tried file:",
        "",
    ),
    "saxon-shadow-attribute": ("reading {secret}/secret.txt is refused", ""),
    "saxon-source-document": ("reading {secret}/secret.xml is refused", ""),
    "saxon-static-param": ("does not compile: reading {secret}/secret.txt is refused", ""),
    "saxon-symlink": ("/link.xml is refused: a mapping may read files inside", ""),
    "saxon-tail-loop": ("the stylesheet ran longer than the time limit of 2 s for this record", ""),
    "saxon-transform": ("reading {secret}/module.xsl is refused", ""),
    "saxon-unparsed-text": ("reading {secret}/secret.txt is refused", ""),
    "saxon-unparsed-text-lines": ("reading {secret}/secret.txt is refused", ""),
    "saxon-uri-collection": ("Internal error evaluating template rule at line 4", ""),
    "saxon-use-when": (None, "<out>nothing</out>"),  # the compile-time read failed
    "saxon-xml-base-instruction": ("reading {secret}/secret.txt is refused", ""),
    "saxon-xml-base-root": ("reading {secret}/secret.txt is refused", ""),
    "lxml-document-absolute": ("'{secret_uri}secret.xml' is refused: it lies outside the mappings", ""),
    "lxml-document-base-node": ("'{secret_uri}secret.xml' is refused: it lies outside the mappings", ""),
    "lxml-document-relative": ("'{secret}/secret.xml' is refused: it lies outside the mappings", ""),
    "lxml-dyn-evaluate": ("'{secret_uri}secret.xml' is refused: it lies outside the mappings", ""),
    "lxml-exsl-document": ("File write for {out}/written.txt refused", ""),
    "lxml-include-xml-base": ("'module1.xsl' is refused: it lies outside the mappings directory", ""),
    "lxml-network": ("Network file read for http://127.0.0.1:", ""),
    "lxml-recursion": ("templates nested deeper than 3000 calls (infinite recursion?)", ""),
    "lxml-symlink": ("/link.xml' is refused: it lies outside the mappings directory", ""),
    "lxml-unknown-extension": ("Unregistered function", ""),
    "lxml-xml-base-instruction": ("'{secret_uri}secret.xml' is refused: it lies outside the mappings", ""),
    "lxml-xml-base-root": ("'{secret_uri}secret.xml' is refused: it lies outside the mappings", ""),
}

#: what a curator sees with the static checks on (the real set-up) where it differs: the check
#: refuses before anything runs, naming the line and the attribute
CHECKED: dict[str, str] = {
    "saxon-collection": ":4 (@select): '{secret_uri}?select=*.xml' is refused: it lies outside",
    "saxon-computed-uri": ":4 (@select): unparsed-text() is allowed only with one literal URI",
    "saxon-doc-absolute": ":4 (@select): '{secret_uri}secret.xml' is refused: it lies outside",
    "saxon-document-relative": ":4 (@select): '../secret/secret.xml' is refused: it lies outside",
    "saxon-environment": ":4 (@select): environment-variable() is refused in mappings",
    "saxon-java-reflexive": ":4 (@select): Q{{java:java.lang.System}}getProperty() is refused: only standard",
    "saxon-json-doc": ":4 (@select): '{secret_uri}secret.json' is refused: it lies outside",
    "saxon-load-xquery-module": ":4 (@select): load-xquery-module() is refused in mappings",
    "saxon-network": ":4 (@select): 'http://127.0.0.1:",
    "saxon-network-text": ":4 (@select): unparsed-text() is allowed only with one literal URI",
    "saxon-parse-xml-entity": ":4 (@select): parse-xml() is refused in mappings",
    "saxon-result-document": ":4: xsl:result-document is refused: mappings write no files",
    "saxon-shadow-attribute": ":5 (@_select): unparsed-text() is allowed only with one literal URI inside "
    "the mappings directory, not one built from a static parameter",
    "saxon-source-document": ":4: 'secret.xml' is refused: it lies outside the mappings directory",
    "saxon-static-param": ":4 (@select): '{secret_uri}secret.txt' is refused: it lies outside",
    "saxon-symlink": ":4 (@select): 'link.xml' is refused: it lies outside the mappings directory",
    "saxon-transform": ":4 (@select): transform() is refused in mappings",
    "saxon-unparsed-text": ":4 (@select): '{secret_uri}secret.txt' is refused: it lies outside",
    "saxon-unparsed-text-lines": ":4 (@select): '../secret/secret.txt' is refused: it lies outside",
    "saxon-uri-collection": ":4 (@select): '{secret_uri}' is refused: it lies outside",
    "saxon-use-when": ":4 (@use-when): '{secret_uri}secret.txt' is refused: it lies outside",
    "saxon-xml-base-instruction": ":4 (@select): 'secret.txt' is refused: it lies outside the mappings",
    "saxon-xml-base-root": ":4 (@select): 'secret.txt' is refused: it lies outside the mappings",
}


def expected(table_entry: str, attack: Attack) -> str:
    return table_entry.format(
        secret=attack.secret_dir,
        secret_uri=attack.secret_dir.as_uri() + "/",
        out=attack.out_dir,
    )
