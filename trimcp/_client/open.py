"""``open_client``: pick the transport from the target, then the era, as the 2026-07-28
compatibility rules describe (``server/discover`` first, then ``initialize``, then the legacy
HTTP+SSE ``GET``)."""

from __future__ import annotations

import shlex
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio

from .._runtime.groups import unwrap_single_exception
from ..protocol.errors import HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION, RequestFailed
from ..protocol.versions import (
    HANDSHAKE_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    LATEST_VERSION,
    PER_REQUEST_VERSIONS,
    Era,
)
from .api import Client
from .core import Handler, MessageHandler
from .errors import ClientTimeout, HTTPStatusError, NotAnMCPServer, ServerClosed
from .http import HTTPPool, Origin
from .http_transport import HTTPTransport
from .legacy_sse_transport import LegacySSETransport
from .oauth.config import OAuth
from .oauth.fetch import Fetcher
from .oauth.flow import OAuthSession
from .oauth.pool import AuthorizedPool
from .stream_transport import open_in_process, open_subprocess
from .tracing import ClientTracing
from .websocket_transport import open_websocket

#: JSON-RPC errors only a 2026-07-28 era server sends: the server is modern after all.
MODERN_ERRORS = frozenset({UNSUPPORTED_PROTOCOL_VERSION, MISSING_CLIENT_CAPABILITY, HEADER_MISMATCH})
TRANSPORTS = ("stdio", "streamable-http", "sse", "in-process", "websocket")


@asynccontextmanager
async def open_client(
    target: Any,
    *,
    protocol_version: str | None = None,
    transport: str | None = None,
    timeout: float = 60.0,
    discover_timeout: float = 5.0,
    client_info: dict[str, Any] | None = None,
    elicitation: Handler | None = None,
    sampling: Handler | None = None,
    roots: Sequence[dict[str, Any]] | Handler | None = None,
    message_handler: MessageHandler | None = None,
    log_level: str | None = None,
    headers: dict[str, str] | None = None,
    auth: str | OAuth | None = None,
    verify: bool | ssl.SSLContext = True,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    tracing: Any = False,
) -> AsyncIterator[Client]:
    """Connect to an MCP server and yield a ready :class:`Client`.

    ``target`` is an ``http(s)://`` URL (Streamable HTTP, falling back to the legacy HTTP+SSE
    transport), a ``ws(s)://`` URL (MCP over WebSocket, SEP-1288 draft: the connection is the
    session, as on stdio), a command (a list of arguments, or one string split like a shell would) run as a
    stdio subprocess, or a :class:`trimcp.Server` served in-process. ``transport`` pins one of
    ``"stdio"``, ``"streamable-http"``, ``"sse"``, ``"in-process"``, ``"websocket"``.

    The era is negotiated unless ``protocol_version`` pins a revision: ``server/discover``
    (2026-07-28) first, then ``initialize``; ``discover_timeout`` bounds that probe, and the wait
    for a handshake-era session's GET stream (the client is yielded once the server answered it,
    so that messages the server sends outside any request are not lost). ``elicitation``, ``sampling`` and ``roots`` (a list,
    or a handler returning ``{"roots": [...]}``) answer the server's questions and declare the
    matching capabilities; ``message_handler`` sees every notification as it arrives (log
    messages from ``log_level`` up, when given).
    ``auth`` is a bearer token (an OAuth access token or an API key) sent with every HTTP
    request (a server that wants other credentials raises :class:`AuthorizationRequired` with
    its parsed challenge), or a :class:`trimcp.OAuth` that gets tokens from the server's
    authorization server when it challenges (:class:`trimcp.OAuthError` when it cannot). ``tracing`` (``True``, or an OpenTelemetry ``TracerProvider``) makes
    a client span per request and sends its trace context in ``_meta`` (``trimcp[otel]``;
    ``ImportError`` without it). ``timeout`` is each request's default. Leaving the block ends the session (stdio: closes the
    subprocess's stdin, then terminates it if it lingers; HTTP: ``DELETE``).

    Raises :class:`ConnectionFailed`, :class:`NotAnMCPServer` or :class:`HTTPStatusError` when
    no MCP session can be opened.
    """
    if isinstance(auth, str):
        headers = {**(headers or {}), "authorization": f"Bearer {auth}"}
    kind = _transport_of(target, transport)
    if protocol_version is not None and protocol_version not in HANDSHAKE_VERSIONS + PER_REQUEST_VERSIONS:
        raise ValueError(f"unknown protocol version {protocol_version!r}")
    handlers = _handlers(elicitation, sampling, roots)
    info = client_info or {"name": "trimcp", "version": _version()}
    with unwrap_single_exception():
        async with trio.open_nursery() as nursery:
            async with AsyncExitStack() as stack:
                client = Client(
                    nursery,
                    timeout=timeout,
                    client_info=info,
                    handlers=handlers,
                    message_handler=message_handler,
                    log_level=log_level,
                )
                client.transport_name = kind
                if tracing is not False:
                    client.tracing = ClientTracing(None if tracing is True else tracing)
                if kind in ("stdio", "in-process", "websocket"):
                    if kind == "websocket":
                        if isinstance(auth, OAuth):
                            raise ValueError("OAuth is not supported over WebSocket: give a bearer token")
                        stream = await stack.enter_async_context(open_websocket(target, headers=headers, verify=verify))
                    elif kind == "stdio":
                        command = shlex.split(target) if isinstance(target, str) else list(target)
                        stream = await stack.enter_async_context(open_subprocess(command, env=env, cwd=cwd))
                    else:
                        stream = await stack.enter_async_context(open_in_process(target))
                    client.transport = stream
                    nursery.start_soon(stream.read_into, client)
                    try:
                        await _negotiate(client, protocol_version, discover_timeout)
                    except ServerClosed:
                        raise NotAnMCPServer(f"{target!r} ended without answering: not an MCP server?") from None
                else:
                    pools = _pools(client, stack, target, auth if isinstance(auth, OAuth) else None, verify)
                    await _open_http(
                        client, stack, nursery, pools, kind, protocol_version, discover_timeout, headers or {}
                    )
                if log_level is not None:
                    await client.set_logging_level(log_level)
                yield client
            nursery.cancel_scope.cancel()


