"""The quick fuzz run (fixed seed): a few tens of thousands of cases over the sans-IO core, a
live HTTP server, two live HTTP servers relaying through a real redis-server, and live stdio
servers, each asserting that nothing was found. Each prints its one-line summary (cases,
deaths, hangs, lost, 5xx, errors) even without ``-s``."""

from __future__ import annotations

import os
import shutil

import pytest

from ..redis_support import INSTALL_HINT
from .core import TARGETS, run_core
from .findings import Report
from .http_fuzz import run_http
from .stdio_fuzz import run_stdio

SEED = int(os.environ.get("TRIMCP_FUZZ_SEED", "20260728"))
#: Multiply every quick-run size (``TRIMCP_FUZZ_SCALE=10`` for a longer run under pytest).
SCALE = float(os.environ.get("TRIMCP_FUZZ_SCALE", "1"))
#: The relayed run's cases (≈ 250 a second on 2 idle cores, each relayed request a few Redis round trips).
RELAYED_CASES = 6_000


def _check(report: Report, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\n" + report.summary())
    details = "\n".join(f"{key}: {finding.detail[-600:]}" for key, finding in report.findings.items())
    assert report.failures == 0, f"{report.summary()}\n{details}"


def test_fuzz_sans_io_core(capsys: pytest.CaptureFixture[str]) -> None:
    _check(run_core(list(TARGETS), int(150_000 * SCALE), SEED), capsys)


async def test_fuzz_live_http_server(capsys: pytest.CaptureFixture[str]) -> None:
    _check(await run_http(int(12_000 * SCALE), SEED, workers=8, timeout=10), capsys)


async def test_fuzz_relayed_http_servers(capsys: pytest.CaptureFixture[str]) -> None:
    """Sessions opened on one ``trimcp serve --redis``, their requests sent to another (relayed)."""
    if shutil.which("redis-server") is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    _check(await run_http(int(RELAYED_CASES * SCALE), SEED, workers=8, timeout=10, relayed=True), capsys)


async def test_fuzz_live_stdio_servers(capsys: pytest.CaptureFixture[str]) -> None:
    _check(await run_stdio(int(40_000 * SCALE), SEED, timeout=10), capsys)
