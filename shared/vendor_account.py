"""Calls about a vendor account itself: who the user is at the vendor (and was at the vendor it succeeds), and
revoking our access."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from shared.settings import VendorSettings
from shared.tokens import TokenPair
from shared.vendors import FailureKind, VendorError, VendorSpec
from shared.vendors.base import basic_authorization

log = logging.getLogger(__name__)

_TOKEN_IN_QUERY = re.compile(r"((?:access_token|refresh_token|token)=)[^&\s\"]+")


class _NoTokenInUrl(logging.Filter):
    """Redacts a token in a URL's query from urllib3's request lines (a revoke by ``?access_token=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_NoTokenInUrl())


@dataclass(frozen=True)
class Identity:
    """Who the user is at the vendor (``profile_path``): its id, and the id the same person had at the vendor this
    one succeeds (None when the answer names none)."""

    user_id: str
    legacy_user_id: str | None = None


def fetch_identity(
    spec: VendorSpec, settings: VendorSettings, access_token: str, session: requests.Session, timeout: float
) -> Identity | None:
    """The user's identity from the profile endpoint (None: the vendor has none); read through the spec's
    ``profile_user_id`` and ``legacy_user_id``. Raises ``VendorError`` when the answer cannot be had."""
    if not spec.profile_path:
        return None
    try:
        response = session.get(
            settings.url("API_BASE_URL") + spec.profile_path,
            timeout=timeout,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
    except requests.RequestException:
        raise VendorError(spec.name, FailureKind.TRANSIENT, "profile_unreachable", outcome_unknown=True) from None
    if response.status_code != 200:
        raise spec.classify(response.status_code, None)
    try:
        body = response.json()
    except ValueError:
        body = None
    user_id = spec.profile_user_id(body) if isinstance(body, dict) else None
    if user_id in (None, ""):
        raise VendorError(spec.name, FailureKind.TRANSIENT, "profile_without_user_id", 200)
    legacy = spec.legacy_user_id(body) if isinstance(body, dict) else None
    return Identity(str(user_id), legacy or None)


def fetch_vendor_user_id(
    spec: VendorSpec, settings: VendorSettings, access_token: str, session: requests.Session, timeout: float
) -> str | None:
    """The vendor's id of the user, from the profile endpoint (for a vendor whose token response has none)."""
    identity = fetch_identity(spec, settings, access_token, session, timeout)
    return None if identity is None else identity.user_id


def revoke(
    spec: VendorSpec, settings: VendorSettings, pair: TokenPair, session: requests.Session, timeout: float
) -> bool:
    """Revoke our access at the vendor where it has a revoke endpoint. True when the vendor confirmed."""
    try:
        if spec.revoke_style == "rfc7009":
            response = session.post(
                settings.url("REVOKE_URL"),
                data={"token": pair.refresh_token},
                headers={"Authorization": basic_authorization(settings.client_id, settings.client_secret)},
                timeout=timeout,
            )
        elif spec.revoke_style == "access_token_query":
            response = session.get(
                settings.url("REVOKE_URL"), params={"access_token": pair.access_token}, timeout=timeout
            )
        elif spec.revoke_style == "bearer_delete":
            response = session.delete(
                settings.url("API_BASE_URL") + spec.revoke_path,
                timeout=timeout,
                headers={"Authorization": f"Bearer {pair.access_token}"},
            )
        elif spec.revoke_style == "signed":
            poster = _form_poster(settings, session, timeout)
            confirmed = spec.revoke_signed(pair, settings.client_id, settings.client_secret, poster)
            log.info("revoke vendor=%s signed confirmed=%s", spec.name, confirmed)
            return confirmed
        else:
            return False
    except requests.RequestException as error:
        log.warning("revoke failed vendor=%s error=%s", spec.name, type(error).__name__)
        return False
    confirmed = 200 <= response.status_code < 300
    log.info("revoke vendor=%s status=%s confirmed=%s", spec.name, response.status_code, confirmed)
    return confirmed


def _form_poster(
    settings: VendorSettings, session: requests.Session, timeout: float
) -> Callable[[str, Mapping[str, str]], Any]:
    """``post(path under API_BASE_URL, form) -> parsed JSON answer`` (None when it is not JSON)."""
    base = settings.url("API_BASE_URL").rstrip("/")

    def post(path: str, form: Mapping[str, str]) -> Any:
        response = session.post(base + path, data=dict(form), headers={"Accept": "application/json"}, timeout=timeout)
        try:
            return response.json()
        except ValueError:
            return None

    return post
