"""What tools, prompts, resources and resource templates share: the function behind each, and
how it is presented to clients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..protocol.auth import Principal, missing_scopes
from ..protocol.lifecycle import Feature, carries
from .functions import FunctionSpec, description_of


class Offering:
    """Something a server offers, backed by a function: its ``spec`` (parameters, schema,
    calling) and its presentation (``name``, defaulting to the function's; ``title``;
    ``description``, defaulting to the docstring; ``icons``; ``meta``) and the ``scopes`` a
    caller needs for it. Subclasses take their
    own options and pass these (and ``localns``, for resolving type hints) through.

    Raises ``TypeError`` (from :class:`FunctionSpec`) for a function clients cannot call."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        what: str,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        scopes: Sequence[str] = (),
        localns: dict[str, Any] | None = None,
        dependencies: tuple[type, ...] = (),
    ) -> None:
        self.spec = FunctionSpec(fn, what=what, localns=localns, dependencies=dependencies)
        #: The OAuth scopes a caller needs to see and use it (HTTP with authentication).
        self.scopes = tuple(scopes)
        self.name = name or fn.__name__
        self.title = title
        self.description = description if description is not None else description_of(fn)
        self.icons = icons
        self.meta = meta

    def allows(self, principal: Principal | None) -> bool:
        """Whether ``principal`` may see and use it (``None``: no authentication, everyone)."""
        return principal is None or not missing_scopes(principal.scopes, self.scopes)

    def presented(self, version: str | None) -> dict[str, Any]:
        """The title, icons and ``_meta`` of a listing entry, as far as ``version`` carries them."""
        extra: dict[str, Any] = {}
        if self.title is not None and carries(version, Feature.TITLES):
            extra["title"] = self.title
        if self.icons and carries(version, Feature.ICONS):
            extra["icons"] = self.icons
        if self.meta and carries(version, Feature.META_ON_LISTINGS):
            extra["_meta"] = self.meta
        return extra
