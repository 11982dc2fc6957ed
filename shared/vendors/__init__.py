"""The vendors wearsync connects to. Adding a vendor means adding one module and its tests."""

from shared.vendors import codoon, fitbit, whoop
from shared.vendors.base import FailureKind, VendorError, VendorSpec

SPECS: dict[str, VendorSpec] = {spec.name: spec for spec in (whoop.SPEC, fitbit.SPEC, codoon.SPEC)}


def spec_for(vendor: str) -> VendorSpec:
    try:
        return SPECS[vendor]
    except KeyError:
        raise KeyError(f"unknown vendor {vendor!r}") from None


__all__ = ["SPECS", "FailureKind", "VendorError", "VendorSpec", "spec_for"]
