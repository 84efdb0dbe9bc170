"""The curator workbench: preview, coverage, regression diff and ontology check of mappings.

:mod:`.workbench` resolves a datasource (profile, units, chain, or a draft chain built from mapping
files) and calls the instruments of :mod:`transforms.curation`; the CLI (``contentcloud map
preview|coverage|diff|check``) and the web page (:mod:`.web`, mounted at ``/curator`` by
``contentcloud serve``) both go through it. Everything here is read-only on stored data: drafts
are compiled and applied in memory and never written to ``mappings/`` or the MDStore.
"""
