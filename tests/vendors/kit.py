"""The acceptance kit's shared parts: the registered vendors (every check is parametrized over them, so a new
vendor package is picked up with no change here), their facts, the one list of units a curated mapping may emit,
and the connect flow as a user goes through it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest

from sandbox.core import RecordedRequest
from shared.curated.base import UNITS
from shared.vendors.registry import names
from tests.host import callback, confirm, confirm_code, connect_link, consent
from tests.vendors.facts import NoFacts, VendorFacts, facts_for

VENDORS: tuple[str, ...] = names()

ALLOWED_UNITS = UNITS  # the one list, in shared/curated/base.py


def vendor_params() -> list[Any]:
    return [pytest.param(vendor, id=vendor) for vendor in VENDORS]


def facts(vendor: str) -> VendorFacts:
    """The vendor's facts; a registered vendor without them fails the check that asked."""
    try:
        return facts_for(vendor)
    except NoFacts as missing:
        pytest.fail(str(missing))


def facts_or_none(vendor: str) -> VendorFacts | None:
    try:
        return facts_for(vendor)
    except NoFacts:
        return None


def header(request: RecordedRequest, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in request.headers.items() if key.lower() == wanted), None)


@dataclass(frozen=True)
class Connected:
    """A user connected through the whole flow: the callback's parameters and the product's confirmation."""

    vendor: str
    user_id: str
    callback: Mapping[str, str]
    answer: func.HttpResponse


def connect_user(vendor: str, user_id: str) -> Connected:
    """Open the connect link in a browser, consent at the twin as ``user_id``, come back, and confirm."""
    params = consent(connect_link(vendor, user_id), user_id)
    response = callback(vendor, params)
    code = confirm_code(response)
    assert code is not None, f"{vendor} callback answered {response.status_code}: {response.get_body()[:300]!r}"
    answer = confirm(code, user_id)
    assert answer.status_code == 200, answer.get_body()
    return Connected(vendor, user_id, dict(params), answer)


def grants(requests: list[RecordedRequest], grant_type: str) -> Iterator[RecordedRequest]:
    return (r for r in requests if r.form.get("grant_type") == grant_type)
