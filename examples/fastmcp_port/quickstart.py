"""FastMCP's quick-start server (a greeting tool, a calculator tool, a configuration resource, a
resource template and a prompt), ported to trimcp. docs/migrating-from-fastmcp.md compares the two.

Serve it::

    trimcp serve examples/fastmcp_port/quickstart.py:server                      # stdio
    trimcp serve examples/fastmcp_port/quickstart.py:server --transport streamable-http
    trimcp call examples/fastmcp_port/quickstart.py:server greet name=Ada
    python examples/fastmcp_port/quickstart.py                                   # stdio, like mcp.run()

The FastMCP shape it replaces (an outline, not FastMCP's own code)::

    from fastmcp import FastMCP

    mcp = FastMCP("My MCP Server")

    @mcp.tool
    def greet(name: str) -> str: ...

    @mcp.resource("data://config")
    def config() -> dict: ...

    @mcp.prompt
    def explain(topic: str) -> str: ...

    if __name__ == "__main__":
        mcp.run()  # or: fastmcp run my_server.py:mcp

Only the import, the constructor and the way it is run change; the decorators keep their shape.
"""

from __future__ import annotations

from typing import Annotated, Literal

import trio

import trimcp

server = trimcp.Server("My MCP Server", version="1.0.0")


@server.tool
def greet(name: str) -> str:
    """Greet someone by name."""
    return f"Hello, {name}!"


@server.tool(annotations={"readOnlyHint": True})
def multiply(a: float, b: Annotated[float, "the second factor"]) -> float:
    """Multiply two numbers."""
    return a * b


@server.resource("data://config", mime_type="application/json")
def config() -> dict[str, str]:
    """The server's configuration."""
    return {"theme": "dark", "version": "1.0"}


@server.resource("users://{user_id}/profile")
def profile(user_id: int) -> dict[str, object]:
    """A user's profile (the URI's variable is converted to int and checked)."""
    return {"id": user_id, "name": f"User {user_id}", "status": "active"}


@server.prompt
def explain(topic: str, depth: Literal["brief", "detailed"] = "brief") -> str:
    """Ask the model to explain a topic."""
    return f"Give a {depth} explanation of {topic}, with one example."


if __name__ == "__main__":  # `python quickstart.py` serves stdio, as FastMCP's mcp.run() does
    trio.run(trimcp.serve_stdio, server)
