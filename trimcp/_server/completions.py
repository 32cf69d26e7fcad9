"""Argument completion for prompts and resource templates (``completion/complete``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio

from .context import Context
from .functions import FunctionSpec

#: The most values one completion result may carry.
MAX_VALUES = 100


@attrs.frozen
class Completion:
    """What a completer may return instead of a plain list, to state ``total``/``hasMore``."""

    values: list[str]
    total: int | None = None
    has_more: bool | None = None


class Completer:
    """A function suggesting values for one argument. It is called with the keyword arguments
    it declares among ``value`` (the text typed so far) and ``arguments`` (the values already
    chosen for the other arguments), plus a ``Context`` if it asks for one."""

    def __init__(self, fn: Callable[..., Any], localns: dict[str, Any] | None = None) -> None:
        self.spec = FunctionSpec(fn, what="completer", localns=localns)
        unknown = set(self.spec.parameters) - {"value", "arguments"}
        if unknown:
            raise TypeError(f"completer {fn.__name__!r}: unexpected parameters {sorted(unknown)}")

    async def complete(
        self, value: str, arguments: dict[str, str], context: Context, limiter: trio.CapacityLimiter
    ) -> dict[str, Any]:
        offered = {"value": value, "arguments": arguments}
        kwargs = {name: offered[name] for name in self.spec.parameters}
        return completion_result(await self.spec.call(kwargs, context, limiter))


def completion_result(found: Any) -> dict[str, Any]:
    """The ``completion`` object: at most 100 values, with ``total`` and ``hasMore`` kept true."""
    if isinstance(found, Completion):
        values, total, has_more = list(found.values), found.total, found.has_more
    else:
        values, total, has_more = list(found or ()), None, None
    if len(values) > MAX_VALUES:
        total = total if total is not None else len(values)
        values, has_more = values[:MAX_VALUES], True
    completion: dict[str, Any] = {"values": [str(v) for v in values]}
    if total is not None:
        completion["total"] = total
    if has_more is not None:
        completion["hasMore"] = has_more
    return completion


def choices_from_schema(schema: dict[str, Any], value: str) -> dict[str, Any] | None:
    """Completion from a parameter's ``enum`` (``Literal``/``Enum`` types), filtered by prefix."""
    options = schema.get("enum")
    if options is None:
        return None
    prefix = value.lower()
    return completion_result([str(o) for o in options if str(o).lower().startswith(prefix)])
