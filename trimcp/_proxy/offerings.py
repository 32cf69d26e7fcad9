"""The proxy's tools, resources, templates and prompts: each presents an upstream one as the
upstream lists it and forwards every use to the upstream server through the proxy's client."""

from __future__ import annotations

from typing import Any

import trio

from .._client import Client, ClientError
from .._server.content import for_version
from .._server.context import Context
from .._server.errors import ResourceNotFoundError
from .._server.prompts import Prompt
from .._server.resources import Resource, ResourceTemplate
from .._server.tools import Tool, error_result
from ..protocol.errors import (
    INVALID_PARAMS,
    RESOURCE_NOT_FOUND,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RequestFailed,
)
from ..protocol.jsonrpc import RequestId
from ..protocol.lifecycle import Feature, carries
from .routing import Routes


async def _forwarded(context: Context) -> None:
    """Stands for the upstream's function: the offerings forward instead of calling it."""


class Upstream:
    """What every forwarding offering shares: the proxy's client and its routes."""

    def __init__(self, client: Client, routes: Routes) -> None:
        self.client = client
        self.routes = routes

    def as_downstream_error(self, exc: RequestFailed) -> RemoteProtocolError:
        """The upstream's JSON-RPC error, as the downstream request's."""
        return RemoteProtocolError(exc.message, code=exc.code, data=exc.data)


def _presentation(definition: dict[str, Any]) -> dict[str, Any]:
    """The options of an :class:`~trimcp._server.offering.Offering` from an upstream listing entry."""
    return {
        "name": definition["name"],
        "title": definition.get("title"),
        "description": definition.get("description"),
        "icons": definition.get("icons"),
        "meta": definition.get("_meta"),
    }


class ProxiedTool(Tool):
    """An upstream tool: its input and output schemas, annotations, title and description as
    the upstream lists them (sent verbatim; arguments are not validated here, the upstream
    does it). A call forwards the arguments, progress, log messages and questions."""

    def __init__(self, upstream: Upstream, definition: dict[str, Any]) -> None:
        super().__init__(_forwarded, annotations=definition.get("annotations"), **_presentation(definition))
        self.description = definition.get("description")
        self.upstream = upstream
        #: The listing entry it came from (a changed entry replaces the tool).
        self.source = definition
        #: The name the upstream knows it by (``name`` is what the proxy's clients see).
        self.upstream_name = definition["name"]
        self.input_schema = definition.get("inputSchema") or {"type": "object"}
        self.output_schema = definition.get("outputSchema")

    async def call(self, arguments: dict[str, Any], context: Context, limiter: trio.CapacityLimiter) -> dict[str, Any]:
        """Forward the call and return the upstream's result, adapted to the downstream's
        revision. Raises the upstream's JSON-RPC error as this request's, a 2026-07-28
        question as ``InputRequired``, and a local protocol error (a client without the
        capability a question needs) as the call's error in 2026-07-28; the upstream out of
        reach is an ``isError`` result."""

        async def progress(done: float, total: float | None, message: str | None) -> None:
            try:
                await context.progress(done, total, message)
            except LocalProtocolError:
                pass  # the upstream's progress did not increase: not passed on

        upstream = self.upstream
        try:
            with upstream.routes.forwarding(context):
                result = await upstream.client.call_tool(self.upstream_name, arguments, on_progress=progress)
        except RequestFailed as exc:
            raise upstream.as_downstream_error(exc) from None
        except ClientError as exc:
            return error_result(f"Tool {self.name!r} failed: the upstream server cannot be reached ({exc})")
        except ProtocolError as exc:
            if context.per_request:
                raise
            return error_result(exc.message)
        return adapted_result(result, context.protocol_version)


def adapted_result(result: dict[str, Any], version: str | None) -> dict[str, Any]:
    """An upstream ``CallToolResult`` as the downstream's revision carries it (its
    ``resultType`` and the specification's ``_meta`` entries left to the proxy's runtime)."""
    adapted: dict[str, Any] = {"content": for_version(list(result.get("content") or []), version)}
    if "structuredContent" in result and carries(version, Feature.OUTPUT_SCHEMAS):
        adapted["structuredContent"] = result["structuredContent"]
    if result.get("isError"):
        adapted["isError"] = True
    meta = result.get("_meta")
    if type(meta) is dict:  # the upstream's protocol entries (its server info…) are not the proxy's
        own = {key: value for key, value in meta.items() if not key.startswith("io.modelcontextprotocol/")}
        if own:
            adapted["_meta"] = own
    return adapted


