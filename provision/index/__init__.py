"""Search indexes for portals: Solr and the embedded SQLite FTS5 index behind one contract.

``provision.registry.open_index(uri)`` opens one; :mod:`provision.index.base` holds the contract,
:mod:`provision.index.profile` turns RDF records into index documents, :mod:`provision.index.http`
serves Solr's ``/select`` API over any backend.
"""
