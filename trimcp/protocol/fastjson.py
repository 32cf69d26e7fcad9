"""orjson (``trimcp[fast]``), used only where its result is certainly the standard library's.

Each function answers ``None`` (:data:`UNDECIDED` when decoding) when orjson is not installed,
refuses the value, or could give something else than :mod:`json` would; the caller then does
it the standard way. So what trimcp sends and reads does not depend on the extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - the extra is installed in CI
    orjson = None

#: Whether orjson is there (tests turn it off to compare both ways).
enabled = orjson is not None
#: What :func:`decode` answers when the standard library must decide.
UNDECIDED: Any = object()

# Subclasses, dataclasses and dates go to ``default`` (or are refused): what they become is
# the caller's rule, not orjson's.
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    if orjson is not None
    else 0
)
#: A float orjson writes otherwise than Python (``1e-7`` for ``1e-07``).
_SHORT_EXPONENT = re.compile(rb"e-[0-9](?![0-9])")
#: Every digit as ``0``: a run of 19 is a number orjson may read otherwise (an integer beyond
#: 64 bits becomes a float there).
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_NUMBER = b"0" * 19


def encode(value: Any, default: Callable[[Any], Any] | None = None) -> bytes | None:
    """Compact UTF-8 JSON of ``value`` as ``json.dumps(separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)`` writes it (``default`` turning what JSON does not
    know into what it does), or ``None``: orjson refused it (lone surrogates, integers beyond
    64 bits, keys that are not strings, nesting deeper than 254, what ``default`` refused), or
    its bytes could differ: ``null`` (orjson writes a NaN or an infinity so; trimcp refuses
    them), or a float below 1e-4 (``1e-7``, ``0.00001``: Python writes ``1e-07``, ``1e-05``).
    A false alarm costs one more encoding. The one leniency: a plain Enum or a UUID is
    written as its value, where the standard library raises ``TypeError``."""
    if not enabled:
        return None
    try:
        data = orjson.dumps(value, default=default, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return None
    if b"null" in data or b"0.0000" in data or (b"e-" in data and _SHORT_EXPONENT.search(data)):
        return None
    return data


def decode(data: bytes) -> Any:
    """``data`` decoded as ``json.loads`` decodes it, or :data:`UNDECIDED`: orjson refused it
    (invalid JSON or UTF-8, ``NaN``, ``1e400``, an escaped lone surrogate) or it holds a
    number of 19 digits or more, which orjson could read otherwise."""
    if not enabled or _LONG_NUMBER in data.translate(_DIGITS_AS_ZERO):
        return UNDECIDED
    try:
        return orjson.loads(data)
    except ValueError:  # orjson.JSONDecodeError
        return UNDECIDED
