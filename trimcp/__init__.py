"""trimcp: a Trio-native runtime for Model Context Protocol servers.

Write a server with :class:`Server` and its decorators, serve it with ``trimcp serve
module:server`` (or :func:`serve_stdio`), and test it in-process with :mod:`trimcp.testing`.
Talk to any MCP server with :func:`open_client`.

Names are loaded on first use, so ``import trimcp.protocol`` (the sans-IO core) does not pull
in Trio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "APIKeyVerifier": "._auth",
    "AuthConfig": "._transports.http.auth",
    "IntrospectionVerifier": "._auth",
    "JWKSCache": "._auth",
    "JWTVerifier": "._auth",
    "Principal": ".protocol.auth",
    "Audio": "._server.content",
    "AuthorizationRequired": "._client",
    "Client": "._client",
    "ClientError": "._client",
    "ClientTask": "._client",
    "ClientTimeout": "._client",
    "ConnectionFailed": "._client",
    "HTTPStatusError": "._client",
    "NotAnMCPServer": "._client",
    "ServerClosed": "._client",
    "open_client": "._client",
    "proxy": "._proxy",
    "AuthorizationDenied": "._client",
    "AuthorizationServerChanged": "._client",
    "EnterpriseIdP": "._client",
    "FileTokenStore": "._client",
    "MemoryTokenStore": "._client",
    "OAuth": "._client",
    "OAuthError": "._client",
    "TokenStore": "._client",
    "CancelReason": "._runtime",
    "ObservedExchange": "._runtime.observe",
    "ObservedRequest": "._runtime.observe",
    "Observer": "._runtime.observe",
    "watch_event_loop": "._runtime.watchdog",
    "AccessLog": "._observe",
    "JSONLogFormatter": "._observe",
    "Metrics": "._observe",
    "Tracing": "._observe.tracing",
    "Completion": "._server.completions",
    "Context": "._server.context",
    "EmbeddedResource": "._server.content",
    "Image": "._server.content",
    "LocalProtocolError": ".protocol",
    "Message": "._server.content",
    "ProtocolError": ".protocol",
    "RemoteProtocolError": ".protocol",
    "RequestFailed": ".protocol",
    "ElicitResult": "._server.asking",
    "MissingClientCapability": "._server.asking",
    "ClientAnswerError": "._server.asking",
    "Root": "._server.asking",
    "SampleResult": "._server.asking",
    "ResourceContents": "._server.content",
    "ResourceLink": "._server.content",
    "ResourceNotFoundError": "._server.errors",
    "MemoryTaskStore": "._server.tasks",
    "LifespanNotRunning": "._server.lifespan",
    "RequestCall": "._server.middleware",
    "ToolCall": "._server.middleware",
    "RedisBackend": "._redis",
    "RedisEventStore": "._redis",
    "BackendUnavailable": "._server.backend",
    "SQLiteTaskStore": "._server.tasks",
    "TaskStore": "._server.tasks",
    "Server": "._server.server",
    "ToolError": "._server.errors",
    "ToolResult": "._server.tools",
    "MCPApp": "._transports",
    "HTTPConfig": "._transports",
    "asgi_app": "._transports",
    "serve_http": "._transports",
    "serve_stdio": "._transports",
    "serve_stream": "._transports",
}

__all__ = [
    "APIKeyVerifier",
    "AccessLog",
    "Audio",
    "AuthConfig",
    "AuthorizationDenied",
    "AuthorizationRequired",
    "AuthorizationServerChanged",
    "BackendUnavailable",
    "CancelReason",
    "Client",
    "ClientAnswerError",
    "ClientError",
    "ClientTask",
    "ClientTimeout",
    "Completion",
    "ConnectionFailed",
    "Context",
    "ElicitResult",
    "EmbeddedResource",
    "EnterpriseIdP",
    "FileTokenStore",
    "HTTPConfig",
    "HTTPStatusError",
    "Image",
    "IntrospectionVerifier",
    "JSONLogFormatter",
    "JWKSCache",
    "JWTVerifier",
    "LifespanNotRunning",
    "LocalProtocolError",
    "MCPApp",
    "MemoryTaskStore",
    "MemoryTokenStore",
    "Message",
    "Metrics",
    "MissingClientCapability",
    "NotAnMCPServer",
    "OAuth",
    "OAuthError",
    "ObservedExchange",
    "ObservedRequest",
    "Observer",
    "Principal",
    "ProtocolError",
    "RedisBackend",
    "RedisEventStore",
    "RemoteProtocolError",
    "RequestCall",
    "RequestFailed",
    "ResourceContents",
    "ResourceLink",
    "ResourceNotFoundError",
    "Root",
    "SQLiteTaskStore",
    "SampleResult",
    "Server",
    "ServerClosed",
    "TaskStore",
    "TokenStore",
    "ToolCall",
    "ToolError",
    "ToolResult",
    "Tracing",
    "asgi_app",
    "open_client",
    "proxy",
    "serve_http",
    "serve_stdio",
    "serve_stream",
    "watch_event_loop",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trimcp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from ._auth import APIKeyVerifier, IntrospectionVerifier, JWKSCache, JWTVerifier
    from ._client import (
        AuthorizationDenied,
        AuthorizationRequired,
        AuthorizationServerChanged,
        Client,
        ClientError,
        ClientTask,
        ClientTimeout,
        ConnectionFailed,
        EnterpriseIdP,
        FileTokenStore,
        HTTPStatusError,
        MemoryTokenStore,
        NotAnMCPServer,
        OAuth,
        OAuthError,
        ServerClosed,
        TokenStore,
        open_client,
    )
    from ._observe import AccessLog, JSONLogFormatter, Metrics
    from ._observe.tracing import Tracing
    from ._proxy import proxy
    from ._redis import RedisBackend, RedisEventStore
    from ._runtime import CancelReason
    from ._runtime.observe import ObservedExchange, ObservedRequest, Observer
    from ._runtime.watchdog import watch_event_loop
    from ._server.asking import ClientAnswerError, ElicitResult, MissingClientCapability, Root, SampleResult
    from ._server.backend import BackendUnavailable
    from ._server.completions import Completion
    from ._server.content import Audio, EmbeddedResource, Image, Message, ResourceContents, ResourceLink
    from ._server.context import Context
    from ._server.errors import ResourceNotFoundError, ToolError
    from ._server.lifespan import LifespanNotRunning
    from ._server.middleware import RequestCall, ToolCall
    from ._server.server import Server
    from ._server.tasks import MemoryTaskStore, SQLiteTaskStore, TaskStore
    from ._server.tools import ToolResult
    from ._transports import HTTPConfig, MCPApp, asgi_app, serve_http, serve_stdio, serve_stream
    from ._transports.http.auth import AuthConfig
    from .protocol import LocalProtocolError, ProtocolError, RemoteProtocolError, RequestFailed
    from .protocol.auth import Principal
