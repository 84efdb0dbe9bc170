"""The harvester protocol registry: ``api.protocol`` → harvester class (STYLE.md 2.2).

Outside packages add protocols through the ``contentcloud.harvesters`` entry-point group.
Importing this module imports no harvester.
"""

from __future__ import annotations

from harvesters.base import Harvester, is_harvester
from mdstore.plugins import Registry

HARVESTERS: Registry[type[Harvester]] = Registry(
    "harvester", group="contentcloud.harvesters", check=is_harvester
)
HARVESTERS.register("oai", "harvesters.oai:OaiHarvester")
HARVESTERS.register("ftp", "harvesters.ftp:FtpHarvester")
HARVESTERS.register("http", "harvesters.http:HttpHarvester")
