"""A small JSON Schema (2020-12) validator, compiled once into closures.

It covers the keywords tool schemas use in practice — ``type``, ``enum``, ``const``, the
numeric, string, array and object keywords, ``anyOf``/``oneOf``/``allOf``/``not``,
``if``/``then``/``else`` and local ``$ref`` — and ignores keywords it does not know, as the
specification allows for annotations. ``format`` is an annotation here, not an assertion.
Each keyword's builder is in :mod:`.jsonschema_keywords`. A valid value is recognised by the
generated code of :mod:`.jsonschema_codegen` alone; the closures only run to explain a failure.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from .jsonschema_codegen import generate
from .jsonschema_keywords import BUILDERS, Check, SchemaError, accept, json_type_name, run_all, where

__all__ = ["SchemaError", "Validator", "json_type_name"]


class Validator:
    """Validate decoded JSON against one schema. Raises :class:`SchemaError` on a broken schema."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._cache: dict[int, Check] = {}
        self._check = self.compile(schema)
        self._valid = generate(schema, self.resolve)

    def first_error(self, value: Any, path: str = "") -> str | None:
        """The first problem found, as a sentence naming the place, or ``None`` if valid."""
        if self._valid(value):
            return None
        return self._check(value, path)

    def is_valid(self, value: Any) -> bool:
        return self._valid(value)

    # -- compilation --------------------------------------------------------------------------

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return accept
        if schema is False:
            return lambda value, path: f"{where(path)}: no value is allowed here"
        if type(schema) is not dict:
            raise SchemaError(f"a schema must be an object or a boolean, not {json_type_name(schema)}")
        key = id(schema)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        checks: list[Check] = []
        # Register a forwarder first so recursive $refs resolve to this schema's checks.
        self._cache[key] = lambda value, path: run_all(checks, value, path)
        for keyword, builder in BUILDERS.items():
            if keyword in schema:
                check = builder(self, schema)
                if check is not None:
                    checks.append(check)
        compiled = checks[0] if len(checks) == 1 else (lambda value, path: run_all(checks, value, path))
        self._cache[key] = compiled
        return compiled

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaError(f"only local $ref values are supported, not {ref!r}")
        node: Any = self.schema
        pointer = urllib.parse.unquote(ref[1:])  # a URI fragment: percent-decoded (RFC 6901 §6)
        if pointer:
            for part in pointer.lstrip("/").split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if type(node) is dict and part in node:
                    node = node[part]
                elif type(node) is list and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    raise SchemaError(f"$ref {ref!r} points nowhere")
        return node
