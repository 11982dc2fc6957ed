"""Azure Key Vault secret store, through the real SDK with DefaultAzureCredential (managed identity).

Key Vault's rules handled here: names ``[0-9A-Za-z-]`` (the caller builds them), throttling (429) and
outages (5xx) surfaced as TransientStoreError for the caller's retry loop (azure-core already retries a
few times), and soft-deleted names, which cannot be re-created: they are recovered, then written.

A write refused for any reason but a malformed request (400) is transient too: a 403 ``ForbiddenByRbac`` is
what a role assignment that has not propagated yet looks like, and a 401 a credential that is being fixed; the
new pair must be retried, never dropped. Reads keep the narrower rule (a 403 on a disabled secret is "absent").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from shared.vault.base import StoredSecret, TransientStoreError

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/json"


def _error_code(error: HttpResponseError) -> str:
    """Key Vault's inner error code (e.g. ObjectIsDeletedButRecoverable), else its error code."""
    odata = getattr(error, "error", None)
    inner = getattr(odata, "innererror", None) or {}
    return str(inner.get("code") or getattr(odata, "code", None) or "")


def _is_transient(error: HttpResponseError) -> bool:
    return error.status_code in (408, 429) or (error.status_code or 0) >= 500


class KeyVaultStore:
    def __init__(self, vault_url: str, credential: TokenCredential | None = None, pool_size: int = 64) -> None:
        # a pool as large as the number of rotations that may run at once, so connections are reused
        session = requests.Session()
        session.mount("https://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
        self.client = SecretClient(
            vault_url,
            credential or DefaultAzureCredential(),
            transport=RequestsTransport(session=session, session_owner=False),
        )

    def get(self, name: str) -> StoredSecret | None:
        try:
            secret = self.client.get_secret(name)
        except ResourceNotFoundError:
            return None
        except HttpResponseError as error:
            if error.status_code == 403 and "disabled" in str(error.message or "").lower():
                return None
            if _is_transient(error):
                raise TransientStoreError(f"Key Vault read failed: HTTP {error.status_code}") from None
            raise
        except (ServiceRequestError, ServiceResponseError) as error:
            raise TransientStoreError(f"Key Vault unreachable: {type(error).__name__}") from None
        if secret.properties.enabled is False:
            return None
        return StoredSecret(secret.value or "", secret.properties.version or "", True)

    def set(self, name: str, value: str, tags: Mapping[str, str]) -> str:
        for attempt in range(10):
            try:
                secret = self.client.set_secret(name, value, content_type=CONTENT_TYPE, tags=dict(tags), enabled=True)
                return secret.properties.version or ""
            except ResourceExistsError as error:
                code = _error_code(error)
                if code == "ObjectIsBeingRecovered":
                    time.sleep(min(0.5 * 2**attempt, 5.0))
                    continue
                log.warning("secret name is soft-deleted, recovering it before writing secret=%s", name)
                self.client.begin_recover_deleted_secret(name).wait()
            except HttpResponseError as error:
                if error.status_code == 400:  # our request is malformed: retrying the same write cannot help
                    raise
                code = _error_code(error)
                raise TransientStoreError(
                    f"Key Vault write failed: HTTP {error.status_code}" + (f" {code}" if code else ""),
                    throttled=error.status_code == 429,
                ) from None
            except (ServiceRequestError, ServiceResponseError) as error:
                raise TransientStoreError(f"Key Vault unreachable: {type(error).__name__}") from None
        raise TransientStoreError("Key Vault secret is still being recovered")

    def disable(self, name: str) -> None:
        try:
            self.client.update_secret_properties(name, enabled=False)
        except ResourceNotFoundError:
            return

    def names(self, prefix: str) -> Iterator[str]:
        for props in self.client.list_properties_of_secrets():
            if props.name and props.name.lower().startswith(prefix.lower()):
                yield props.name
