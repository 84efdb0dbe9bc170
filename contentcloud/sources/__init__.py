"""Datasource management: probing a source, the management pages and JSON API, dataset statistics.

:mod:`.probe` asks a would-be source what it offers; :mod:`.web` is the pages and the API
(mounted at ``/curator/sources``, behind the curator login); :mod:`.completeness` and
:mod:`.plots` are the statistics a source's page shows.
"""
