"""The protocol core is sans-IO: importing it must not pull in trio or any server stack."""

import subprocess
import sys
import textwrap

FORBIDDEN = ("trio", "hypercorn", "h11", "wsproto")

PROTOCOL_MODULES = (
    "trimcp.protocol",
    "trimcp.protocol.jsonrpc",
    "trimcp.protocol.sse",
    "trimcp.protocol.framing",
    "trimcp.protocol.envelope",
    "trimcp.protocol.handshake",
    "trimcp.protocol.http_headers",
    "trimcp.protocol.versions",
    "trimcp.protocol.errors",
    "trimcp.protocol.constants",
)


def test_protocol_core_imports_no_io_libraries():
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {PROTOCOL_MODULES!r}:
            importlib.import_module(name)
        loaded = sorted(
            name for name in sys.modules
            if any(name == bad or name.startswith(bad + ".") for bad in {FORBIDDEN!r})
        )
        print(",".join(loaded))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = [name for name in proc.stdout.strip().split(",") if name]
    assert loaded == [], f"importing trimcp.protocol loaded: {loaded}"
