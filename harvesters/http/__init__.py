"""HTTP collection (D-NET's HTTP collector plugins): connectors chosen by name in the profile.

``xml-split`` (one big XML file, split on an element), ``paged`` (JSON or XML APIs paged by page
number, offset, cursor or next link), ``csv`` (one record per row), ``url-list`` (an index of
URLs, one document each). Outside connectors join through ``contentcloud.connectors``.
"""

from harvesters.http.harvester import HttpHarvester

__all__ = ["HttpHarvester"]
