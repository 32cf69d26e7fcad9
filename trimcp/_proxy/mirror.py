"""Keeping the proxy's registries equal to the upstream's lists: listed once at start, listed
again when the upstream says a list changed (the proxy's clients are then told), and the
upstream's resource updates passed on to the proxy's subscribers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import trio

from .._client import Client, ClientError
from .._server.completions import Completer, Completion
from .._server.resources import UriTemplate
from .._server.server import Server
from ..protocol.errors import RequestFailed
from ..protocol.versions import Era
from .offerings import ProxiedPrompt, ProxiedResource, ProxiedTemplate, ProxiedTool, Upstream
from .routing import Routes

logger = logging.getLogger("trimcp.proxy")

#: Which list a change notification is about.
LIST_CHANGED = {
    "notifications/tools/list_changed": "tools",
    "notifications/prompts/list_changed": "prompts",
    "notifications/resources/list_changed": "resources",
}
#: Per registry: the client method listing it, the listing's key, and the offering made of an entry.
_KINDS: dict[str, tuple[str, str, Callable[[Upstream, dict[str, Any]], Any]]] = {
    "tools": ("list_tools", "name", ProxiedTool),
    "prompts": ("list_prompts", "name", ProxiedPrompt),
    "resources": ("list_resources", "uri", ProxiedResource),
    "resource_templates": ("list_resource_templates", "uriTemplate", ProxiedTemplate),
}
_RELISTEN_DELAY = 1.0


class Mirror:
    """The upstream's offerings in ``server``: owns the entries it registered (never one the
    proxy's author registered under the same name), the completers forwarding to the upstream,
    and the upstream resource subscriptions."""

    def __init__(self, server: Server, routes: Routes) -> None:
        self.server = server
        self.routes = routes
        self.upstream: Upstream | None = None
        self.owned: dict[str, set[str]] = {kind: set() for kind in _KINDS}
        self._completers: set[tuple[str, str, str]] = set()
        self._stale: set[str] = set()
        self._wake = trio.Event()
        self._watched: frozenset[str] = frozenset()
        self._relisten = trio.CancelScope()

    async def on_message(self, message: dict[str, Any]) -> None:
        """The upstream client's message handler: log messages go to their request's client,
        list changes mark the list stale, resource updates reach the proxy's subscribers."""
        method = message.get("method")
        params = message.get("params") if type(message.get("params")) is dict else {}
        if method == "notifications/message":
            await self.routes.log(params)
        elif method in LIST_CHANGED:
            self._stale.add(LIST_CHANGED[method])
            self._wake.set()
        elif method == "notifications/resources/updated" and type(params.get("uri")) is str:
            await self.server.notify_resource_updated(params["uri"])

    async def start(self, client: Client, nursery: trio.Nursery) -> None:
        """List everything once, then keep it in sync in tasks of ``nursery``. Raises what
        the client raises when the first listing fails."""
        self.upstream = Upstream(client, self.routes)
        for kind in ("tools", "prompts", "resources"):
            await self._sync(kind)
        nursery.start_soon(self._keep_in_sync)
        if client.era is Era.PER_REQUEST:
            nursery.start_soon(self._listen, client)

    def clear(self) -> None:
        """Remove everything this mirror registered (the proxy's clients are told)."""
        for kind, keys in self.owned.items():
            registry = getattr(self.server, kind)
            for key in keys:
                del registry[key]
        for key in self._completers:
            del self.server.completers[key]
        self.server.notify_tools_changed()
        self.server.notify_prompts_changed()
        self.server.notify_resources_changed()

    async def _keep_in_sync(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            stale, self._stale = self._stale, set()
            for kind in sorted(stale):
                try:
                    await self._sync(kind)
                except (ClientError, RequestFailed) as exc:
                    logger.warning("cannot list the upstream's %s again: %s", kind, exc)

    async def _sync(self, kind: str) -> None:
        """List ``kind`` (``resources`` includes templates) when the upstream offers it and
        make the server's registry match; tell the proxy's clients when it changed."""
        assert self.upstream is not None
        client = self.upstream.client
        if kind not in client.server_capabilities:
            return
        registries = ("resources", "resource_templates") if kind == "resources" else (kind,)
        changed = False
        for registry_name in registries:
            changed |= self._replace(registry_name, await getattr(client, _KINDS[registry_name][0])())
        if kind != "tools" and "completions" in client.server_capabilities:
            self._forward_completions()
        if kind == "resources":
            await self._watch_resources()
        if changed:
            {"tools": self.server.notify_tools_changed, "prompts": self.server.notify_prompts_changed}.get(
                kind, self.server.notify_resources_changed
            )()

    def _replace(self, kind: str, listing: list[dict[str, Any]]) -> bool:
        """Make ``kind``'s entries match ``listing``; whether anything changed."""
        assert self.upstream is not None
        _, key_name, make = _KINDS[kind]
        registry = getattr(self.server, kind)
        owned = self.owned[kind]
        wanted = {entry[key_name]: entry for entry in listing if type(entry.get(key_name)) is str}
        changed = False
        for key in owned - wanted.keys():
            del registry[key]
            owned.discard(key)
            changed = True
        for key, entry in wanted.items():
            if key in owned and registry[key].source == entry:
                continue
            if key not in owned and key in registry:
                logger.warning("the proxy's own %s %r hides the upstream's", kind, key)
                continue
            try:
                registry[key] = make(self.upstream, entry)
            except (TypeError, ValueError, KeyError) as exc:
                logger.warning("cannot offer the upstream's %s %r: %s", kind, key, exc)
                continue
            owned.add(key)
            changed = True
        return changed

    def _forward_completions(self) -> None:
        """A completer forwarding to the upstream for every argument of its prompts and
        every variable of its templates (replacing the previous set)."""
        assert self.upstream is not None
        for key in self._completers:
            del self.server.completers[key]
        wanted: set[tuple[str, str, str]] = set()
        for name in self.owned["prompts"]:
            for argument in self.server.prompts[name].arguments:
                if type(argument.get("name")) is str:
                    wanted.add(("ref/prompt", name, argument["name"]))
        for template in self.owned["resource_templates"]:
            wanted.update(("ref/resource", template, variable) for variable in UriTemplate(template).variables)
        for key in wanted:
            self.server.completers[key] = _completer(self.upstream.client, *key)
        self._completers = wanted

    async def _watch_resources(self) -> None:
        """Subscribe to the upstream's resources (when it takes subscriptions): one by one in
        the handshake era, by listening again in 2026-07-28."""
        assert self.upstream is not None
        client = self.upstream.client
        resources = client.server_capabilities.get("resources")
        if type(resources) is not dict or not resources.get("subscribe"):
            return
        wanted = frozenset(self.owned["resources"])
        before, self._watched = self._watched, wanted
        if client.era is Era.PER_REQUEST:
            if wanted != before:
                self._relisten.cancel()
            return
        for uri in sorted(wanted - before):
            with contextlib.suppress(RequestFailed):
                await client.subscribe_resource(uri)
        for uri in sorted(before - wanted):
            with contextlib.suppress(RequestFailed):
                await client.unsubscribe_resource(uri)

    async def _listen(self, client: Client) -> None:
        """2026-07-28: hold a ``subscriptions/listen`` for the lists and the watched resources
        (its notifications reach :meth:`on_message`), opened again when the watched set
        changes or the upstream ends it. Gives up, with a warning, when the upstream refuses."""
        capabilities = client.server_capabilities
        while True:
            self._relisten = trio.CancelScope()
            with self._relisten:
                try:
                    async with client.listen(
                        tools="tools" in capabilities,
                        resources="resources" in capabilities,
                        prompts="prompts" in capabilities,
                        resource_uris=sorted(self._watched),
                    ) as subscription:
                        async for _ in subscription:
                            pass  # each notification reached on_message as it arrived
                except (RequestFailed, ClientError) as exc:
                    logger.warning("the upstream does not send change notifications: %s", exc)
                    return
            if not self._relisten.cancelled_caught:
                await trio.sleep(_RELISTEN_DELAY)


def _completer(client: Client, ref_type: str, target: str, argument: str) -> Completer:
    """A completer asking the upstream to complete ``argument`` of a prompt or template."""
    ref = {"type": ref_type, "name" if ref_type == "ref/prompt" else "uri": target}

    async def complete(value: str, arguments: dict[str, str]) -> Completion:
        try:
            found = await client.complete(ref, argument, value, arguments or None)
        except (RequestFailed, ClientError) as exc:
            logger.debug("the upstream cannot complete %s: %s", argument, exc)
            return Completion([])
        return Completion(list(found.get("values") or []), found.get("total"), found.get("hasMore"))

    return Completer(complete)
