"""The Streamable HTTP transport: one ASGI app for both protocol eras, served by hypercorn."""

from .app import MCPApp
from .security import SecurityPolicy
from .serve import asgi_app, serve_http

__all__ = ["MCPApp", "SecurityPolicy", "asgi_app", "serve_http"]
