"""A vendor that retired its API (HTTP 410 Gone) and the vendor that succeeds it (``Vendor.succeeds``): who
succeeds whom, and the reason a retired connection shows. Names no vendor: it reads the packages."""

from __future__ import annotations

from shared.vendors.registry import vendor_for, vendors


def successor_of(vendor: str) -> str | None:
    """The registered vendor whose ``succeeds`` names ``vendor`` (None: no successor)."""
    return next((name for name, parts in vendors().items() if parts.succeeds == vendor), None)


def title(vendor: str) -> str:
    try:
        return vendor_for(vendor).title
    except KeyError:
        return vendor


def retired_reason(vendor: str, where: str) -> str:
    """``last_error`` of a connection whose vendor answered 410 on ``where`` ("token endpoint", "data call"):
    why, and what to do. Never holds a token or a vendor message."""
    text = (
        f"vendor_retired: {title(vendor)} answers HTTP 410 Gone on its {where}: the vendor has turned this API off, "
        "so the connection can no longer be refreshed or pulled; its landed history stays"
    )
    successor = successor_of(vendor)
    if successor is None:
        return text + "; nothing more can be pulled from this vendor"
    return (
        text + f"; the user must connect {title(successor)} ({successor}): `python -m shared status` lists a connect "
        "link, and the connection moves over when they do"
    )
