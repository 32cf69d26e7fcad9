"""Routing what the upstream server says during a forwarded request (its questions, its log
messages) to the downstream request that caused it.

A forwarded request runs inside :meth:`Routes.forwarding`, which puts its :class:`Route` in a
context variable. The upstream client answers a 2026-07-28 ``input_required`` round inside the
calling task, and reads each Streamable HTTP response stream in a task started from it, so
the question (or log message) finds the route there. A handshake-era upstream over stdio,
in-process or the legacy HTTP+SSE transport delivers everything from one reader task: there
the route is the only forwarded request in flight, and with several the question is refused
(it cannot be told apart). The same holds for messages on a handshake-era GET stream, which
belong to no request: they are refused (questions) or dropped (logs).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import trio

from .._server.asking import InputRequired
from .._server.context import Context
from ..protocol.errors import INTERNAL_ERROR, INVALID_PARAMS, LocalProtocolError, ProtocolError, RequestFailed

logger = logging.getLogger("trimcp.proxy")

_current: ContextVar[Route | None] = ContextVar("trimcp_proxy_route", default=None)


class Route:
    """One forwarded request in flight: its downstream ``context``, the task forwarding it and
    the scope around the upstream request. Questions asked from other tasks run in scopes it
    owns (``helpers``), cancelled when the forwarding ends."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.task = trio.lowlevel.current_task()
        self.scope = trio.CancelScope()
        self.helpers: set[trio.CancelScope] = set()
        #: 2026-07-28 downstream questions raised away from the forwarding task: they end the
        #: upstream request and become this request's ``input_required`` result.
        self.asked: dict[str, dict[str, Any]] = {}

    async def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Ask the downstream client ``method`` with the upstream's ``params`` and return its
        answer for the upstream. In the forwarding task (a 2026-07-28 upstream), what
        :func:`ask_downstream` raises goes through the upstream client to the forwarding.
        In another task it raises :class:`RequestFailed` (the upstream's error answer) instead,
        after recording a 2026-07-28 downstream question (ending the upstream request), or when
        the forwarding ended first."""
        if trio.lowlevel.current_task() is self.task:
            return await ask_downstream(self.context, method, params)
        with trio.CancelScope() as scope:
            self.helpers.add(scope)
            try:
                return await ask_downstream(self.context, method, params)
            except InputRequired as question:
                self.asked.update(question.requests)
                self.scope.cancel()
                raise RequestFailed({"code": INTERNAL_ERROR, "message": "the proxy's client will answer on a retry"})
            except ProtocolError as exc:
                raise RequestFailed(exc.to_error_object()) from None
            finally:
                self.helpers.discard(scope)
        raise RequestFailed({"code": INTERNAL_ERROR, "message": "the request that asked has ended"})


class Routes:
    """The forwarded requests in flight through one upstream client. ``by_sole_request``
    says whether a message that arrives outside every request's task goes to the only
    request in flight (set once the transport is known)."""

    def __init__(self) -> None:
        self.live: set[Route] = set()
        self.by_sole_request = False

    @contextlib.contextmanager
    def forwarding(self, context: Context) -> Iterator[Route]:
        """Route what the upstream says in the block to ``context``'s client. On leaving,
        questions still being asked for it are cancelled; a 2026-07-28 downstream question
        asked away from this task raises :class:`InputRequired` (the request's answer)."""
        route = Route(context)
        token = _current.set(route)
        self.live.add(route)
        try:
            with route.scope:
                yield route
        finally:
            self.live.discard(route)
            _current.reset(token)
            for helper in route.helpers:
                helper.cancel()
        if route.asked:
            raise InputRequired(route.asked)

    def find(self) -> Route | None:
        """The request the current task works for, or ``None`` when it cannot be told."""
        route = _current.get()
        if route is not None and route in self.live:
            return route
        if self.by_sole_request and len(self.live) == 1:
            return next(iter(self.live))
        return None

    def handler(self, method: str) -> Any:
        """The upstream client's handler for ``method`` (elicitation, sampling, roots): asks
        the downstream client of the request it belongs to. Raises :class:`RequestFailed`
        (the upstream's answer) when that request cannot be told."""

        async def answer(params: dict[str, Any]) -> dict[str, Any]:
            route = self.find()
            if route is None:
                raise RequestFailed(
                    {
                        "code": INTERNAL_ERROR,
                        "message": f"trimcp proxy: cannot tell which request this {method} belongs to "
                        f"({len(self.live)} forwarded requests in flight), so no client can answer it",
                    }
                )
            return await route.answer(method, params)

        return answer

    async def log(self, params: dict[str, Any]) -> None:
        """Pass an upstream log message to the client of the request it belongs to (that
        client's level applies); dropped, with a debug record, when that cannot be told."""
        route = self.find()
        level, data = params.get("level"), params.get("data")
        if route is None or type(level) is not str:
            logger.debug("dropping an upstream log message no request can be found for: %r", data)
            return
        source = params.get("logger")
        with contextlib.suppress(LocalProtocolError):  # a level the protocol does not know
            await route.context.log(level, data, logger=source if type(source) is str else None)


async def ask_downstream(context: Context, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Ask ``context``'s client the upstream's question and return the answer as the upstream
    expects it. Raises what ``Context`` raises (:class:`InputRequired` in 2026-07-28,
    ``MissingClientCapability``, ``ClientAnswerError``…) and :class:`RequestFailed` for a
    question it cannot read."""
    try:
        if method == "elicitation/create":
            if params.get("mode") == "url":
                choice = await context.elicit_url(
                    params["message"], params["url"], elicitation_id=params.get("elicitationId")
                )
                return {"action": choice.action}
            schema = params.get("requestedSchema") or {"type": "object", "properties": {}}
            form = await context.elicit(params["message"], schema)
            return (
                {"action": form.action, "content": form.content} if form.action == "accept" else {"action": form.action}
            )
        if method == "sampling/createMessage":
            sample = await context.sample(
                params["messages"],
                max_tokens=params["maxTokens"],
                system_prompt=params.get("systemPrompt"),
                temperature=params.get("temperature"),
                stop_sequences=params.get("stopSequences"),
                model_preferences=params.get("modelPreferences"),
                include_context=params.get("includeContext"),
                metadata=params.get("metadata"),
            )
            return sample.raw
        roots = await context.list_roots()
        return {"roots": [{"uri": r.uri, **({"name": r.name} if r.name is not None else {})} for r in roots]}
    except (KeyError, TypeError) as exc:
        raise RequestFailed({"code": INVALID_PARAMS, "message": f"malformed {method}: {exc!r}"}) from None
