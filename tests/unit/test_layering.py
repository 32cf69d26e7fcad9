"""The layers of DESIGN.md, checked on the source: the protocol core is sans-IO, and each layer
imports only the ones above it."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "trimcp"
FORBIDDEN = ("trio", "hypercorn", "h11", "wsproto")

#: The command line, whose parts import each other.
CLI_MODULES = (
    "trimcp._cli",
    "trimcp._cli_auth",
    "trimcp._cli_observe",
    "trimcp._cli_workers",
    "trimcp._cli_reload",
    "trimcp._cli_dev",
    "trimcp._client_cli",
    "trimcp.__main__",
)
#: (importer, what it must never import, why); a name covers its submodules, and "trimcp"
#: every module of the package.
RULES = (
    ("trimcp.protocol", ("trimcp._runtime", "trimcp._server", "trimcp._transports", "trimcp._client",
                         "trimcp.testing"), "the protocol core is sans-IO and knows no other layer"),
    ("trimcp._runtime", ("trimcp._server", "trimcp._transports"), "the runtime knows no MCP method nor transport"),
    ("trimcp._server", ("trimcp._transports",), "the server API knows no transport"),
    ("trimcp._transports", ("trimcp._client", "trimcp._auth", "trimcp._redis", "trimcp.testing"),
     "transports know no entry point (token verifiers plug in through a protocol)"),
    ("trimcp._redis", ("trimcp._transports", "trimcp._client"), "a backend serves the server layer, whatever the transport"),
    ("trimcp._observe", ("trimcp._server", "trimcp._transports", "trimcp._client"),
     "observers read the runtime's records, whatever serves them"),
    ("trimcp", CLI_MODULES, "nothing imports the command line"),
    *((layer, ("trimcp._proxy",), "the proxy is an entry point: the layers it builds on know nothing of it")
      for layer in ("trimcp.protocol", "trimcp._runtime", "trimcp._server", "trimcp._transports", "trimcp._client")),
)  # fmt: skip


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(name: str, source: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` (the module ``name``) imports, relative imports resolved, at any
    depth of the file (imports inside functions count)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def violations(name: str, imports: set[str]) -> list[str]:
    """What ``name`` importing ``imports`` breaks of :data:`RULES`."""
    broken = []
    for importer, forbidden, why in RULES:
        if not within(name, importer) or (importer == "trimcp" and name in CLI_MODULES):
            continue
        broken += [f"{name} imports {i}: {why}" for i in sorted(imports) if any(within(i, f) for f in forbidden)]
    return broken


def test_each_layer_imports_only_the_layers_above_it() -> None:
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        broken += violations(name, imported_modules(name, path.read_text(), path.name == "__init__.py"))
    assert broken == []


def test_the_layering_check_can_fail() -> None:
    # Each rule, broken on purpose, is reported.
    assert violations(
        "trimcp._runtime.dispatcher", imported_modules("trimcp._runtime.dispatcher", "from .._server import x")
    )
    assert violations("trimcp._runtime.outbox", imported_modules("trimcp._runtime.outbox", "import trimcp._transports"))
    assert violations(
        "trimcp._server.tools", imported_modules("trimcp._server.tools", "from .._transports.http import a")
    )
    assert violations("trimcp.protocol.sse", imported_modules("trimcp.protocol.sse", "from .._runtime import Outbox"))
    assert violations("trimcp.testing", imported_modules("trimcp.testing", "from ._cli import main"))
    assert violations(
        "trimcp._client.open", imported_modules("trimcp._client.open", "def f():\n    from .. import _cli")
    )
    assert violations("trimcp._server.server", imported_modules("trimcp._server.server", "from .._proxy import proxy"))
    assert not violations(
        "trimcp._proxy.mirror", imported_modules("trimcp._proxy.mirror", "from .._client import Client")
    )
    assert not violations("trimcp._cli", imported_modules("trimcp._cli", "from . import _client_cli"))
    assert not violations("trimcp.protocol.sse", imported_modules("trimcp.protocol.sse", "from .errors import X"))


def test_protocol_core_imports_no_io_libraries() -> None:
    modules = sorted(module_name(path) for path in (PACKAGE / "protocol").glob("*.py"))
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {modules!r}:
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
