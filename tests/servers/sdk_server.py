"""An official ``mcp`` SDK server (``MCPServer``) for interoperability tests of trimcp's client.

python tests/servers/sdk_server.py stdio
python tests/servers/sdk_server.py http PORT     (Streamable HTTP at /mcp, uvicorn on 127.0.0.1)
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("sdk-server")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def count(ctx: Context, steps: int = 3) -> str:
    """Report progress, log, and finish."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    await ctx.info("counted")
    return f"counted to {steps}"


@server.resource("note://hello")
def hello() -> str:
    return "hello from the SDK"


@server.prompt()
def greet(name: str) -> str:
    return f"Hello, {name}!"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        import uvicorn

        uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
