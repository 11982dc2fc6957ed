"""Azurite's Table service with a bulk seed (``bench/azurite_table.js``), for benchmarks over large registries.

Azurite checks each inserted row against its whole partition, so 100,000 rows of one partition cost hours over
HTTP on a busy host (quadratic there, not on the real service). ``BulkTables`` runs Azurite's own TableServer in
memory and copies one row written over HTTP once per key, inside the emulator. Everything after the seed (the
sweeps' listing, progress rows, claims) goes over HTTP as usual."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from sandbox.azurite import azurite_binary

SCRIPT = Path(__file__).with_name("azurite_table.js")


def _dist() -> Path:
    binary = azurite_binary().resolve()  # node_modules/azurite/dist/src/azurite.js (or the .bin link to it)
    for parent in binary.parents:
        if (parent / "src" / "table" / "TableServer.js").exists():
            return parent
    raise FileNotFoundError(f"Azurite's dist directory not found from {binary}")


class BulkTables:
    """``with BulkTables() as tables: tables.connection_string(queue_endpoint, blob_endpoint)``"""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> Self:
        self._proc = subprocess.Popen(
            ["node", str(SCRIPT), str(_dist())],  # noqa: S607
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            self.__exit__(None, None, None)
            raise RuntimeError("Azurite's table service did not start")
        self.port = int(line[1])
        return self

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/devstoreaccount1"

    def with_tables(self, connection_string: str) -> str:
        """An Azurite connection string with this table service in place of its own."""
        parts = [p for p in connection_string.split(";") if p and not p.startswith("TableEndpoint=")]
        return ";".join([*parts, f"TableEndpoint={self.endpoint}", ""])

    def clone(self, table: str, keys: list[str]) -> int:
        """Copy the table's one row once per RowKey in ``keys`` (none of them the row's own)."""
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as handle:
            handle.write("\n".join(keys))
        try:
            self._proc.stdin.write(f"clone devstoreaccount1 {table} {handle.name}\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline().split()
        finally:
            os.unlink(handle.name)
        if len(answer) != 2 or answer[0] != "cloned":
            raise RuntimeError(f"bulk seed of {table} failed")
        return int(answer[1])

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
