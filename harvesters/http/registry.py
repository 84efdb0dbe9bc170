"""HTTP connector registry: ``api.connector`` → connector class (STYLE.md 2.2).

Outside packages add connectors through the ``contentcloud.connectors`` entry-point group.
"""

from __future__ import annotations

from harvesters.http.connector import Connector, is_connector
from mdstore.plugins import Registry

CONNECTORS: Registry[type[Connector]] = Registry(
    "connector", group="contentcloud.connectors", check=is_connector
)
CONNECTORS.register("xml-split", "harvesters.http.xml_split:XmlSplitConnector")
CONNECTORS.register("paged", "harvesters.http.paged:PagedConnector")
CONNECTORS.register("csv", "harvesters.http.csv_rows:CsvConnector")
CONNECTORS.register("url-list", "harvesters.http.url_list:UrlListConnector")
