"""``Context``: what a tool, resource, prompt or completion function is given to talk to the
client about its own request (progress, logs) and to reach the rest of the server."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from .._runtime import CancelReason, RequestHandle
from ..protocol.auth import Principal
from ..protocol.constants import LOG_LEVEL_RANK
from ..protocol.envelope import Envelope
from ..protocol.errors import LocalProtocolError
from ..protocol.jsonrpc import RequestId
from ..protocol.lifecycle import Feature, carries
from .asking import (
    ClientAnswerError,
    ElicitResult,
    InputRequired,
    MissingClientCapability,
    Root,
    Rounds,
    SampleResult,
    elicitation_form,
    read_action,
    read_roots,
    read_sample,
    sampling_params,
)
from .tasks.work import TaskWork

T = TypeVar("T")

from .lifespan import LifespanNotRunning

if TYPE_CHECKING:
    from .content import ResourceContents
    from .method_table import MethodTable


class Context:
    """Bound to one request (or the task it became); everything it sends travels on that
    request's own stream. Inside a task, questions wait for ``tasks/update``, progress is the
    task's status message, and logs are not sent.

    Declare a parameter annotated ``Context`` in a tool (resource, prompt…) to receive it.
    """

    __slots__ = ("_connection", "_envelope", "_handle", "_rounds", "deadline")

    def __init__(
        self,
        handle: RequestHandle | TaskWork,
        connection: MethodTable,
        envelope: Envelope | None,
        rounds: Rounds | None = None,
    ) -> None:
        self._handle = handle
        self._connection = connection
        self._envelope = envelope
        self._rounds = rounds if rounds is not None else Rounds()
        #: When the request's deadline (if any) expires, in ``trio.current_time()`` terms.
        self.deadline = math.inf

    @property
    def request_id(self) -> RequestId:
        return self._handle.id

    @property
    def method(self) -> str:
        return self._handle.method

    @property
    def protocol_version(self) -> str | None:
        """The revision this request speaks (negotiated by ``initialize``, or from its envelope)."""
        if self._envelope is not None:
            return self._envelope.protocol_version
        return self._connection.lifecycle.protocol_version

    @property
    def client_capabilities(self) -> dict[str, Any]:
        if self._envelope is not None:
            return self._envelope.client_capabilities
        return self._connection.lifecycle.client_capabilities

    @property
    def client_info(self) -> dict[str, Any] | None:
        if self._envelope is not None:
            return self._envelope.client_info
        return self._connection.lifecycle.client_info

    @property
    def principal(self) -> Principal | None:
        """Who is calling, as authentication established (subject, client id, scopes, claims);
        ``None`` without authentication (stdio, in-process, an HTTP server without auth)."""
        return self._handle.caller.principal

    @property
    def http_headers(self) -> Mapping[str, list[str]] | None:
        """The HTTP request's headers by lower-case name (``None`` off HTTP). A handshake-era
        request's are those of the POST that carried it."""
        return self._handle.caller.headers

    @property
    def lifespan(self) -> Any:
        """What the server's lifespan yielded (``Server(lifespan=...)``). Raises
        :class:`~trimcp._server.lifespan.LifespanNotRunning` where it does not run (an app
        mounted without ASGI lifespan events) or the server has none."""
        lifespan = self._connection.server.lifespan
        if lifespan is None:
            raise LifespanNotRunning("the server has no lifespan (give one: Server(lifespan=...))")
        return lifespan.value

    @property
    def per_request(self) -> bool:
        """Whether this request speaks 2026-07-28 (questions are then multi-round-trip)."""
        return self._envelope is not None

    @property
    def cancel_reason(self) -> CancelReason | str | None:
        """Why this request is being cancelled (read it in a ``finally``), or ``None``."""
        if self._handle.cancel_reason is not None:
            return self._handle.cancel_reason
        if self.deadline != math.inf and trio.current_time() >= self.deadline:
            return CancelReason.DEADLINE
        return None

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress. Sent only when the client asked for it; ``progress`` must increase
        (else :class:`~trimcp.protocol.LocalProtocolError`)."""
        if message is not None and not carries(self.protocol_version, Feature.PROGRESS_MESSAGES):
            message = None
        await self._handle.progress(progress, total, message)

    async def log(self, level: str, data: Any, *, logger: str | None = None) -> None:
        """Send a log message about this request, if the client's level lets it through.

        Handshake era: the session's ``logging/setLevel`` (everything until one is set).
        2026-07-28: the request's ``_meta`` log level (nothing when it set none).
        """
        rank = LOG_LEVEL_RANK.get(level)
        if rank is None:
            raise LocalProtocolError(f"unknown log level {level!r}; use one of {', '.join(LOG_LEVEL_RANK)}")
        threshold = self._envelope.log_level if self._envelope is not None else self._connection.log_level
        if threshold is None:
            if self._envelope is not None:
                return
        elif rank < LOG_LEVEL_RANK[threshold]:
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger is not None:
            params["logger"] = logger
        await self._handle.notify("notifications/message", params)

    async def debug(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("debug", data, logger=logger)

    async def info(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("info", data, logger=logger)

    async def warning(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("warning", data, logger=logger)

    async def error(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("error", data, logger=logger)

    # -- asking the client ------------------------------------------------------------------------

    async def elicit(
        self, message: str, schema: type[T] | dict[str, Any], *, key: str | None = None
    ) -> ElicitResult[T]:
        """Ask the user to fill in a form: ``schema`` is a flat record type (dataclass,
        TypedDict, attrs) or a restricted JSON Schema. Returns the action and, when accepted,
        the validated content (converted to the type).

        Raises :class:`MissingClientCapability` (-32021) when the client cannot elicit, and
        :class:`ClientAnswerError` when its answer does not fit the form. ``key`` names the
        question in a 2026-07-28 ``input_required`` result (derived from the question by default).
        """
        capability = self.client_capabilities.get("elicitation")
        if type(capability) is not dict or (capability and "form" not in capability):
            raise MissingClientCapability("elicitation", {"form": {}})
        form = elicitation_form(schema)
        params: dict[str, Any] = {"message": message, "requestedSchema": form.schema}
        if carries(self.protocol_version, Feature.ELICITATION_MODES):
            params = {"mode": "form", **params}
        return await self._ask("elicitation/create", params, key, form.read)

    async def elicit_url(
        self, message: str, url: str, *, elicitation_id: str | None = None, key: str | None = None
    ) -> ElicitResult[None]:
        """Send the user to ``url`` (out-of-band input: a login, a payment…); returns the
        action. Needs a client that declared URL elicitation (2025-11-25 and later)."""
        capability = self.client_capabilities.get("elicitation")
        if type(capability) is not dict or "url" not in capability:
            raise MissingClientCapability("elicitation", {"url": {}})
        params = {
            "mode": "url",
            "message": message,
            "url": url,
            "elicitationId": elicitation_id or _digest(message, url),
        }
        return await self._ask("elicitation/create", params, key, read_action)

    async def sample(
        self, messages: str | list[Any], *, max_tokens: int, key: str | None = None, **options: Any
    ) -> SampleResult:
        """Ask the client's model: ``messages`` is a string (one user message) or a list of
        :class:`~trimcp.Message` or message dicts; ``options`` are ``system_prompt``,
        ``temperature``, ``stop_sequences``, ``model_preferences``, ``include_context``,
        ``metadata``. Raises :class:`MissingClientCapability` without ``sampling``."""
        if "sampling" not in self.client_capabilities:
            raise MissingClientCapability("sampling")
        params = sampling_params(messages, max_tokens=max_tokens, **options)
        return await self._ask("sampling/createMessage", params, key, read_sample)

    async def list_roots(self, *, key: str | None = None) -> list[Root]:
        """The client's roots. Raises :class:`MissingClientCapability` without ``roots``."""
        if "roots" not in self.client_capabilities:
            raise MissingClientCapability("roots")
        return await self._ask("roots/list", {}, key, read_roots)

    async def gather(self, *questions: Awaitable[Any]) -> list[Any]:
        """Ask several questions at once (``await ctx.gather(ctx.elicit(...), ctx.sample(...))``)
        and return their answers in order. In 2026-07-28 they go out in one ``input_required``
        round; in the handshake era they are pushed concurrently."""
        answers: list[Any] = [None] * len(questions)

        async def ask(index: int, question: Awaitable[Any]) -> None:
            answers[index] = await question

        try:
            async with trio.open_nursery() as nursery:
                for index, question in enumerate(questions):
                    nursery.start_soon(ask, index, question)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # one question failed: its own error, as when asked alone
                raise group.exceptions[0] from None
            raise
        return answers

    async def _ask(self, method: str, params: dict[str, Any], key: str | None, read: Callable[[Any], T]) -> T:
        """Ask and ``read`` the answer. In 2026-07-28 an answer that ``read`` cannot use is as
        good as none: the question is asked again."""
        if self._envelope is None:  # the handshake era asks directly (2025-11-25 tasks too)
            return read(await self._handle.ask(method, params))
        key = key or self._rounds.key_for(method, params)
        if key in self._rounds.answers:
            try:
                return read(self._rounds.answers[key])
            except ClientAnswerError:
                pass
        if type(self._handle) is TaskWork:
            return read(await self._handle.ask_keyed(key, method, params))
        raise InputRequired({key: {"method": method, "params": params}})

    async def read_resource(self, uri: str) -> list[ResourceContents]:
        """Read one of this server's resources (static or templated) in-process.
        Raises :class:`~trimcp.ResourceNotFoundError` for an unknown URI."""
        return await self._connection.server.read_resource(uri, self)


def _digest(*parts: str) -> str:
    """A stable id for a question (so a 2026-07-28 question is the same in every round)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
