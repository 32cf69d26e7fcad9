"""Run the official MCP conformance suite against examples/everything.py, twice: served by
``trimcp serve`` at ``/mcp``, and mounted at ``/nested/mcp`` inside another ASGI app under
``hypercorn --worker-class trio``.

Versions 0.1.16 (``--suite all``) and 0.2.0-alpha.12 (``--suite all`` at every protocol
revision it can select, then ``--suite all`` alone, which adds the extension scenarios such as
``tasks-*``).
Prints a table per run and a final ``N passed, M failed`` line; exits 1 when any scenario has a
failure or a warning. Node 22 and the suites come from ``tests/interop`` (pinned by its
lockfile).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.node_peers import NODE_MODULES, ensure_installed, node_environment
from tests.ports import free_port, wait_until_listening

SUITES = {
    "0.1.16": [["--suite", "all"]],
    "0.2.0-alpha.12": [
        ["--suite", "all", "--spec-version", v] for v in ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
    ]
    # without a revision, the suite also selects the extension scenarios (tasks-*), on the
    # 2026-07-28 wire
    + [["--suite", "all"]],
}
RUN_TIMEOUT = 900
#: The suite writes each scenario's checks to ``server-<scenario>-<ISO timestamp>/checks.json``.
_RESULT_DIRECTORY = re.compile(r"^server-(.+?)-\d{4}-\d{2}-\d{2}T")


def start_server(layout: str, port: int, log: Path) -> subprocess.Popen:
    python = sys.executable
    if layout == "/mcp":
        command = [
            python,
            "-m",
            "trimcp",
            "serve",
            "examples/everything.py:server",
            "--transport",
            "streamable-http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    else:
        hypercorn = str(Path(python).parent / "hypercorn")
        command = [
            hypercorn,
            "--worker-class",
            "trio",
            "--bind",
            f"127.0.0.1:{port}",
            "tests/conformance/mounted.py:app",
        ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if wait_until_listening(port, process):
        return process
    if process.poll() is not None:
        raise SystemExit(f"the server exited early:\n{log.read_text()}")
    process.kill()
    raise SystemExit("the server did not start within 30 s")


def run_suite(version: str, options: list[str], url: str, results: Path) -> dict[str, Counter]:
    """Run one suite invocation; return the check statuses per scenario."""
    cli = NODE_MODULES / f"conformance-{version}" / "dist" / "index.js"
    completed = subprocess.run(
        [str(ensure_installed()), str(cli), "server", "--url", url, *options, "-o", str(results)],
        env=node_environment(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    per_scenario: dict[str, Counter] = {}
    for checks_file in sorted(results.glob("server-*/checks.json")):
        found = _RESULT_DIRECTORY.match(checks_file.parent.name)
        scenario = found.group(1) if found else checks_file.parent.name
        counts = per_scenario.setdefault(scenario, Counter())
        for check in json.loads(checks_file.read_text()):
            counts[check["status"]] += 1
    if not per_scenario:
        print(completed.stdout[-4000:], completed.stderr[-4000:], sep="\n")
        per_scenario["(the suite did not run)"] = Counter(FAILURE=1)
    elif completed.returncode != 0 and not any(c["FAILURE"] for c in per_scenario.values()):
        print(completed.stdout[-4000:], completed.stderr[-4000:], sep="\n")
        per_scenario["(the suite exited with an error)"] = Counter(FAILURE=1)
    return per_scenario


def failing_checks(results: Path) -> list[str]:
    lines = []
    for checks_file in sorted(results.glob("server-*/checks.json")):
        for check in json.loads(checks_file.read_text()):
            if check["status"] in ("FAILURE", "WARNING"):
                lines.append(
                    f"    {check['status']} {check['id']}: {check.get('errorMessage') or check.get('description')}"
                )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=["/mcp", "/nested/mcp"], action="append", help="default: both")
    parser.add_argument("--suite", choices=list(SUITES), action="append", help="default: both versions")
    args = parser.parse_args()
    ensure_installed()
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="trimcp-conformance-") as scratch:
        for layout in args.layout or ["/mcp", "/nested/mcp"]:
            port = free_port()
            log = Path(scratch) / f"server-{port}.log"
            server = start_server(layout, port, log)
            try:
                url = f"http://127.0.0.1:{port}{layout}"
                for version in args.suite or list(SUITES):
                    for options in SUITES[version]:
                        label = f"{version} {' '.join(options)} at {layout}"
                        results = Path(scratch) / f"results-{len(os.listdir(scratch))}"
                        started = time.monotonic()
                        per_scenario = run_suite(version, options, url, results)
                        print(f"\n== {label} ({time.monotonic() - started:.0f} s)")
                        print(f"  {'scenario':<58} {'ok':>4} {'fail':>5} {'warn':>5}")
                        for scenario, counts in per_scenario.items():
                            bad = counts["FAILURE"] or counts["WARNING"]
                            mark = "FAIL" if bad else "pass"
                            print(
                                f"  {scenario:<58} {counts['SUCCESS']:>4} {counts['FAILURE']:>5} {counts['WARNING']:>5}  {mark}"
                            )
                            failed += bool(bad)
                            passed += not bad
                        for line in failing_checks(results):
                            print(line)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
    print(f"\nconformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
