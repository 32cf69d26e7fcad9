"""Exceptions tool, resource and prompt authors raise to send a specific answer."""

from __future__ import annotations


class ToolError(Exception):
    """Raise from a tool to return an ``isError`` result carrying this message to the model."""


class ResourceNotFoundError(LookupError):
    """Raise from a resource or template function when the URI names nothing; the client gets
    the revision's "resource not found" error."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"Resource not found: {uri}")
        self.uri = uri