def _pools(
    client: Client, stack: AsyncExitStack, url: str, oauth: OAuth | None, verify: bool | ssl.SSLContext
) -> Callable[[], HTTPPool]:
    """A maker of connection pools to the server at ``url``: plain ones, or ones that authorize
    their requests through one OAuth session (closed with ``stack``) whose flows pause the
    client's timeouts."""
    origin = Origin(url)
    if oauth is None:
        return lambda: HTTPPool(origin, verify=verify)
    session = OAuthSession(oauth, url, Fetcher(verify=verify, timeout=oauth.timeout))
    session.pause = client.timeouts_paused
    stack.push_async_callback(session.aclose)
    return lambda: AuthorizedPool(origin, verify=verify, session=session)


async def _open_http(
    client: Client,
    stack: AsyncExitStack,
    nursery: trio.Nursery,
    pools: Callable[[], HTTPPool],
    kind: str,
    protocol_version: str | None,
    discover_timeout: float,
    headers: dict[str, str],
) -> None:
    if kind == "streamable-http":
        http = HTTPTransport(pools(), nursery, client, headers, get_stream_wait=discover_timeout)
        client.transport = http
        stack.push_async_callback(http.aclose)
        try:
            await _negotiate(client, protocol_version, discover_timeout)
            if client.era is Era.HANDSHAKE:
                await http.open_get_stream()
            return
        except HTTPStatusError as exc:
            if exc.status not in (400, 404, 405) or protocol_version in PER_REQUEST_VERSIONS:
                raise
        client.transport_name = "sse"  # 2024-11-05 servers: fall back to HTTP+SSE
    legacy = LegacySSETransport(pools(), headers)
    stack.push_async_callback(legacy.aclose)
    await legacy.connect(client.timeout)
    client.transport = legacy
    nursery.start_soon(legacy.read_into, client)
    await client.initialize(protocol_version or LATEST_HANDSHAKE_VERSION)


async def _negotiate(client: Client, protocol_version: str | None, discover_timeout: float) -> None:
    if protocol_version in HANDSHAKE_VERSIONS:
        await _initialize(client, protocol_version)
        return
    try:
        result = await client.discover(protocol_version or LATEST_VERSION, timeout=discover_timeout)
    except RequestFailed as exc:
        if exc.code not in MODERN_ERRORS:
            return await _legacy_after_probe(client, protocol_version, f"server/discover failed: {exc}")
        supported = exc.data.get("supported") if isinstance(exc.data, dict) else None
        common = [v for v in PER_REQUEST_VERSIONS if v in (supported or ())]
        if exc.code != UNSUPPORTED_PROTOCOL_VERSION or not common:
            raise NotAnMCPServer(f"the server speaks a newer MCP than trimcp can ({exc})") from None
        client.protocol_version = common[-1]
        await client.discover(common[-1], timeout=discover_timeout)
        return
    except (ClientTimeout, HTTPStatusError) as exc:
        return await _legacy_after_probe(client, protocol_version, str(exc))
    supported = result.get("supportedVersions") or []
    common = [v for v in PER_REQUEST_VERSIONS if v in supported]
    if common:
        client.protocol_version = common[-1]
        return
    handshake = [v for v in HANDSHAKE_VERSIONS if v in supported]
    if not handshake or protocol_version is not None:
        raise NotAnMCPServer(f"no protocol version in common: the server supports {supported}")
    await _initialize(client, handshake[-1])


async def _legacy_after_probe(client: Client, protocol_version: str | None, why: str) -> None:
    if protocol_version is not None:  # pinned to 2026-07-28
        raise NotAnMCPServer(f"the server does not speak {protocol_version}: {why}")
    await _initialize(client, LATEST_HANDSHAKE_VERSION)


async def _initialize(client: Client, version: str) -> None:
    result = await client.initialize(version)
    if client.protocol_version not in HANDSHAKE_VERSIONS:
        raise NotAnMCPServer(f"the server answered initialize with protocol version {result.get('protocolVersion')!r}")


def _transport_of(target: Any, transport: str | None) -> str:
    if transport is not None:
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}; one of {', '.join(TRANSPORTS)}")
        return transport
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        return "streamable-http"
    if isinstance(target, str) and target.startswith(("ws://", "wss://")):
        return "websocket"
    if isinstance(target, (str, list, tuple)):
        return "stdio"
    from .._server.server import Server

    if isinstance(target, Server):
        return "in-process"
    raise TypeError(f"cannot connect to {target!r}: give a URL, a command or a trimcp.Server")


def _handlers(
    elicitation: Handler | None, sampling: Handler | None, roots: Sequence[dict[str, Any]] | Handler | None
) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    if elicitation is not None:
        handlers["elicitation/create"] = elicitation
    if sampling is not None:
        handlers["sampling/createMessage"] = sampling
    if callable(roots):
        handlers["roots/list"] = roots
    elif roots is not None:
        listed = [dict(root) for root in roots]

        async def list_roots(params: dict[str, Any]) -> dict[str, Any]:
            return {"roots": listed}

        handlers["roots/list"] = list_roots
    return handlers


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trimcp")
    except PackageNotFoundError:
        return "0"
