"""The token pair a connection holds, and how it is stored (one JSON document per Key Vault secret)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class TokenPair:
    """An OAuth access/refresh token pair. repr() never shows a token."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    scope: tuple[str, ...] = ()
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    vendor_user_id: str | None = None
    obtained_at: float = field(default_factory=time.time)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        return self.expires_at - (time.time() if now is None else now) <= seconds

    def with_user(self, vendor_user_id: str | None) -> TokenPair:
        return self if vendor_user_id is None else replace(self, vendor_user_id=vendor_user_id)

    def to_json(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "scope": " ".join(self.scope),
                "token_type": self.token_type,
                "vendor_user_id": self.vendor_user_id,
                "obtained_at": self.obtained_at,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TokenPair:
        data: dict[str, Any] = json.loads(text)
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_at=float(data["expires_at"]),
            scope=tuple(str(data.get("scope") or "").split()),
            token_type=str(data.get("token_type") or "Bearer"),
            vendor_user_id=None if data.get("vendor_user_id") is None else str(data["vendor_user_id"]),
            obtained_at=float(data.get("obtained_at") or 0.0),
        )
