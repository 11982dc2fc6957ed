"""Start and stop Azurite, the Azure Storage emulator (installed from npm by ``make``), on free loopback
ports with in-memory storage. Used by the tests, the demo and the benchmarks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
NO_GC = Path(__file__).with_name("azurite_no_gc.js")
GC_OFF = re.compile(r"wearsync: \S*(Blob|Queue)GCManager mark and sweep off")
LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at http://127.0.0.1:(\d+)")


def azurite_binary() -> Path:
    configured = os.environ.get("AZURITE_BIN")
    candidates = [Path(configured)] if configured else []
    candidates.append(ROOT / "node_modules" / ".bin" / "azurite")
    found = shutil.which("azurite")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError("Azurite is not installed: run `make test` or `npm ci` (package.json pins it)")


class Azurite:
    """``with Azurite() as azurite: azurite.connection_string``"""

    def __init__(self, memory_limit_mb: int = 512, collect_garbage: bool = True) -> None:
        """``collect_garbage=False``: no mark-and-sweep of dropped messages and overwritten blobs (see
        ``azurite_no_gc.js``), for a benchmark that holds one emulator for an hour; memory grows instead."""
        self.memory_limit_mb = memory_limit_mb
        self.collect_garbage = collect_garbage
        self.ports: dict[str, int] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def start(self, timeout: float = 30.0) -> Self:
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        args = [
            str(azurite_binary()),
            "--inMemoryPersistence",
            "--extentMemoryLimit",
            str(self.memory_limit_mb),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--blobHost",
            "127.0.0.1",
            "--queueHost",
            "127.0.0.1",
            "--tableHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--queuePort",
            "0",
            "--tablePort",
            "0",
        ]
        env = dict(os.environ)
        if not self.collect_garbage:
            env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} --require {NO_GC}".strip()
        self._proc = subprocess.Popen(  # noqa: S603 - our own pinned Azurite binary
            args, cwd=self._workdir.name, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        gc_off: set[str] = set()
        timer = threading.Timer(timeout, self._proc.kill)
        timer.start()
        try:
            assert self._proc.stdout is not None
            while len(self.ports) < 3:
                line = self._proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"Azurite did not start (ports seen: {self.ports})")
                match = LISTENING.search(line)
                if match:
                    self.ports[match.group(1)] = int(match.group(2))
                elif off := GC_OFF.search(line):
                    gc_off.add(off.group(1))
            if not self.collect_garbage and gc_off != {"Blob", "Queue"}:
                raise RuntimeError(f"Azurite's mark and sweep could not be turned off (off: {sorted(gc_off)})")
        except BaseException:
            self.stop()
            raise
        finally:
            timer.cancel()
        stdout = self._proc.stdout
        threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()  # never let the pipe fill
        return self

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.ports['Blob']}/devstoreaccount1;"
            f"QueueEndpoint=http://127.0.0.1:{self.ports['Queue']}/devstoreaccount1;"
            f"TableEndpoint=http://127.0.0.1:{self.ports['Table']}/devstoreaccount1;"
        )

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
