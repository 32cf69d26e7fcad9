"""Transports: how bytes reach a session (stdio and byte streams; HTTP to come)."""

from .stdio import serve_stdio
from .streams import MAX_MESSAGE_SIZE, StreamConnection, serve_stream

__all__ = ["MAX_MESSAGE_SIZE", "StreamConnection", "serve_stdio", "serve_stream"]
