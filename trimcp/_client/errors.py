"""What can go wrong talking to a server, one type per thing a caller can act on. A JSON-RPC
error the server answered with is :class:`trimcp.RequestFailed`."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the client's own errors."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or the connection broke."""


class NotAnMCPServer(ClientError):
    """The target answered, but not as an MCP server of any revision trimcp speaks."""


class HTTPStatusError(ClientError):
    """An HTTP answer that is not MCP: ``status`` and the start of the body say what happened."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class AuthorizationRequired(HTTPStatusError):
    """The server wants (other) credentials: 401 (none, or invalid ones) or 403 (missing scopes).
    ``challenge`` holds the ``WWW-Authenticate: Bearer`` parameters: ``resource_metadata``
    (where to learn how to get a token), ``scope`` (what is needed), ``error``."""

    def __init__(self, status: int, message: str, challenge: dict[str, str]) -> None:
        super().__init__(status, message)
        self.challenge = challenge


class ClientTimeout(ClientError, TimeoutError):
    """The client gave up waiting (its own ``timeout``): the server had not answered. A deadline
    the server enforces arrives as a :class:`trimcp.RequestFailed` instead."""


class ServerClosed(ClientError):
    """The server ended the session (its process exited, its stream closed) or, over HTTP, closed
    the connection (as a server shutting down does) before answering."""
