"""tools/call over one WebSocket connection with 16 requests in flight, beside Streamable HTTP at
c=16 (wrk), against the same server in one run; figures as calls/s and server CPU per call.

    python benchmarks/websocket.py [--duration 5] [--in-flight 16]

The server runs on CPU 0 (``taskset``), the loads on CPU 1. The WebSocket load is a raw wsproto
client in Trio sending 2026-07-28 envelopes and checking every answer: it is slower than wrk, so
compare server CPU per call as much as calls/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run import cpu_seconds, ensure_wrk, load, stop
from tests.ports import free_port, wait_until_listening

#: The WebSocket load's process (on CPU 1): argv is the repository, the port, in-flight, seconds.
CLIENT = (
    "import sys, trio; sys.path.insert(0, sys.argv[1]); from benchmarks.websocket import websocket_load;"
    " print(trio.run(websocket_load, int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))"
)
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


async def websocket_load(port: int, in_flight: int, duration: float) -> int:
    """Calls answered over one connection in ``duration`` seconds, ``in_flight`` at a time."""
    import trio
    import wsproto
    import wsproto.events as ws

    socket = await trio.open_tcp_stream("127.0.0.1", port)
    connection = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    await socket.send_all(connection.send(ws.Request(host=f"127.0.0.1:{port}", target="/mcp", subprotocols=["mcp"])))
    next_id, answered, buffer = 0, 0, ""

    def call() -> bytes:
        nonlocal next_id
        next_id += 1
        params = {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": ENVELOPE}
        message = {"jsonrpc": "2.0", "id": next_id, "method": "tools/call", "params": params}
        return connection.send(ws.TextMessage(json.dumps(message)))

    accepted = False
    deadline = trio.current_time() + duration
    while trio.current_time() < deadline:
        data = await socket.receive_some(65536)
        if not data:
            raise SystemExit("the server closed the connection")
        connection.receive_data(data)
        for event in connection.events():
            if isinstance(event, ws.AcceptConnection):
                accepted = True
                await socket.send_all(b"".join(call() for _ in range(in_flight)))
            elif isinstance(event, ws.RejectConnection):
                raise SystemExit(f"the upgrade was refused ({event.status_code})")
            elif isinstance(event, ws.TextMessage):
                buffer += event.data
                if event.message_finished:
                    answer, buffer = json.loads(buffer), ""
                    if answer.get("result", {}).get("structuredContent") != {"result": 3}:
                        raise SystemExit(f"a wrong answer: {answer}")
                    answered += 1
                    await socket.send_all(call())
            elif isinstance(event, ws.Ping):
                await socket.send_all(connection.send(event.response()))
    assert accepted
    return answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args()
    wrk = ensure_wrk()
    port = free_port()
    command = ["taskset", "-c", "0", sys.executable, str(HERE / "servers.py"), "trimcp-ws", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_until_listening(port, process):
            raise SystemExit("the server did not start")
        url = f"http://127.0.0.1:{port}/mcp"
        load(wrk, url, 16, 1, {"MCP_ERA": "2026-07-28"})  # warm up
        before = cpu_seconds(process.pid)
        http = load(wrk, url, args.in_flight, args.duration, {"MCP_ERA": "2026-07-28"})
        http_cpu = (cpu_seconds(process.pid) - before) * 1000 / max(http["requests"], 1)
        before, started = cpu_seconds(process.pid), time.monotonic()
        client = ["taskset", "-c", "1", sys.executable, "-c", CLIENT, str(HERE.parent), str(port)]
        client += [str(args.in_flight), str(args.duration)]
        done = subprocess.run(client, capture_output=True, text=True, timeout=args.duration + 60, env=os.environ)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        calls = int(done.stdout.strip())
        ws_cpu = (cpu_seconds(process.pid) - before) * 1000 / max(calls, 1)
        ws_rate = calls / (time.monotonic() - started)
    finally:
        stop(process)
    print("| transport | in flight | calls/s | server CPU ms/call | calls/s ÷ HTTP |")
    print("|---|---|---|---|---|")
    print(f"| Streamable HTTP (wrk) | {args.in_flight} | {http['calls']:.0f} | {http_cpu:.3f} | 1.00 |")
    print(
        f"| WebSocket, one connection | {args.in_flight} | {ws_rate:.0f} | {ws_cpu:.3f} | {ws_rate / http['calls']:.2f} |"
    )


if __name__ == "__main__":
    main()
