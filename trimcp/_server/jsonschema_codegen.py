"""The validator's fast path: a schema compiled once into Python source answering only whether a
value is valid (the closures of :mod:`.jsonschema_keywords` then say why one is not).

Each schema that needs one becomes a function ``schema_N(x) -> bool``; subschemas with no
subschemas of their own (a property's ``{"type": "integer"}``) are inlined into their parent,
so checking a list of flat objects makes one call per object instead of one per keyword and
field, and builds no paths. Nothing from the schema is written into the source but identifiers
of our own and ``repr`` of strings: every other value is a constant in the namespace.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from .jsonschema_keywords import SchemaError, fails_multiple_of, json_equal

#: Keywords whose subschemas get a function of their own (alternatives, references).
_CALLING = frozenset({"$ref", "contains", "allOf", "anyOf", "oneOf", "not", "if"})
#: Keywords applying subschemas to parts of the value (their subschemas, from the keyword's
#: value): inlined into the parent's function, down to ``_INLINED_LEVELS``.
_NESTING: dict[str, Callable[[Any], Any]] = {
    "prefixItems": lambda value: value,
    "items": lambda value: [value],
    "properties": lambda value: value.values(),
    "patternProperties": lambda value: value.values(),
    "additionalProperties": lambda value: [value],
    "propertyNames": lambda value: [value],
}
#: How many levels of nested schemas one function inlines (Python allows 20 nested blocks).
_INLINED_LEVELS = 3
_TYPE_TESTS = {
    "string": "type({0}) is str",
    "integer": "(type({0}) is int or (type({0}) is float and {0}.is_integer()))",
    "number": "(type({0}) is int or type({0}) is float)",
    "boolean": "type({0}) is bool",
    "object": "type({0}) is dict",
    "array": "type({0}) is list",
    "null": "{0} is None",
}
_COMPARISONS = {"minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">="}
_LENGTHS = {
    "minLength": ("string", "str", "<"),
    "maxLength": ("string", "str", ">"),
    "minItems": ("array", "list", "<"),
    "maxItems": ("array", "list", ">"),
    "minProperties": ("object", "dict", "<"),
    "maxProperties": ("object", "dict", ">"),
}
_MISSING = object()


def generate(schema: Any, resolve: Callable[[str], Any]) -> Callable[[Any], bool]:
    """A function answering whether a value satisfies ``schema`` (local ``$ref`` values found
    with ``resolve``). Raises :class:`SchemaError` for a schema that is not one."""
    generator = _Generator(resolve)
    root = generator.function(schema)
    source = "\n\n".join(generator.functions)
    exec(compile(source, "<trimcp schema>", "exec"), generator.namespace)  # noqa: S102 - our own source
    return generator.namespace[root]


def _accept(value: Any) -> bool:
    return True


def _reject(value: Any) -> bool:
    return False


def _any_equal(value: Any, options: list) -> bool:
    return any(json_equal(value, option) for option in options)


def _repeats(items: list) -> bool:
    if all(type(item) is str for item in items):
        return len(set(items)) != len(items)
    return any(json_equal(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items)))


def _inlinable(schema: Any, levels: int) -> bool:
    """Whether ``schema`` can be written into its parent's function: no references or
    alternatives, and at most ``levels`` levels of subschemas, all themselves inlinable."""
    if schema is True or schema is False:
        return True
    if type(schema) is not dict or not _CALLING.isdisjoint(schema):
        return False
    for keyword, subschemas in _NESTING.items():
        if keyword in schema:
            if levels == 0:
                return False
            try:
                if not all(_inlinable(sub, levels - 1) for sub in subschemas(schema[keyword])):
                    return False
            except (AttributeError, TypeError):
                return False  # not a schema: its function reports it
    return True


class _Generator:
    """Writes the functions of one schema; a schema reached twice (or recursively through
    ``$ref``) gets one function. Schemas are told apart by ``id``: all are parts of the root
    schema, alive while it is."""

    def __init__(self, resolve: Callable[[str], Any]) -> None:
        self.resolve = resolve
        self.namespace: dict[str, Any] = {
            "accept": _accept,
            "reject": _reject,
            "MISSING": _MISSING,
            "any_equal": _any_equal,
            "json_equal": json_equal,
            "repeats": _repeats,
            "fails_multiple_of": fails_multiple_of,
        }
        self.functions: list[str] = []
        self._names: dict[int, str] = {}
        self._variables = 0

    def function(self, schema: Any) -> str:
        """The name of the function checking ``schema``, written on first use."""
        if schema is True or schema == {}:
            return "accept"
        if schema is False:
            return "reject"
        if type(schema) is not dict:
            raise SchemaError("a schema must be an object or a boolean")
        name = self._names.get(id(schema))
        if name is not None:
            return name
        name = self._names[id(schema)] = f"schema_{len(self._names)}"
        lines = [f"def {name}(x):"]
        self._checks(schema, "x", lines, 1)
        lines.append("    return True")
        self.functions.append("\n".join(lines))
        return name

    def _functions(self, schemas: list) -> str:
        """A tuple of the functions checking ``schemas``, as source (flat however long)."""
        return f"({''.join(f'{self.function(sub)}, ' for sub in schemas)})"

    def _constant(self, value: Any) -> str:
        name = f"k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def _literal(self, key: Any) -> str:
        return repr(key) if type(key) is str else self._constant(key)

    def _variable(self) -> str:
        self._variables += 1
        return f"v{self._variables}"

    def _apply(self, schema: Any, var: str, lines: list[str], depth: int) -> None:
        """Statements returning False unless ``var`` satisfies ``schema``: inline where it can be."""
        if schema is True or schema == {}:
            return
        if schema is False:
            lines.append("    " * depth + "return False")
        elif _inlinable(schema, _INLINED_LEVELS):
            self._checks(schema, var, lines, depth)
        else:
            lines.append("    " * depth + f"if not {self.function(schema)}({var}): return False")

    def _checks(self, schema: dict, x: str, lines: list[str], depth: int) -> None:
        pad = "    " * depth
        emit = lines.append
        if "type" in schema:
            expected = schema["type"]
            names = [expected] if type(expected) is str else list(expected)
            tests = [_TYPE_TESTS[name].format(x) if name in _TYPE_TESTS else "True" for name in names]
            emit(f"{pad}if not ({' or '.join(tests) or 'False'}): return False")
            sure = names[0] if len(names) == 1 else None
        else:
            sure = None
        if "enum" in schema:
            options = schema["enum"]
            if options and all(type(option) is str for option in options):
                emit(f"{pad}if type({x}) is not str or {x} not in {self._constant(frozenset(options))}: return False")
            else:
                emit(f"{pad}if not any_equal({x}, {self._constant(list(options))}): return False")
        if "const" in schema:
            emit(f"{pad}if not json_equal({x}, {self._constant(schema['const'])}): return False")
        numeric = "" if sure in ("integer", "number") else f"(type({x}) is int or type({x}) is float) and "
        for keyword, operator in _COMPARISONS.items():
            if keyword in schema:
                emit(f"{pad}if {numeric}{x} {operator} {self._constant(schema[keyword])}: return False")
        if "multipleOf" in schema:
            divisor = self._constant(schema["multipleOf"])
            emit(f"{pad}if {numeric}fails_multiple_of({x}, {divisor}): return False")
        for keyword, (name, kind, operator) in _LENGTHS.items():
            if keyword in schema:
                guard = "" if sure == name else f"type({x}) is {kind} and "
                emit(f"{pad}if {guard}len({x}) {operator} {self._constant(schema[keyword])}: return False")
        if "pattern" in schema:
            try:
                regex = re.compile(schema["pattern"])
            except re.error as exc:
                raise SchemaError(f"invalid pattern {schema['pattern']!r}: {exc}") from None
            guard = "" if sure == "string" else f"type({x}) is str and "
            emit(f"{pad}if {guard}{self._constant(regex)}.search({x}) is None: return False")
        if sure == "array":
            self._array(schema, x, lines, depth)
        else:
            self._block(f"{pad}if type({x}) is list:", lines, lambda body: self._array(schema, x, body, depth + 1))
        if sure == "object":
            self._object(schema, x, lines, depth)
        else:
            self._block(f"{pad}if type({x}) is dict:", lines, lambda body: self._object(schema, x, body, depth + 1))
        self._combinations(schema, x, lines, depth)

    @staticmethod
    def _block(header: str, lines: list[str], fill: Callable[[list[str]], None]) -> None:
        """``header`` and the statements ``fill`` writes, or nothing when it writes none."""
        body: list[str] = []
        fill(body)
        if body:
            lines.append(header)
            lines.extend(body)

    def _array(self, schema: dict, x: str, lines: list[str], depth: int) -> None:
        pad = "    " * depth
        prefix = schema.get("prefixItems", ())
        for index, item_schema in enumerate(prefix):
            item = self._variable()
            fill = functools.partial(self._apply, item_schema, item, depth=depth + 1)
            self._block(f"{pad}if len({x}) > {index}:\n{pad}    {item} = {x}[{index}]", lines, fill)
        if "items" in schema:
            item = self._variable()
            items = f"{x}[{len(prefix)}:]" if prefix else x
            fill = functools.partial(self._apply, schema["items"], item, depth=depth + 1)
            self._block(f"{pad}for {item} in {items}:", lines, fill)
        if schema.get("uniqueItems") is True:
            lines.append(f"{pad}if repeats({x}): return False")
        if "contains" in schema:
            item = self._variable()
            check = self.function(schema["contains"])
            lines.append(f"{pad}if not any({check}({item}) for {item} in {x}): return False")

    def _object(self, schema: dict, x: str, lines: list[str], depth: int) -> None:
        pad = "    " * depth
        required = list(schema.get("required", ()))
        if required:
            missing = " or ".join(f"{self._literal(name)} not in {x}" for name in required)
            lines.append(f"{pad}if {missing}: return False")
        present = {name for name in required if type(name) is str}
        for name, sub in schema.get("properties", {}).items():
            value, key = self._variable(), self._literal(name)
            if name in present:
                body: list[str] = []
                self._apply(sub, value, body, depth)
                if body:
                    lines.append(f"{pad}{value} = {x}[{key}]")
                    lines.extend(body)
            else:
                fill = functools.partial(self._apply, sub, value, depth=depth + 1)
                self._block(f"{pad}{value} = {x}.get({key}, MISSING)\n{pad}if {value} is not MISSING:", lines, fill)
        patterns = [(re.compile(pattern), sub) for pattern, sub in schema.get("patternProperties", {}).items()]
        if patterns:
            key, value = self._variable(), self._variable()
            body = []
            for regex, sub in patterns:
                fill = functools.partial(self._apply, sub, value, depth=depth + 2)
                self._block(f"{pad}    if {self._constant(regex)}.search({key}):", body, fill)
            if body:
                lines.append(f"{pad}for {key}, {value} in {x}.items():")
                lines.extend(body)
        if "additionalProperties" in schema:
            self._additional(schema, x, [regex for regex, _ in patterns], lines, depth)
        if "propertyNames" in schema:
            key = self._variable()
            fill = functools.partial(self._apply, schema["propertyNames"], key, depth=depth + 1)
            self._block(f"{pad}for {key} in {x}:", lines, fill)

    def _additional(self, schema: dict, x: str, patterns: list[re.Pattern], lines: list[str], depth: int) -> None:
        pad = "    " * depth
        extra = schema["additionalProperties"]
        if extra is True or extra == {}:
            return
        known = self._constant(frozenset(schema.get("properties", ())))
        if not patterns and extra is False:
            lines.append(f"{pad}if not {x}.keys() <= {known}: return False")
            return
        key, value = self._variable(), self._variable()
        matched = "".join(f" or {self._constant(regex)}.search({key})" for regex in patterns)
        body: list[str] = []
        self._apply(extra, value, body, depth + 1)
        if body:
            lines.append(f"{pad}for {key}, {value} in {x}.items():")
            lines.append(f"{pad}    if {key} in {known}{matched}: continue")
            lines.extend(body)

    def _combinations(self, schema: dict, x: str, lines: list[str], depth: int) -> None:
        pad = "    " * depth
        emit = lines.append
        if "$ref" in schema:
            emit(f"{pad}if not {self.function(self.resolve(schema['$ref']))}({x}): return False")
        for sub in schema.get("allOf", ()):
            self._apply(sub, x, lines, depth)
        if "anyOf" in schema:
            either = " or ".join(f"{self.function(sub)}({x})" for sub in schema["anyOf"])  # flat, however long
            emit(f"{pad}if not ({either or 'False'}): return False")
        if "oneOf" in schema:
            # A loop, not ``a(x) + b(x) + ...``: that nests a level per branch, and compile()
            # runs out of stack near 3,000 branches.
            emit(f"{pad}if [check({x}) for check in {self._functions(schema['oneOf'])}].count(True) != 1: return False")
        if "not" in schema:
            emit(f"{pad}if {self.function(schema['not'])}({x}): return False")
        if "if" in schema:
            condition = self.function(schema["if"])
            then = self.function(schema["then"]) if "then" in schema else "accept"
            otherwise = self.function(schema["else"]) if "else" in schema else "accept"
            emit(f"{pad}if not ({then}({x}) if {condition}({x}) else {otherwise}({x})): return False")
