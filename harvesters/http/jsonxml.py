"""JSON to XML, so that JSON APIs feed the same XML transforms as every other source.

Object keys become elements when they are valid XML names, ``<field name="…">`` otherwise; a list
repeats its key's element once per item; ``null`` is an empty element with ``null="true"``;
booleans are ``true``/``false``. Text is cleaned of XML-illegal characters.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from harvesters.repair import strip_illegal_xml_text

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def json_to_xml(value: Any, root: str = "record") -> bytes:
    element = etree.Element(root)
    _fill(element, value)
    return etree.tostring(element, encoding="utf-8")


def _child(parent: etree._Element, key: str) -> etree._Element:
    if _NAME.match(key) and not key.lower().startswith("xml"):
        return etree.SubElement(parent, key)
    child = etree.SubElement(parent, "field")
    child.set("name", strip_illegal_xml_text(key))
    return child


def _fill(element: etree._Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list):
                for entry in item:
                    _fill(_child(element, str(key)), entry)
            else:
                _fill(_child(element, str(key)), item)
    elif isinstance(value, list):
        for entry in value:
            _fill(etree.SubElement(element, "item"), entry)
    elif value is None:
        element.set("null", "true")
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = strip_illegal_xml_text(str(value))


def dotted(value: Any, path: str | None) -> Any:
    """``a.b.0.c`` into nested JSON; None when any step is missing. An empty path is the value."""
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value
