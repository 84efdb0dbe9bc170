"""The curator's instruments, below the application layer: they need a compiled chain, RDF and records.

* :mod:`.paths`: every element and attribute path of a record, namespaces as stable prefixes;
* :mod:`.x3ml_reads`: which source paths an X3ML mapping's XPaths read (static analysis);
* :mod:`.trace`: which source paths any chain reads, found by running it (value markers and
  perturbation), for XSLT;
* :mod:`.coverage`: the path table of a whole version, streamed;
* :mod:`.rdfdiff`: two RDF graphs compared as graphs (blank nodes and generated UUID IRIs
  canonicalised), and a version-against-draft run of it;
* :mod:`.ontology`: output checked against the PE/CIDOC-CRM ontology (RDFS reasoning).

Nothing here writes to the MDStore: every function reads under a lease and returns values.
"""
