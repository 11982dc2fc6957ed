"""A sandbox served in a spawned process (the vendors are remote: their servers must not share the app's GIL).
``serve(channel, *args)`` runs in the child: it sends the sandbox's settings first, then answers each
``(name, args)`` with ``(ok, result)`` until it receives None."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self


class RemoteSandbox:
    """``call(name, *args)`` runs an operation of ``serve`` (or a Sandbox method) in the child process."""

    def __init__(self, serve: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._channel, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, *args), daemon=True)
        self._lock = threading.Lock()
        self.env: dict[str, str] = {}

    def __enter__(self) -> Self:
        self._process.start()
        self.env = self._channel.recv()
        return self

    def call(self, name: str, *args: Any) -> Any:
        with self._lock:
            self._channel.send((name, args))
            ok, result = self._channel.recv()
        if not ok:
            raise RuntimeError(result)
        return result

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._channel.send(None)
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def app_env(storage: str, secrets_dir: str, sandbox: RemoteSandbox, limits: bool, **extra: str) -> dict[str, str]:
    """App settings as tests/conftest.py's ``app_env`` makes them, against ``sandbox`` (the process's own Azure
    and rate-limit variables removed); WHOOP's limits are the app's defaults unless ``limits`` is False."""
    for name in list(os.environ):
        azure = name.startswith(("AZURE_", "IDENTITY_", "MSI_", "KEY_VAULT", "AzureWebJobs"))
        if azure or name.endswith("_RATE_LIMITS"):
            del os.environ[name]
    env = {
        "AzureWebJobsStorage": storage,
        "LOCAL_SECRETS_DIR": secrets_dir,
        "LOCK_LEASE_SECONDS": "15",
        "LOCK_WAIT_SECONDS": "60",
        "HTTP_TIMEOUT_SECONDS": "5",
        "FITBIT_RATE_LIMITS": "none",
        **extra,
        **sandbox.env,
    }
    if not limits:
        env["WHOOP_RATE_LIMITS"] = "none"
    return env
