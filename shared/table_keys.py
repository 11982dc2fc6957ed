"""Vendor-chosen strings as Azure Table keys.

Table PartitionKey and RowKey values may not hold ``/``, ``\\``, ``#``, ``?`` or control characters
(U+0000-U+001F, U+007F-U+009F), but vendors' ids may (an owner or subscription id ending in ``/``, say):
such ids are encoded where they become keys instead of being refused. ``table_key`` percent-encodes exactly those
characters and ``%`` itself (and, as ``%uXXXX``, a lone surrogate, which JSON can carry but no request can),
so it is injective and leaves every ordinary id (letters, digits, ``-._:@``...) unchanged: rows written before
this encoding existed keep their keys.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[%/\\#?\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"%{code:02X}" if code < 0x100 else f"%u{code:04X}"


def table_key(value: str) -> str:
    """``value`` as a valid PartitionKey/RowKey: the forbidden characters and ``%`` as ``%XX``."""
    return _UNSAFE.sub(_escape, value)
