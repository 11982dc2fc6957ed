"""Development secret store: one JSON file per secret under LOCAL_SECRETS_DIR, readable by the owner only.

Writes are atomic (temporary file + rename). The last few versions are kept, like Key Vault versions.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shared.vault.base import StoredSecret

KEEP_VERSIONS = 5


class LocalFileStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def _path(self, name: str) -> Path:
        return self.directory / f"{name.lower()}.json"

    def _load(self, name: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._path(name).read_text())
        except FileNotFoundError:
            return None
        return data

    def get(self, name: str) -> StoredSecret | None:
        data = self._load(name)
        if not data or not data["versions"]:
            return None
        latest = data["versions"][-1]
        if not latest.get("enabled", True):
            return None
        return StoredSecret(latest["value"], latest["version"], True)

    def _save(self, name: str, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path(name))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def set(self, name: str, value: str, tags: Mapping[str, str]) -> str:
        data = self._load(name) or {"name": name, "versions": []}
        version = uuid.uuid4().hex
        data["versions"] = [
            *data["versions"],
            {"version": version, "value": value, "enabled": True, "tags": dict(tags)},
        ][-KEEP_VERSIONS:]
        self._save(name, data)
        return version

    def disable(self, name: str) -> None:
        data = self._load(name)
        if data and data["versions"]:
            data["versions"][-1]["enabled"] = False
            self._save(name, data)

    def names(self, prefix: str) -> Iterator[str]:
        for path in sorted(self.directory.glob("*.json")):
            data = self._load(path.stem)
            if data and str(data["name"]).lower().startswith(prefix.lower()):
                yield str(data["name"])
