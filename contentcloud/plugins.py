"""Every plugin registry of the project, by kind, for ``contentcloud plugins list`` and the docs."""

from __future__ import annotations

import importlib

from mdstore.plugins import Registry

#: kind → "module:attr" of its registry (imported only when listed)
REGISTRIES: dict[str, str] = {
    "mdstore backend": "mdstore.registry:BACKENDS",
    "harvester": "harvesters.registry:HARVESTERS",
    "http connector": "harvesters.http.registry:CONNECTORS",
    "x3ml custom generator": "transforms.x3ml.generators.registry:CUSTOM_GENERATORS",
    "transform step": "transforms.registry:TRANSFORMS",
    "url extractor": "harvesters.download.extract:EXTRACTORS",
    "file store": "harvesters.download.filestore:FILE_STORES",
    "index backend": "provision.registry:INDEXES",
}


def registries() -> dict[str, Registry]:
    result = {}
    for kind, target in REGISTRIES.items():
        module_name, _, attr = target.partition(":")
        try:
            result[kind] = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
    return result
