"""What each vendor documents, written down for the acceptance kit: one module per registered vendor,
``tests/vendors/facts/<name>.py``, defining ``FACTS = VendorFacts(...)``.

Facts are taken from the vendor's own reference (its spec file under ``../shared/reference/specs/``, and
``../shared/reference/vendors.md``), never from the package under test: the kit checks the package against them.
A registered vendor without a facts module fails the kit.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.vendors import FailureKind


@dataclass(frozen=True)
class ErrorRow:
    """One answer of the vendor's token endpoint and how wearsync must read it.

    ``body``: the answer's JSON value, or a ``str`` sent as it is (a proxy's HTML page). ``code``: the
    ``VendorError.code`` expected (the vendor's machine-readable error code, or ``http_<status>`` where the status
    decides). ``retry_after``: the seconds to wait that ``headers`` announce, when they announce any."""

    status: int
    body: object
    kind: FailureKind
    code: str
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None

    @property
    def id(self) -> str:
        return f"{self.status}-{self.code}"


@dataclass(frozen=True)
class VendorFacts:
    """One vendor's documented OAuth and notification facts.

    - ``source``: where these facts come from (a spec file, a reference section).
    - ``client_auth``: how the token endpoint authenticates the client: ``basic`` (RFC 6749 §2.3.1 HTTP Basic,
      id and secret form-urlencoded first) or ``body`` (``client_id`` and ``client_secret`` in the form).
    - ``exchange_fields`` / ``refresh_fields``: exactly the form fields of a code exchange and of a refresh (client
      fields included where the vendor wants them in the form). The kit knows the value of ``grant_type``,
      ``code``, ``redirect_uri``, ``code_verifier``, ``refresh_token``, ``scope``, ``client_id`` and
      ``client_secret``; any other field's value is given in ``fixed_values``.
    - ``scope_separator``: how scopes are joined in the authorize request and in a refresh's ``scope``.
    - ``pkce``: the authorize request carries an S256 ``code_challenge`` and the exchange its ``code_verifier``.
    - ``errors``: token-endpoint answers and their classification.
    - ``revokes``: the vendor has a way to revoke a grant, so a disconnect revokes it there.
    - ``placeholder_types``: data types whose API answers one entry for every date asked, a placeholder (a zero) on
      a day without data, before the user's history among them; nothing tells a placeholder from a day without
      data, so each is landed as sent: the kit expects one per day of the window before the user's history.
    - ``notified_types``: the data types the vendor's notifications name.
    - ``refused_status``: the status a notification with a bad signature is answered with (``None``: the vendor
      signs nothing).
    """

    source: str
    client_auth: Literal["basic", "body"]
    exchange_fields: frozenset[str]
    refresh_fields: frozenset[str]
    pkce: bool
    errors: tuple[ErrorRow, ...]
    revokes: bool
    scope_separator: str = " "
    fixed_values: Mapping[str, str] = field(default_factory=dict)
    placeholder_types: frozenset[str] = frozenset()
    notified_types: tuple[str, ...] = ()
    refused_status: int | None = None


class NoFacts(LookupError):
    """A registered vendor has no facts module."""


def facts_for(vendor: str) -> VendorFacts:
    """The facts of ``vendor`` from ``tests/vendors/facts/<vendor>.py``; ``NoFacts`` when there is none."""
    name = f"{__name__}.{vendor}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as missing:
        if missing.name != name:
            raise
        hint = f"add tests/vendors/facts/{vendor}.py (FACTS = VendorFacts(...))"
        raise NoFacts(f"vendor {vendor!r} has no facts: {hint}") from None
    facts = getattr(module, "FACTS", None)
    if not isinstance(facts, VendorFacts):
        raise NoFacts(f"tests/vendors/facts/{vendor}.py does not define FACTS = VendorFacts(...)")
    return facts
