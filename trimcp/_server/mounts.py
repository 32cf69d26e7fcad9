"""Servers mounted in another (``server.mount(other, prefix="notes")``): the other's tools and
prompts appear as ``notes_<name>``, its resources and templates as ``<scheme>://notes/<rest>``,
live (what it registers later appears too), each a renamed copy of the original."""

from __future__ import annotations

import copy
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .resources import UriTemplate

if TYPE_CHECKING:
    from .server import Server

T = TypeVar("T")
Kind = Literal["tools", "prompts", "resources", "resource_templates"]


def prefixed_uri(prefix: str, uri: str) -> str:
    """``scheme://rest`` as ``scheme://prefix/rest`` (``prefix/uri`` without a scheme)."""
    scheme, separator, rest = uri.partition("://")
    return f"{scheme}://{prefix}/{rest}" if separator else f"{prefix}/{uri}"


class Mount:
    """One mounted server and its prefix."""

    def __init__(self, server: Server, prefix: str) -> None:
        self.server = server
        self.prefix = prefix
        self._copies: dict[tuple[int, str], Any] = {}

    def outer_key(self, kind: Kind, key: str) -> str:
        if kind in ("tools", "prompts"):
            return f"{self.prefix}_{key}"
        return prefixed_uri(self.prefix, key)

    def inner_key(self, kind: Kind, key: str) -> str | None:
        """The mounted server's own key for ``key`` as the parent sees it, or ``None``."""
        if kind in ("tools", "prompts"):
            return key[len(self.prefix) + 1 :] if key.startswith(self.prefix + "_") else None
        scheme, separator, rest = key.partition("://")
        head = f"{self.prefix}/"
        if separator:
            return f"{scheme}://{rest[len(head) :]}" if rest.startswith(head) else None
        return key[len(head) :] if key.startswith(head) else None

    def renamed(self, kind: Kind, key: str, original: Any) -> Any:
        """A copy of ``original`` named ``key`` (made once per original)."""
        cache_key = (id(original), key)
        found = self._copies.get(cache_key)
        if found is not None and found[0] is original:
            return found[1]
        renamed = copy.copy(original)
        if kind in ("tools", "prompts"):
            renamed.name = key
            if hasattr(renamed, "_definitions"):
                renamed._definitions = {}
        elif kind == "resources":
            renamed.uri = key
        else:
            renamed.uri_template = UriTemplate(key)
        self._copies[cache_key] = (original, renamed)
        return renamed


class Registry(MutableMapping[str, T]):
    """A server's tools (prompts, resources, templates): its own, then those of the servers
    mounted in it under their prefixes. Writes change its own."""

    def __init__(self, kind: Kind) -> None:
        self.kind: Kind = kind
        self.own: dict[str, T] = {}
        self.mounts: list[Mount] = []

    def get(self, key: str, default: Any = None) -> Any:  # the hot path of every call: no exception
        found = self.own.get(key)
        if found is not None or not self.mounts:
            return default if found is None else found
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: str) -> T:
        found = self.own.get(key)
        if found is not None:
            return found
        for mount in self.mounts:
            inner = mount.inner_key(self.kind, key)
            if inner is not None:
                original = getattr(mount.server, self.kind).get(inner)
                if original is not None:
                    return mount.renamed(self.kind, key, original)
        raise KeyError(key)

    def __setitem__(self, key: str, value: T) -> None:
        self.own[key] = value

    def __delitem__(self, key: str) -> None:
        del self.own[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.own
        for mount in self.mounts:
            for inner in getattr(mount.server, self.kind):
                yield mount.outer_key(self.kind, inner)

    def __len__(self) -> int:
        return len(self.own) + sum(len(getattr(mount.server, self.kind)) for mount in self.mounts)

    def __bool__(self) -> bool:
        return bool(self.own) or any(getattr(mount.server, self.kind) for mount in self.mounts)
