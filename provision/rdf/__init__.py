"""The aggregated graph as linked data: a triple store per deployment, one named graph per datasource.

``provision.rdf.registry.open_rdf(uri)`` opens a store: the embedded pyoxigraph store
(``oxigraph:///path``, the default) or any SPARQL 1.1 Update + Graph Store Protocol server
(``sparql+http://host:3030/ds``, Fuseki in production). :mod:`provision.rdf.base` holds the
contract, :mod:`provision.rdf.triples` turns a record into its canonical triples,
:mod:`provision.rdf.ledger` remembers which record asserted which triple, :mod:`provision.rdf.http`
serves ``/sparql``, ``/.well-known/void`` and the dereferenceable ``/resource/…`` URIs.
"""
