"""Run the official MCP conformance suite against examples/everything.py in three layouts: served
by ``trimcp serve`` at ``/mcp``; mounted at ``/nested/mcp`` inside another ASGI app under
``hypercorn --worker-class trio``; and ``cluster``: a redis-server, two ``trimcp serve --workers 2
--redis URL`` processes (two "machines" sharing ``TRIMCP_STATE_KEY``) and HAProxy round-robin
with no affinity in front, so the requests of one session reach every worker and handshake-era
sessions are relayed to their owner (issue 18).

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
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.haproxy_support import INSTALL_HINT as HAPROXY_HINT
from tests.haproxy_support import haproxy_config
from tests.node_peers import NODE_MODULES, ensure_installed, node_environment
from tests.ports import children, free_port, wait_until_listening
from tests.redis_support import INSTALL_HINT as REDIS_HINT

LAYOUTS = ["/mcp", "/nested/mcp", "cluster"]

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
    _wait_listening(process, port, log, "the server")
    return process


def _wait_listening(process: subprocess.Popen, port: int, log: Path, what: str, timeout: float = 30) -> None:
    if wait_until_listening(port, process, timeout):
        return
    if process.poll() is not None:
        raise SystemExit(f"{what} exited early:\n{log.read_text(errors='replace')}")
    process.kill()
    raise SystemExit(f"{what} did not start within {timeout:.0f} s")


def _binary(name: str, hint: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if found is None:
        raise SystemExit(hint)
    return found


def _stop(stages: list[list[subprocess.Popen]]) -> list[str]:
    """Stop the processes stage by stage: SIGTERM every process of a stage (a supervisor passes
    it on to its workers), wait up to 15 s, then SIGKILL each one still running and its
    children (a supervisor's workers run in sessions of their own); then the next stage.
    Returns the commands that had to be killed."""
    killed = []
    for stage in stages:
        for process in stage:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in stage:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                descendants = children(process.pid)
                process.kill()
                process.wait(timeout=10)
                for pid in descendants:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                killed.append(" ".join(map(str, process.args)))
    return killed


def start_layout(layout: str, scratch: Path) -> tuple[str, list[list[subprocess.Popen]], Callable[[], str]]:
    """Start ``layout``; return the URL of its MCP endpoint, its processes in the stages
    :func:`_stop` stops them in, and a function reading its logs."""
    if layout != "cluster":
        port = free_port()
        log = scratch / f"server-{port}.log"
        return f"http://127.0.0.1:{port}{layout}", [[start_server(layout, port, log)]], log.read_text
    redis_server = _binary("redis-server", REDIS_HINT)
    haproxy = _binary("haproxy", HAPROXY_HINT)
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        redis_port, ports, proxy_port = free_port(), [free_port(), free_port()], free_port()
        (scratch / "redis").mkdir()
        logs.append(scratch / "redis.log")
        processes.append(
            subprocess.Popen(
                [
                    redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(scratch / "redis"), "--protected-mode", "yes",
                ],
                stdin=subprocess.DEVNULL, stdout=logs[-1].open("wb"), stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        _wait_listening(processes[-1], redis_port, logs[-1], "redis-server", timeout=10)
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "TRIMCP_STATE_KEY": secrets.token_urlsafe(32)}
        for port in ports:
            logs.append(scratch / f"machine-{port}.log")
            command = [
                sys.executable, "-m", "trimcp", "serve", "examples/everything.py:server", "--transport",
                "streamable-http", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
                "--redis", f"redis://127.0.0.1:{redis_port}", "--graceful-timeout", "1",
            ]  # fmt: skip
            processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=logs[-1].open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        for port, process, log in zip(ports, processes[1:], logs[1:], strict=True):
            _wait_listening(process, port, log, "trimcp serve --workers 2")
        config = scratch / "haproxy.cfg"
        config.write_text(haproxy_config(proxy_port, ports))
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise SystemExit(f"haproxy refused its configuration: {check.stderr}")
        logs.append(scratch / "haproxy.log")
        processes.append(
            subprocess.Popen(
                [haproxy, "-db", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=logs[-1].open("wb"),
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        _wait_listening(processes[-1], proxy_port, logs[-1], "haproxy", timeout=10)
    except BaseException:
        _stop([processes[:0:-1], processes[:1]])
        raise
    # stopped front to back: HAProxy, the machines (their requests may still use Redis), Redis
    return (
        f"http://127.0.0.1:{proxy_port}/mcp",
        [processes[3:], processes[1:3], processes[:1]],
        lambda: "".join(log.read_text(errors="replace") for log in logs),
    )


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
    parser.add_argument("--layout", choices=LAYOUTS, action="append", help="default: all three")
    parser.add_argument("--suite", choices=list(SUITES), action="append", help="default: both versions")
    parser.add_argument("--show-log", action="store_true", help="print the servers' logs after each layout")
    args = parser.parse_args()
    ensure_installed()
    passed = failed = stuck = 0
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="trimcp-conformance-") as scratch:
        for layout in args.layout or LAYOUTS:
            layout_started = time.monotonic()
            directory = Path(scratch) / f"layout-{len(os.listdir(scratch))}"
            directory.mkdir()
            url, processes, read_logs = start_layout(layout, directory)
            try:
                for version in args.suite or list(SUITES):
                    for options in SUITES[version]:
                        label = f"{version} {' '.join(options)} at {layout}"
                        results = directory / f"results-{len(os.listdir(directory))}"
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
                stopping = time.monotonic()
                for command in _stop(processes):
                    stuck += 1  # a server that does not stop on SIGTERM fails the run
                    print(
                        f"\n!! did not stop within 15 s of SIGTERM ({time.monotonic() - stopping:.0f} s), killed: {command}"
                    )
                seconds[layout] = time.monotonic() - layout_started
                if args.show_log:
                    print(f"\n-- the logs of {layout}\n{read_logs()}")
    print("\n" + ", ".join(f"{layout}: {took:.0f} s" for layout, took in seconds.items()))
    print(f"conformance: {passed} passed, {failed} failed" + (f", {stuck} processes did not stop" if stuck else ""))
    return 1 if failed or stuck else 0


if __name__ == "__main__":
    sys.exit(main())
