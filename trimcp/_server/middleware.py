"""Middleware: functions around every request (``@server.middleware``) or every tool call
(``@server.tool_middleware``) that may observe, short-circuit, or rewrite what goes in and what
comes out. Each gets the call and ``proceed``; what it returns is the answer. Cancellation
passes through untouched: a middleware's ``finally`` runs when the request is cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from .._runtime import Caller, RequestHandle
from ..protocol.envelope import Envelope
from ..protocol.jsonrpc import Request, RequestId
from .errors import ToolError

if TYPE_CHECKING:
    from ..protocol.auth import Principal
    from .context import Context

C = TypeVar("C")


@attrs.define
class RequestCall:
    """One request as a request middleware sees it: ``params`` may be replaced before
    ``proceed`` (the method and id may not)."""

    method: str
    params: dict[str, Any]
    request_id: RequestId
    #: Who is calling (``None`` without authentication).
    principal: Principal | None


@attrs.define
class ToolCall:
    """One ``tools/call`` as a tool middleware sees it: ``arguments`` may be replaced before
    ``proceed`` (they are validated after the middleware); ``context`` is the tool's."""

    name: str
    arguments: dict[str, Any]
    context: Context


#: ``async def middleware(call, proceed) -> dict``: ``await proceed(call)`` for the answer.
Middleware = Callable[[C, Callable[[C], Awaitable[dict[str, Any]]]], Awaitable[dict[str, Any]]]


class Chain(Generic[C]):
    """Middlewares (the first registered outermost) around an innermost handler."""

    def __init__(self, middlewares: Sequence[Middleware[C]], innermost: Callable[[C], Awaitable[dict[str, Any]]]):
        proceed = innermost
        for middleware in reversed(middlewares):
            proceed = _step(middleware, proceed)
        self._first = proceed

    async def __call__(self, call: C) -> dict[str, Any]:
        return await self._first(call)


def _step(
    middleware: Middleware[C], proceed: Callable[[C], Awaitable[dict[str, Any]]]
) -> Callable[[C], Awaitable[dict[str, Any]]]:
    async def step(call: C) -> dict[str, Any]:
        return await middleware(call, proceed)

    return step


async def around_tool(
    middlewares: Sequence[Middleware[ToolCall]],
    call: ToolCall,
    innermost: Callable[[ToolCall], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """The tool's result through ``middlewares``; a :class:`ToolError` a middleware raises (to
    refuse the call, say) is the result ``isError`` with its message, as a tool's is."""
    try:
        return await Chain(middlewares, innermost)(call)
    except ToolError as exc:
        return {"content": [{"type": "text", "text": str(exc)}], "isError": True}


def through_middleware(
    middlewares: Sequence[Middleware[RequestCall]],
    handler: Callable[[Request, Envelope | None, Caller], Any],
    request: Request,
    envelope: Envelope | None,
    caller: Caller,
) -> Callable[[RequestHandle], Awaitable[dict[str, Any]]]:
    """A runner answering ``request`` with ``handler`` (a method of the method table) through
    ``middlewares``: the request then always runs in a task of its own."""

    async def run(handle: RequestHandle) -> dict[str, Any]:
        async def innermost(call: RequestCall) -> dict[str, Any]:
            routed = handler(Request(request.id, request.method, call.params), envelope, caller)
            return routed if type(routed) is dict else await routed(handle)

        params = dict(request.params) if type(request.params) is dict else {}
        return await Chain(middlewares, innermost)(RequestCall(request.method, params, request.id, caller.principal))

    return run
