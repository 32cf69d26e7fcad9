"""The Streamable HTTP transport: one ASGI app for both protocol eras, served by hypercorn."""

from .app import MCPApp
from .config import HTTPConfig
from .serve import asgi_app, serve_http

__all__ = ["HTTPConfig", "MCPApp", "asgi_app", "serve_http"]
