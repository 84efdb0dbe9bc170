"""An X3ML engine: mappings of XML records to RDF (CIDOC-CRM, PARTHENOS Entities), in Python.

It follows the reference engine of FORTH-ICS (``isl/x3ml``, 2.2.x) closely enough to pass that
engine's own test suite graph for graph: the same mapping language, the same generated URIs and
labels, the same test UUIDs in the same order. Compile a mapping once, apply it to many records::

    from transforms.x3ml import X3MLMapping

    mapping = X3MLMapping.load(["mapping.x3ml"], policy="policy.xml", terms=None, legacy_shorten=False)
    result = mapping.transform(record_bytes, record_id="oai:example.org:42")
    result.to_ntriples()      # str, the fast path the pipeline uses
    result.serialize("turtle")  # bytes: ntriples, turtle, rdfxml, trig, jsonld, nquads
    result.warnings           # list[MappingError]: per-entity problems, with file, mapping, link, XPath

API
---
``X3MLMapping.load(mappings, *, policy=None, terms=None, legacy_shorten=False, compat=None,
custom_generators=None) -> X3MLMapping``
    ``mappings`` is a path or a list of paths (merged in order, as the reference merges several
    ``-x`` files); ``policy`` a generator policy file; ``terms`` a SKOS file for ``<broader>`` and
    ``<exact_match>``. ``legacy_shorten`` shortens URIs as engines 1.8.4–1.9.1 did; ``compat``
    (``"current"``, ``"1.9.1"``, ``"1.8.4"``, ``"1.8.2"``) follows an older engine further (see
    :class:`Compat`). ``custom_generators`` maps ``generatorClass`` names to classes, ahead of the
    registry. Raises :class:`~mdstore.errors.ConfigError` (file, line, rule) for anything the
    reference refuses to load: malformed XML, schema violations, namespace and variable errors,
    invalid policies.

``X3MLMapping.transform(source, *, record_id=None, uuid_mode="reproducible", uuid_test_size=2)
-> TransformResult``
    ``source`` is XML (bytes or text) or a parsed lxml element/tree. ``uuid_mode``:
    ``"reproducible"`` derives every ``UUID`` value from ``record_id`` (or a digest of the
    record) and where it is generated, so the same record always gives the same RDF;
    ``"test"`` gives the reference's ``uuid:AA``, ``uuid:AB``… sequence; ``"random"`` gives
    ``urn:uuid:`` random values as the reference does in production. A mapping object can be
    used for any number of records, one at a time per thread (lxml XPath evaluators are not
    shared between threads safely).

``X3MLMapping.transform_files(paths, ...)``
    The same over several input files read as one document (``Utils.parseMultipleXMLFiles``).

``X3MLMapping.transform_stream(path, ...)``
    One large input file read incrementally: each top-level element is mapped as a document of
    its own (as if it were an input file of its own) and its result yielded before the next is
    read, so memory holds one record whatever the file's size (``contentcloud x3ml --stream``).

``TransformResult``: ``graph`` (:class:`~transforms.x3ml.output.Graph`), ``warnings``,
``record_id``, ``to_ntriples()``, ``serialize(fmt)``, ``len()``.

Custom generators are found by their Java class name (``gr.forth.URIorUUID``…) in
:data:`~transforms.x3ml.generators.registry.CUSTOM_GENERATORS`; other packages add theirs
through the ``contentcloud.x3ml_generators`` entry-point group.

Where this engine departs from the reference, on purpose
-------------------------------------------------------
* With named graphs, the triple formats (N-Triples, Turtle, RDF/XML, JSON-LD) get all triples;
  the reference refuses anything but TriG. TriG and N-Quads are as the reference writes them.
* A language tag N-Triples cannot carry (``en_GB``) becomes ``en-GB`` or is dropped.
* ``<exists>`` over an expression that is not a node list uses its boolean value; the reference
  stops the run. A problem inside a join link is a warning for that link, as for other links.
* Reproducible UUIDs leave out the reference's running count of additionals, so the additional
  of a domain, which the reference resolves twice and types twice (an orphan node), is one node.
* Several input files are parsed namespace-aware like a single one (the reference's merge parser
  is not); the association-table export of the reference's command line is not provided.
* ``--compat`` (``1.9.1``, ``1.8.4``, ``1.8.2``) reproduces outputs of older engines: their
  URI shortening, their URI-template escaping, their lenient ``<info>`` and their URIorUUID.

Layout: :mod:`.loader` (files, validation with :mod:`.schema`, merging, the model of
:mod:`.model`), :mod:`.engine` (the run), :mod:`.xpath` (lxml XPath 1.0, elementpath for
XPath 3.1), :mod:`.uritemplate` and :mod:`.urivalidator` (URI building), :mod:`.generators`
(custom generators), :mod:`.uuids`, :mod:`.terminology`, :mod:`.output`.
"""

from transforms.x3ml.api import COMPAT_LEVELS, Compat, TransformResult, X3MLMapping
from transforms.x3ml.output import FORMATS, Graph, Literal

__all__ = ["COMPAT_LEVELS", "FORMATS", "Compat", "Graph", "Literal", "TransformResult", "X3MLMapping"]
