"""Argument types the command line shares: a name the app does not know is a usage error naming the known
ones, not an empty result ("no connections", "nothing to pull") that hides a typo."""

from __future__ import annotations

import argparse

from shared.settings import VENDOR_NAMES


def vendor_name(value: str) -> str:
    """``--vendor``: one of the vendors wearsync has an adapter for (enabled or not)."""
    name = value.strip().lower()
    if name not in VENDOR_NAMES:
        raise argparse.ArgumentTypeError(f"unknown vendor {value!r}; known vendors: {', '.join(VENDOR_NAMES)}")
    return name
