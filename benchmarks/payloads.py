"""Large payloads over Streamable HTTP (2026-07-28): a 1 MB resource read, a tool returning
10,000 structured rows, and a tool whose argument (a list of 10,000 objects) is validated,
each beside its floor.

    python benchmarks/payloads.py [--duration 3] [--concurrency 1 4]

The floor (benchmarks/servers.py ``raw-encode``, on the same lean worker) decodes each request
body with ``json.loads`` and answers ``json.dumps`` of the very answer trimcp gave (fetched
once), so the ratio is trimcp's cost beyond decoding, encoding and writing the same bytes.
MB/s counts the answer's bytes (the request's, for the argument case). Servers are pinned to
CPU 0, wrk to CPU 1, every answer checked (``payload.lua``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import cpu_seconds, ensure_wrk, free_port, load, post, start, stop

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
ROWS = 10_000

#: (label, method, name, params, what to find in the answer, whose bytes MB/s counts)
CASES = [
    ("resources/read, 1 MB text", "resources/read", "big://1mb", {"uri": "big://1mb"}, '"text":"0123', "answer"),
    (
        f"tools/call returning {ROWS:,} structured rows",
        "tools/call",
        "rows",
        {"name": "rows", "arguments": {"count": ROWS}},
        f'"id":{ROWS - 1},',
        "answer",
    ),
    (
        f"tools/call validating a {ROWS:,}-object argument",
        "tools/call",
        "total",
        {
            "name": "total",
            "arguments": {
                "items": [{"id": i, "name": f"row-{i}", "score": i / 7, "tags": ["a", "b"]} for i in range(ROWS)]
            },
        },
        f'"result":{ROWS}',
        "request",
    ),
]


def headers_for(method: str, name: str) -> dict[str, str]:
    return {"mcp-protocol-version": "2026-07-28", "mcp-method": method, "mcp-name": name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    wrk = ensure_wrk()
    scratch = Path(tempfile.mkdtemp(prefix="trimcp-payloads-"))
    rows = [
        (
            "| payload | concurrency | trimcp calls/s | trimcp MB/s | trimcp CPU ms/call | floor calls/s | floor MB/s "
            "| floor CPU ms/call | trimcp ÷ floor (calls/s) |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for index, (label, method, name, params, expected, counted) in enumerate(CASES):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": META}}
        body_file = scratch / f"body-{index}.json"
        body_file.write_bytes(json.dumps(body, separators=(",", ":")).encode())
        env = {"BENCH_BODY": str(body_file), "BENCH_METHOD": method, "BENCH_NAME": name, "BENCH_EXPECT": expected}
        figures = {}
        for server in ("trimcp-payloads", "raw-encode"):
            port = free_port()
            process = start(server, port)
            try:
                url = f"http://127.0.0.1:{port}/mcp"
                _, answer = post(url, body, headers_for(method, name))
                assert expected in answer.decode(), answer[:200]
                if server == "trimcp-payloads":
                    answer_file = scratch / f"answer-{index}.json"
                    answer_file.write_bytes(answer)
                    os.environ["BENCH_ANSWER"] = str(answer_file)  # for the floor, started next
                size = len(answer) if counted == "answer" else body_file.stat().st_size
                load(wrk, url, 1, 1, env, "payload.lua")  # warm up
                for concurrency in args.concurrency:
                    before = cpu_seconds(process.pid)
                    result = load(wrk, url, concurrency, args.duration, env, "payload.lua")
                    assert result["failures"] == 0, f"{label}: {result['failures']:.0f} answers were wrong"
                    result["cpu_ms"] = (cpu_seconds(process.pid) - before) * 1000 / max(result["requests"], 1)
                    result["mbps"] = result["calls"] * size / 1e6
                    figures[(server, concurrency)] = result
            finally:
                stop(process)
        for concurrency in args.concurrency:
            ours, floor = figures[("trimcp-payloads", concurrency)], figures[("raw-encode", concurrency)]
            rows.append(
                f"| {label} | {concurrency} | {ours['calls']:.1f} | {ours['mbps']:.1f} | {ours['cpu_ms']:.2f} "
                f"| {floor['calls']:.1f} | {floor['mbps']:.1f} | {floor['cpu_ms']:.2f} "
                f"| {ours['calls'] / floor['calls']:.2f} |"
            )
            print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
