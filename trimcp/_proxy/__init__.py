"""``trimcp.proxy(target)``: a :class:`~trimcp.Server` serving another MCP server (a URL, a
command or a ``trimcp.Server``, any era) through trimcp, built on trimcp's own client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._client import Client, open_client
from .._server.server import Server
from .mirror import Mirror
from .routing import Routes

__all__ = ["proxy"]

#: What the proxy answers for its upstream itself: these ``open_client`` options are not taken.
_OWNED_OPTIONS = ("elicitation", "sampling", "roots", "message_handler")
#: Transports delivering every upstream message from one reader task.
_ONE_READER = ("stdio", "in-process", "sse")


def proxy(target: Any, *, name: str | None = None, **client_options: Any) -> Server:
    """A server offering ``target``'s tools, prompts, resources and templates as its own.

    Its lifespan opens one :func:`trimcp.open_client` to ``target`` (with ``client_options``:
    ``transport``, ``protocol_version``, ``headers``, ``auth``, ``timeout``…; ``log_level``
    defaults to ``"debug"`` so that every request's client gets the messages its own level
    lets through), lists everything, and keeps the lists in sync with the upstream's change
    notifications. Calls, reads, prompts and completions are forwarded with their progress,
    log messages and the upstream's questions (elicitation, sampling, roots), which go to
    the client of the request that caused them; cancelling a request cancels it upstream.
    The lifespan's value is the :class:`trimcp.Client`: a tool of your own on the proxy
    receives it through a parameter annotated ``trimcp.Client``. See docs/tools.md.

    Unless ``name`` is given, the proxy presents itself as the upstream does (name, version,
    title, instructions). Raises ``TypeError`` for the client options the proxy owns
    (``elicitation``, ``sampling``, ``roots``, ``message_handler``); serving it raises what
    :func:`trimcp.open_client` raises when the upstream cannot be reached.
    """
    owned = sorted(set(_OWNED_OPTIONS) & client_options.keys())
    if owned:
        raise TypeError(f"proxy() answers {', '.join(owned)} itself: the downstream clients do")
    client_options.setdefault("log_level", "debug")

    @asynccontextmanager
    async def lifespan(server: Server) -> AsyncIterator[Client]:
        routes = Routes()
        mirror = Mirror(server, routes)
        async with open_client(
            target,
            elicitation=routes.handler("elicitation/create"),
            sampling=routes.handler("sampling/createMessage"),
            roots=routes.handler("roots/list"),
            message_handler=mirror.on_message,
            **client_options,
        ) as client:
            routes.by_sole_request = client.transport_name in _ONE_READER
            if name is None:
                _present_as(server, client)
            async with trio.open_nursery() as nursery:
                await mirror.start(client, nursery)
                try:
                    yield client
                finally:
                    nursery.cancel_scope.cancel()
                    mirror.clear()

    return Server(name or "trimcp-proxy", lifespan=lifespan)


def _present_as(server: Server, client: Client) -> None:
    """Give ``server`` the upstream's name, version, title, website, icons and instructions."""
    info = client.server_info
    server.name = str(info.get("name") or server.name)
    server.version = str(info.get("version") or server.version)
    server.title = info.get("title")
    server.website_url = info.get("websiteUrl")
    server.icons = info.get("icons")
    server.instructions = client.instructions
