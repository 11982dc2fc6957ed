"""The registry of vendor packages: every sub-package of ``shared.vendors`` that defines ``VENDOR`` is a vendor.
A new vendor is a new package; nothing here or in an engine changes. Packages are imported on first use, once."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType

from shared.vendors.contract import Vendor

# the vendor packages sit beside this module (found by path, so the registry never imports its own package)
_PACKAGE_DIR = Path(__file__).parent
_PACKAGE = __name__.rpartition(".")[0]


@cache
def vendors() -> Mapping[str, Vendor]:
    """Every registered vendor by name, in name order."""
    found: dict[str, Vendor] = {}
    for info in sorted(pkgutil.iter_modules([str(_PACKAGE_DIR)]), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{_PACKAGE}.{info.name}")
        vendor = getattr(module, "VENDOR", None)
        if not isinstance(vendor, Vendor):
            raise TypeError(f"shared/vendors/{info.name}/ does not define VENDOR = Vendor(...)")
        if vendor.name != info.name:
            raise ValueError(f"shared/vendors/{info.name}/ names itself {vendor.name!r}: the package name is the name")
        found[vendor.name] = vendor
    return MappingProxyType(found)


def names() -> tuple[str, ...]:
    return tuple(vendors())


def vendor_for(name: str) -> Vendor:
    """The vendor called ``name``; KeyError naming the known ones otherwise."""
    try:
        return vendors()[name]
    except KeyError:
        raise KeyError(f"unknown vendor {name!r}; known: {', '.join(names())}") from None
