"""The sandbox vendors, the Key Vault fake and the managed-identity endpoint in a process of their own, so
that a benchmark's own process measures only the app (the real vendor and vault are elsewhere, too).

    with RemoteFakes() as fakes:
        fakes.call("sandbox", "set_latency", "fitbit", 0.1)
        fakes.set("vault", "latency", 0.03)
"""

from __future__ import annotations

import multiprocessing
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Self


def _serve(channel: Connection) -> None:
    from sandbox import Sandbox
    from sandbox.identity import IdentityEndpoint
    from sandbox.keyvault import KeyVaultServer

    with tempfile.TemporaryDirectory() as certdir:
        sandbox = Sandbox().start()
        identity = IdentityEndpoint().start()
        vault = KeyVaultServer(identity=identity, certdir=Path(certdir)).start()
        targets: dict[str, Any] = {"sandbox": sandbox, "identity": identity, "vault": vault}
        channel.send(
            {
                "env": {
                    "KEY_VAULT_URL": vault.url,
                    "REQUESTS_CA_BUNDLE": str(vault.cafile),
                    **identity.env(),
                    **sandbox.settings_env(),
                }
            }
        )
        try:
            while True:
                command = channel.recv()
                if command is None:
                    break
                target, verb, name, args, kwargs = command
                try:
                    obj = targets[target]
                    if verb == "call":
                        result = getattr(obj, name)(*args, **kwargs)
                    elif verb == "get":
                        result = getattr(obj, name)
                    else:
                        setattr(obj, name, args[0])
                        result = None
                    channel.send((True, result))
                except Exception as error:  # reported to the caller
                    channel.send((False, f"{type(error).__name__}: {error}"))
        finally:
            vault.stop()
            identity.stop()
            sandbox.stop()


class RemoteFakes:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._channel, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._lock = threading.Lock()
        self.env: dict[str, str] = {}

    def start(self) -> Self:
        self._process.start()
        self.env = self._channel.recv()["env"]
        return self

    def _ask(self, target: str, verb: str, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._channel.send((target, verb, name, args, kwargs))
            ok, result = self._channel.recv()
        if not ok:
            raise RuntimeError(result)
        return result

    def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._ask(target, "call", method, *args, **kwargs)

    def get(self, target: str, attribute: str) -> Any:
        return self._ask(target, "get", attribute)

    def set(self, target: str, attribute: str, value: Any) -> None:
        self._ask(target, "set", attribute, value)

    def stop(self) -> None:
        with self._lock:
            self._channel.send(None)
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
