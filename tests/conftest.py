"""Shared test helpers: the example server, and validation against the official MCP schemas."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCHEMA_DIR = Path(os.environ.get("TRIMCP_SCHEMA_DIR", ROOT.parent / "shared" / "mcp-schema"))


def load_example(name: str) -> Any:
    """Import ``examples/<name>.py`` as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo_server() -> Any:
    return load_example("demo").server


@functools.cache
def _schema(version: str) -> dict[str, Any]:
    path = SCHEMA_DIR / version / "schema.json"
    assert path.exists(), f"the official MCP schemas are expected at {SCHEMA_DIR} (set TRIMCP_SCHEMA_DIR)"
    return json.loads(path.read_text())


def assert_valid(version: str, definition: str, value: Any) -> None:
    """Validate ``value`` against ``#/$defs/<definition>`` (or ``definitions``) of a revision."""
    schema = _schema(version)
    defs_key = "$defs" if "$defs" in schema else "definitions"
    wrapper = {**schema, "$ref": f"#/{defs_key}/{definition}"}
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(wrapper).iter_errors(value), key=lambda e: list(e.path))
    assert not errors, f"{definition} ({version}) invalid: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )


sys.path.insert(0, str(ROOT))
