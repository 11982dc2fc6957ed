"""The vendors wearsync connects to: one package each (``shared/vendors/<name>/``), found by
``shared.vendors.registry``; ``contract.Vendor`` is what a package declares, ``base`` the OAuth machinery."""

from shared.vendors.base import FailureKind, VendorError, VendorSpec


def spec_for(vendor: str) -> VendorSpec:
    """The OAuth facts of a registered vendor (KeyError for an unknown one)."""
    from shared.vendors.registry import vendor_for

    return vendor_for(vendor).oauth


__all__ = ["FailureKind", "VendorError", "VendorSpec", "spec_for"]
