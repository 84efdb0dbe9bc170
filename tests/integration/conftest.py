"""Integration tests: the session fixtures solr_server and mongo_server live in tests/conftest.py."""
