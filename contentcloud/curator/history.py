"""Drafts per curator and the version history of promoted mappings, on disk under ``var/``.

Why on disk and not git: the mappings directory may not be a checkout (a docker volume, a
package's shipped copy), and a curator's promote must not depend on a git binary or an identity.
So every promoted version is one JSON file, ``<var>/mapping-history/<name>/<n>.json``
(``version``, ``name``, ``user``, ``time``, ``message``, ``sha256``, ``content``), written before
the mapping itself, so a crash between the two leaves a history that names a version the mappings
directory does not have yet, never a mapping without its history. A roll-back is a new version
with an old content (history is never rewritten).

Drafts are ``<var>/curator-drafts/<user>/<name>.json`` (the text and what it ran with): saved by
the editor, never read by the pipeline.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdstore.errors import ConfigError

#: a mapping promoted through the editor: a top-level file of the mappings directory
MAPPING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}\.(?:xsl|xslt|x3ml)$")
DRAFT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
FIRST_MESSAGE = "the file as found before the first promote"

_lock = threading.Lock()


def check_mapping_name(name: str) -> str:
    if not MAPPING_NAME.match(name or ""):
        raise ConfigError(
            f"mapping name {name!r}: a file name ending in .xsl, .xslt or .x3ml (letters, digits, . _ -)",
            field="name",
            rule="pattern",
        )
    return name


def _user_dir(user: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", user)[:80] or "_"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    temporary.replace(path)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Drafts:
    """One curator's saved drafts."""

    def __init__(self, var_dir: str | Path, user: str) -> None:
        self.root = Path(var_dir) / "curator-drafts" / _user_dir(user)

    def _path(self, name: str) -> Path:
        if not DRAFT_NAME.match(name or ""):
            raise ConfigError(
                f"draft name {name!r}: letters, digits, . _ - only", field="name", rule="pattern"
            )
        return self.root / f"{name}.json"

    def save(self, name: str, fields: dict[str, Any]) -> dict[str, Any]:
        data = {**fields, "name": name, "saved": _now()}
        _write_json(self._path(name), data)
        return {"name": name, "saved": data["saved"]}

    def load(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        if not path.is_file():
            raise ConfigError(f"no draft {name!r}", field="id", rule="exists")
        return json.loads(path.read_text(encoding="utf-8"))

    def list(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append({k: data.get(k) for k in ("name", "saved", "datasource", "mapping")})
        return found


class MappingHistory:
    """The versions of the mappings promoted into ``mappings_dir``."""

    def __init__(self, var_dir: str | Path, mappings_dir: str | Path) -> None:
        self.root = Path(var_dir) / "mapping-history"
        self.mappings = Path(mappings_dir)

    def _dir(self, name: str) -> Path:
        return self.root / check_mapping_name(name)

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version, oldest first, without the content."""
        directory = self._dir(name)
        if not directory.is_dir():
            return []
        numbers = sorted(int(p.stem) for p in directory.glob("*.json") if p.stem.isdigit())
        result = []
        for n in numbers:
            data = json.loads((directory / f"{n}.json").read_text(encoding="utf-8"))
            result.append({k: v for k, v in data.items() if k != "content"})
        return result

    def get(self, name: str, version: int) -> dict[str, Any]:
        path = self._dir(name) / f"{int(version)}.json"
        if not path.is_file():
            raise ConfigError(f"mapping {name}: no version {version}", field="id", rule="exists")
        return json.loads(path.read_text(encoding="utf-8"))

    def diff(self, name: str, old: int, new: int) -> list[str]:
        """A unified diff of two versions (lines without their ends)."""
        a, b = self.get(name, old), self.get(name, new)
        return list(
            difflib.unified_diff(
                a["content"].splitlines(),
                b["content"].splitlines(),
                f"{name} version {old}",
                f"{name} version {new}",
                lineterm="",
            )
        )

    def promote(self, name: str, content: str, *, user: str, message: str) -> dict[str, Any]:
        """Record ``content`` as the next version and write it into the mappings directory.

        The first promote of a file that is already there records that file first (version 1,
        user ``-``), so a roll-back can always go back to what was shipped."""
        check_mapping_name(name)
        message = message.strip()
        if not message:
            raise ConfigError(
                "say what the change is: the message is empty", field="message", rule="required"
            )
        target = self.mappings / name
        with _lock:
            versions = self.versions(name)
            current = target.read_text(encoding="utf-8") if target.is_file() else None
            if current == content:
                raise ConfigError(
                    f"mapping {name}: the draft is the mapping as it is; nothing to promote",
                    field="content",
                    rule="changed",
                )
            if not versions and current is not None:
                self._record(name, 1, current, user="-", message=FIRST_MESSAGE)
                versions = [{"version": 1}]
            number = (versions[-1]["version"] if versions else 0) + 1
            entry = self._record(name, number, content, user=user, message=message)
            self.mappings.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{name}.{os.getpid()}.tmp")
            temporary.write_text(content, encoding="utf-8")
            temporary.replace(target)
        return entry

    def _record(self, name: str, number: int, content: str, *, user: str, message: str) -> dict[str, Any]:
        entry = {
            "version": number,
            "name": name,
            "user": user,
            "time": _now(),
            "message": message,
            "sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
            "lines": len(content.splitlines()),
        }
        _write_json(self._dir(name) / f"{number}.json", {**entry, "content": content})
        return entry
