"""The everything server mounted at a sub-path of another ASGI app (``/nested/mcp``), for
``hypercorn --worker-class trio tests/conformance/mounted.py:app``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location(
    "everything", Path(__file__).resolve().parents[2] / "examples" / "everything.py"
)
assert _spec is not None and _spec.loader is not None
everything = importlib.util.module_from_spec(_spec)
sys.modules["everything"] = everything
_spec.loader.exec_module(everything)

PREFIX = "/nested"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Send ``/nested/...`` to the MCP app (with the prefix as its root path); 404 elsewhere."""
    if scope["type"] == "lifespan":
        await everything.app(scope, receive, send)
    elif scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
        await everything.app({**scope, "root_path": scope.get("root_path", "") + PREFIX}, receive, send)
    else:
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"Not Found"})
