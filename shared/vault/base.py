"""The secret store interface the token vault writes through: Key Vault in Azure, files in development."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class TransientStoreError(Exception):
    """The store did not answer, refused us for now or throttled us (429, 5xx, network; for writes also 401/403,
    e.g. a role assignment not yet propagated): retry later. ``throttled``: only a rate limit (429), which says
    the store works and admits writes at its own pace."""

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


@dataclass(frozen=True)
class StoredSecret:
    value: str = field(repr=False)
    version: str
    enabled: bool = True


class SecretStore(Protocol):
    def get(self, name: str) -> StoredSecret | None:
        """The latest version, or None when there is no such secret (or it is disabled)."""

    def set(self, name: str, value: str, tags: Mapping[str, str]) -> str:
        """Write a new version; return its version id. Raises TransientStoreError when worth retrying."""

    def disable(self, name: str) -> None:
        """Disable the latest version (the secret is kept for audit, never deleted)."""

    def names(self, prefix: str) -> Iterator[str]:
        """Names of the secrets starting with prefix."""
