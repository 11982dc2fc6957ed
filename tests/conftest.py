"""Shared fixtures: Azurite (started and stopped by the tests), the vendor sandbox, the Key Vault fake,
and a suite-wide guard that no token or client secret ever reaches a log line."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from sandbox import Sandbox
from sandbox.azurite import Azurite
from shared import app_context
from shared.app_context import AppContext
from shared.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


# -- the log guard ----------------------------------------------------------------------------------
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is still worth scanning
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        with self._guard:
            self.texts.append(text)


CAPTURE = _Capture()
KNOWN_SECRETS: set[str] = set()  # tests add the secrets they make up; sandboxes report theirs
_SANDBOXES: list[Any] = []


def secrets_in(text: str) -> list[str]:
    """Known secrets (tokens, codes, client secrets) that occur in text."""
    known = set(KNOWN_SECRETS)
    for box in _SANDBOXES:
        known |= set(box.issued_secrets())
    return sorted(s for s in known if len(s) >= 8 and s in text)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    root = logging.getLogger()
    previous = root.level
    root.addHandler(CAPTURE)
    root.setLevel(logging.DEBUG)
    logging.getLogger("tests").debug("log guard armed")
    yield
    root.removeHandler(CAPTURE)
    root.setLevel(previous)
    leaked = secrets_in("\n".join(CAPTURE.texts))
    assert "log guard armed" in CAPTURE.texts, "the log guard is not wired to the root logger"
    assert not leaked, f"{len(leaked)} token(s) or client secret(s) appeared in captured logs"


# -- Azurite ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A fresh in-memory Azurite on free ports, started and stopped by the tests; yields its connection string."""
    with Azurite() as emulator:
        yield emulator.connection_string


def _wipe_storage(conn: str) -> None:
    tables = TableServiceClient.from_connection_string(conn)
    for table in tables.list_tables():
        tables.delete_table(table.name)
    blobs = BlobServiceClient.from_connection_string(conn)
    for container in blobs.list_containers():
        with contextlib.suppress(ResourceNotFoundError):
            blobs.delete_container(container.name)
    queues = QueueServiceClient.from_connection_string(conn)
    for queue in queues.list_queues():
        queues.delete_queue(queue.name)


# -- vendors ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox().start()
    _SANDBOXES.append(box)
    yield box
    box.stop()


# -- time ---------------------------------------------------------------------------------------------------
class FakeClock:
    """A monotonic clock the test moves by hand (the sandbox takes ``clock=``)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- the app's environment -------------------------------------------------------------------------------
@pytest.fixture
def app_env(
    azurite: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """App settings for a test: Azurite, the sandbox vendors, a local secret store. Storage starts empty."""
    _wipe_storage(azurite)
    sandbox.reset()
    for name in list(os.environ):
        if name.startswith(("AZURE_", "IDENTITY_", "MSI_", "KEY_VAULT", "AzureWebJobs")):
            monkeypatch.delenv(name, raising=False)
    env = {
        "AzureWebJobsStorage": azurite,
        "LOCAL_SECRETS_DIR": str(tmp_path / "secrets"),
        "ROTATE_SCHEDULE": "0 0 */6 * * *",
        "LOCK_LEASE_SECONDS": "15",
        "LOCK_WAIT_SECONDS": "60",
        "HTTP_TIMEOUT_SECONDS": "5",
        "VAULT_WRITE_RETRY_SECONDS": "60",
        # the sandbox's rate limits are off unless a test turns them on; so are ours
        "WHOOP_RATE_LIMITS": "none",
        "FITBIT_RATE_LIMITS": "none",
        "PULL_SPREAD_MINUTES": "0",  # the hourly pull's messages visible at once (tests/test_sweep.py tests the spread)
        **sandbox.settings_env(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app_context.reset_context()
    yield env
    app_context.reset_context()


@pytest.fixture
def ctx(app_env: dict[str, str]) -> AppContext:
    context = AppContext(load_settings(app_env))
    context.ensure_resources()
    return context


@pytest.fixture
def seed(request: pytest.FixtureRequest, sandbox: Sandbox) -> Any:
    """Connect a user at the sandbox and store the connection as the OAuth callback would, in the test's
    context (``kv_ctx`` when the test uses Key Vault, else ``ctx``).
    ``expired=True`` stores the pair with an access token that has already expired."""
    ctx: AppContext = request.getfixturevalue("kv_ctx" if "kv_ctx" in request.fixturenames else "ctx")
    from dataclasses import replace

    from shared.connections import store_connection
    from shared.vendors import spec_for

    def make(vendor: str, user_id: str, expired: bool = False, context: AppContext | None = None) -> Any:
        context = context or ctx
        pair = spec_for(vendor).parse_token_response(sandbox.grant(vendor, user_id))
        if vendor == "whoop":
            pair = pair.with_user(sandbox.vendor_user_id(vendor, user_id))
        if expired:
            pair = replace(pair, expires_at=pair.obtained_at - 60, obtained_at=pair.obtained_at - 7 * 3600)
        store_connection(context.vault, context.registry, vendor, user_id, pair)
        return pair

    return make


# -- Key Vault on loopback ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def keyvault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Key Vault-compatible HTTPS server and a managed-identity endpoint, both on loopback."""
    from sandbox.identity import IdentityEndpoint
    from sandbox.keyvault import KeyVaultServer

    identity = IdentityEndpoint().start()
    vault = KeyVaultServer(identity=identity, certdir=tmp_path_factory.mktemp("kv-tls")).start()
    _SANDBOXES.append(_IdentitySecrets(identity))
    yield vault
    vault.stop()
    identity.stop()


class _IdentitySecrets:
    def __init__(self, identity: Any) -> None:
        self.identity = identity

    def issued_secrets(self) -> set[str]:
        return set(self.identity.issued_tokens)


@pytest.fixture
def kv_env(app_env: dict[str, str], keyvault: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """App settings with Key Vault (through DefaultAzureCredential and managed identity) as the store."""
    keyvault.clear_faults()
    keyvault.write_limit = None
    env = dict(app_env)
    env.pop("LOCAL_SECRETS_DIR")
    monkeypatch.delenv("LOCAL_SECRETS_DIR")
    extra = {"KEY_VAULT_URL": keyvault.url, "REQUESTS_CA_BUNDLE": str(keyvault.cafile), **keyvault.identity.env()}
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    env.update(extra)
    app_context.reset_context()
    return env


@pytest.fixture
def kv_ctx(kv_env: dict[str, str]) -> AppContext:
    context = AppContext(load_settings(kv_env))
    context.ensure_resources()
    return context
