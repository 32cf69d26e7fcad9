"""Run the official MCP conformance suite's CLIENT scenarios against trimcp's client:
``conformance client --command "<python> examples/conformance_client.py" --suite all`` at
every protocol revision the suite can select (2025-03-26 … 2026-07-28: each scenario runs on
the wire of its revision), then ``--suite extensions`` (the authorization extensions, which no
revision selects), then one by one every other scenario ``conformance list --client`` tags
``[extension]`` (the skills extension's: no suite but ``all`` without a revision has them).

Prints a table per run and a final ``N passed, M failed`` line; exits 1 when any scenario has a
failure or a warning (the suite's own rule). Node 22 and the suite come from ``tests/interop``
(pinned by its lockfile). ``--scenario NAME`` runs one scenario (at its default revision).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.node_peers import NODE_MODULES, ensure_installed, node_environment

VERSION = "0.2.0-alpha.12"
REVISIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
RUNS = [["--suite", "all", "--spec-version", v] for v in REVISIONS] + [["--suite", "extensions"]]
RUN_TIMEOUT = 900
#: Each scenario's checks land in ``<scenario>-<ISO timestamp>/checks.json`` (``auth/x`` nests).
_TIMESTAMP = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z?$")


CLI = NODE_MODULES / f"conformance-{VERSION}" / "dist" / "index.js"


def extension_scenarios() -> list[str]:
    """The client scenarios the suite tags ``[extension]``."""
    listed = subprocess.run(
        [str(ensure_installed()), str(CLI), "list", "--client"],
        env=node_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return re.findall(r"^\s*- (\S+) \[extension\]$", listed.stdout, re.MULTILINE)


def run_suite(options: list[str], results: Path) -> tuple[dict[str, Counter], str]:
    """Run one suite invocation; the check statuses per scenario, and the suite's output."""
    command = f"{sys.executable} {ROOT / 'examples' / 'conformance_client.py'}"
    completed = subprocess.run(
        [str(ensure_installed()), str(CLI), "client", "--command", command, *options, "-o", str(results)],
        env={**node_environment(), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    per_scenario: dict[str, Counter] = {}
    for checks_file in sorted(results.rglob("checks.json")):
        scenario = _TIMESTAMP.sub("", str(checks_file.parent.relative_to(results)))
        counts = per_scenario.setdefault(scenario, Counter())
        for check in json.loads(checks_file.read_text()):
            counts[check["status"]] += 1
    if not per_scenario and "(0 scenarios)" not in completed.stdout:
        per_scenario["(the suite did not run)"] = Counter(FAILURE=1)
    return per_scenario, completed.stdout[-4000:] + completed.stderr[-4000:]


def failing_checks(results: Path) -> list[str]:
    lines = []
    for checks_file in sorted(results.rglob("checks.json")):
        scenario = _TIMESTAMP.sub("", str(checks_file.parent.relative_to(results)))
        for check in json.loads(checks_file.read_text()):
            if check["status"] in ("FAILURE", "WARNING"):
                detail = check.get("errorMessage") or check.get("description")
                lines.append(f"    {scenario}: {check['status']} {check['id']}: {detail}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", help="run this scenario only")
    parser.add_argument("--spec-version", help="with --scenario: the revision to run it at")
    parser.add_argument("--verbose", action="store_true", help="print the suite's output")
    args = parser.parse_args()
    ensure_installed()
    runs = list(RUNS)
    if args.scenario:
        runs = [["--scenario", args.scenario] + (["--spec-version", args.spec_version] if args.spec_version else [])]
    passed = failed = 0
    ran: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="trimcp-client-conformance-") as scratch:
        for index, options in enumerate(runs):
            results = Path(scratch) / f"results-{index}"
            started = time.monotonic()
            per_scenario, output = run_suite(options, results)
            ran.update(per_scenario)
            if options == ["--suite", "extensions"]:
                runs += [["--scenario", name] for name in extension_scenarios() if name not in ran]
            print(f"\n== {VERSION} client {' '.join(options)} ({time.monotonic() - started:.0f} s)")
            if args.verbose or "(the suite did not run)" in per_scenario:
                print(output)
            print(f"  {'scenario':<50} {'ok':>4} {'fail':>5} {'warn':>5}")
            for scenario, counts in sorted(per_scenario.items()):
                bad = counts["FAILURE"] or counts["WARNING"]
                mark = "FAIL" if bad else "pass"
                print(f"  {scenario:<50} {counts['SUCCESS']:>4} {counts['FAILURE']:>5} {counts['WARNING']:>5}  {mark}")
                failed += bool(bad)
                passed += not bad
            for line in failing_checks(results):
                print(line)
    print(f"\nclient conformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
