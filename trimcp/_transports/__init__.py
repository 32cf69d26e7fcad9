"""Transports: how bytes reach a session (stdio and byte streams; Streamable HTTP)."""

from .http import HTTPConfig, MCPApp, asgi_app, serve_http
from .stdio import serve_stdio
from .streams import MAX_MESSAGE_SIZE, ServedStream, serve_stream

__all__ = [
    "MAX_MESSAGE_SIZE",
    "HTTPConfig",
    "MCPApp",
    "ServedStream",
    "asgi_app",
    "serve_http",
    "serve_stdio",
    "serve_stream",
]
