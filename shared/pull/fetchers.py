"""The data side of each vendor (one module per vendor under ``shared/pull/``)."""

from __future__ import annotations

from collections.abc import Mapping

from shared.pull.codoon import CODOON
from shared.pull.fitbit import FITBIT
from shared.pull.model import Fetcher
from shared.pull.whoop import WHOOP

FETCHERS: Mapping[str, Fetcher] = {"whoop": WHOOP, "fitbit": FITBIT, "codoon": CODOON}


def fetcher_for(vendor: str) -> Fetcher:
    try:
        return FETCHERS[vendor]
    except KeyError:
        raise KeyError(f"unknown vendor {vendor!r}") from None
