"""``trimcp serve``: finding the server, and clear messages when it cannot."""

from __future__ import annotations

import subprocess
import sys

import pytest

import trimcp
from trimcp._cli import load_server

from .conftest import ROOT


def test_load_server_by_path_module_and_default_name() -> None:
    assert load_server("examples/demo.py:server").name == "trimcp-demo"
    assert load_server("tests.servers.noisy:server").name == "noisy"
    assert isinstance(load_server("tests.servers.noisy"), trimcp.Server)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_anywhere:server", "cannot import 'no_such_module_anywhere'"),
        ("tests.servers.noisy:nothing", "no trimcp.Server named nothing"),
        ("tests.servers.noisy:subprocess", "is a module, not a trimcp.Server"),
    ],
)
def test_bad_targets_exit_with_a_message(target: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trimcp", "serve", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""