class _Reading:
    """Forwarding ``resources/read``, shared by resources and templates."""

    upstream: Upstream

    async def read(
        self, uri: str, kwargs: dict[str, Any], context: Context | None, limiter: trio.CapacityLimiter
    ) -> list[Any]:
        """The upstream's contents for ``uri``, verbatim. Raises
        :class:`ResourceNotFoundError` when the upstream does not know it, its other errors
        as the request's, and ``RemoteProtocolError`` when it cannot be reached."""
        upstream = self.upstream
        try:
            if context is None:
                result = await upstream.client.read_resource(uri)
            else:
                with upstream.routes.forwarding(context):
                    result = await upstream.client.read_resource(uri)
        except RequestFailed as exc:
            if exc.code == RESOURCE_NOT_FOUND or (type(exc.data) is dict and exc.data.get("uri") == uri):
                raise ResourceNotFoundError(uri) from None
            raise upstream.as_downstream_error(exc) from None
        except ClientError as exc:
            raise RemoteProtocolError(f"the upstream server cannot be reached: {exc}") from None
        return list(result.get("contents") or [])


class ProxiedResource(_Reading, Resource):
    """An upstream resource, listed as the upstream lists it; reads are forwarded."""

    def __init__(self, upstream: Upstream, definition: dict[str, Any]) -> None:
        super().__init__(
            definition["uri"],
            _forwarded,
            size=definition.get("size"),
            mime_type=definition.get("mimeType"),
            annotations=definition.get("annotations"),
            **_presentation(definition),
        )
        self.description = definition.get("description")
        self.upstream = upstream
        self.source = definition


class ProxiedTemplate(_Reading, ResourceTemplate):
    """An upstream resource template: a URI it matches is read from the upstream (its
    variables are not converted here)."""

    def __init__(self, upstream: Upstream, definition: dict[str, Any]) -> None:
        super().__init__(
            definition["uriTemplate"],
            _forwarded,
            mime_type=definition.get("mimeType"),
            annotations=definition.get("annotations"),
            **_presentation(definition),
        )
        self.description = definition.get("description")
        self.upstream = upstream
        self.source = definition


class ProxiedPrompt(Prompt):
    """An upstream prompt with its arguments as listed; ``prompts/get`` is forwarded with the
    arguments as given (strings), and the upstream checks them."""

    def __init__(self, upstream: Upstream, definition: dict[str, Any]) -> None:
        super().__init__(_forwarded, **_presentation(definition))
        self.description = definition.get("description")
        self.arguments = [a for a in definition.get("arguments") or [] if type(a) is dict]
        self.upstream = upstream
        self.source = definition
        self.upstream_name = definition["name"]

    def arguments_from(self, raw: Any, request_id: RequestId | None) -> dict[str, Any]:
        """The arguments as given. Raises -32602 unless they are an object of strings."""
        if raw is None:
            return {}
        if type(raw) is not dict or any(type(v) is not str for v in raw.values()):
            reason = f"Invalid params: arguments of prompt {self.name!r} must be an object of strings"
            raise RemoteProtocolError(reason, code=INVALID_PARAMS, request_id=request_id)
        return raw

    async def render(
        self, kwargs: dict[str, Any], context: Context, limiter: trio.CapacityLimiter, version: str | None
    ) -> dict[str, Any]:
        """The upstream's ``GetPromptResult`` (its content blocks adapted to ``version``).
        Raises the upstream's errors as the request's, ``RemoteProtocolError`` when it cannot
        be reached."""
        upstream = self.upstream
        try:
            with upstream.routes.forwarding(context):
                result = await upstream.client.get_prompt(self.upstream_name, kwargs)
        except RequestFailed as exc:
            raise upstream.as_downstream_error(exc) from None
        except ClientError as exc:
            raise RemoteProtocolError(f"the upstream server cannot be reached: {exc}") from None
        messages = []
        for message in result.get("messages") or []:
            if type(message) is dict and type(message.get("content")) is dict:
                message = {**message, "content": for_version([message["content"]], version)[0]}
            messages.append(message)
        rendered: dict[str, Any] = {"messages": messages}
        if result.get("description") is not None:
            rendered["description"] = result["description"]
        return rendered
