"""The keywords of trimcp's JSON Schema validator: one builder per keyword, compiling it into a
closure (see :mod:`.jsonschema`), and the JSON notions they share (types, equality, paths)."""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol

#: A compiled check: returns ``None`` when ``value`` is valid, else a message naming ``path``.
Check = Callable[[Any, str], "str | None"]


class Compiler(Protocol):
    """What a keyword builder needs from the validator compiling the whole schema."""

    def compile(self, schema: Any) -> Check: ...

    def resolve(self, ref: str) -> Any: ...


_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


class SchemaError(ValueError):
    """The schema itself is unusable (for example, a ``$ref`` that points nowhere)."""


def json_type_name(value: Any) -> str:
    """The JSON type of a decoded value, as schemas name it."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _is_type(value: Any, name: str) -> bool:
    kind = type(value)
    if name == "string":
        return kind is str
    if name == "integer":
        return kind is int or (kind is float and value.is_integer())
    if name == "number":
        return kind is int or kind is float
    if name == "boolean":
        return kind is bool
    if name == "object":
        return kind is dict
    if name == "array":
        return kind is list
    if name == "null":
        return value is None
    return True


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: ``1 == 1.0`` but ``True != 1``."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def _join(path: str, key: str | int) -> str:
    if type(key) is int:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def where(path: str) -> str:
    return path or "value"


def accept(value: Any, path: str) -> None:
    return None


def run_all(checks: list[Check], value: Any, path: str) -> str | None:
    for check in checks:
        error = check(value, path)
        if error is not None:
            return error
    return None


def _build_ref(v: Compiler, schema: dict) -> Check:
    # A schema already being compiled (a recursive reference) is found in the cache as a
    # forwarder to its checks, so compiling eagerly terminates and finds dangling refs now.
    return v.compile(v.resolve(schema["$ref"]))


def _build_type(v: Compiler, schema: dict) -> Check:
    expected = schema["type"]
    names = [expected] if type(expected) is str else expected
    if type(names) is not list or not all(type(name) is str for name in names):
        raise SchemaError(f"type must be a type name or a list of them, not {_short(expected)}")
    wanted = " or ".join(names)
    if len(names) == 1:
        name = names[0]

        def check_one(value: Any, path: str) -> str | None:
            if _is_type(value, name):
                return None
            return f"{where(path)}: expected {wanted}, got {json_type_name(value)}"

        return check_one

    def check(value: Any, path: str) -> str | None:
        for name in names:
            if _is_type(value, name):
                return None
        return f"{where(path)}: expected {wanted}, got {json_type_name(value)}"

    return check


def _build_enum(v: Compiler, schema: dict) -> Check:
    options = schema["enum"]
    shown = ", ".join(_short(option) for option in options)

    def check(value: Any, path: str) -> str | None:
        for option in options:
            if json_equal(value, option):
                return None
        return f"{where(path)}: must be one of {shown}, got {_short(value)}"

    return check


def _build_const(v: Compiler, schema: dict) -> Check:
    const = schema["const"]

    def check(value: Any, path: str) -> str | None:
        if json_equal(value, const):
            return None
        return f"{where(path)}: must be {_short(const)}, got {_short(value)}"

    return check


def _numeric(keyword: str, fails: Callable[[Any, Any], bool], words: str) -> Callable[[Compiler, dict], Check]:
    def build(v: Compiler, schema: dict) -> Check:
        limit = schema[keyword]

        def check(value: Any, path: str) -> str | None:
            if (type(value) is int or type(value) is float) and fails(value, limit):
                return f"{where(path)}: must be {words} {limit}, got {value}"
            return None

        return check

    return build


def fails_multiple_of(value: Any, divisor: Any) -> bool:
    """Whether ``value`` fails to be a multiple of ``divisor``, in exact rational arithmetic on
    the numbers as written (so 0.3 is a multiple of 0.1, and huge JSON integers stay exact). A
    divisor of zero or one that is not a number fails every value, as does NaN."""
    try:
        if type(value) is int and type(divisor) is int:
            return value % divisor != 0
        return _as_written(value) % _as_written(divisor) != 0
    except (ValueError, ZeroDivisionError, TypeError):
        return True


def _as_written(number: Any) -> Fraction:
    """The exact value of a JSON number: a float as its shortest decimal (``0.1`` is 1/10)."""
    return Fraction(number) if type(number) is int else Fraction(repr(number))


def _length(keyword: str, kind: type, fails: Callable[[int, int], bool], words: str, unit: str) -> Callable:
    def build(v: Compiler, schema: dict) -> Check:
        limit = schema[keyword]

        def check(value: Any, path: str) -> str | None:
            if type(value) is kind and fails(len(value), limit):
                return f"{where(path)}: must have {words} {limit} {unit}, got {len(value)}"
            return None

        return check

    return build


def _build_pattern(v: Compiler, schema: dict) -> Check:
    try:
        regex = re.compile(schema["pattern"])
    except re.error as exc:
        raise SchemaError(f"invalid pattern {schema['pattern']!r}: {exc}") from None

    def check(value: Any, path: str) -> str | None:
        if type(value) is str and regex.search(value) is None:
            return f"{where(path)}: must match the pattern {regex.pattern!r}"
        return None

    return check


def _build_items(v: Compiler, schema: dict) -> Check:
    item_check = v.compile(schema["items"])
    start = len(schema.get("prefixItems", ()))

    def check(value: Any, path: str) -> str | None:
        if type(value) is list:
            for index in range(start, len(value)):
                error = item_check(value[index], _join(path, index))
                if error is not None:
                    return error
        return None

    return check


def _build_prefix_items(v: Compiler, schema: dict) -> Check:
    checks = [v.compile(item) for item in schema["prefixItems"]]

    def check(value: Any, path: str) -> str | None:
        if type(value) is list:
            for index, (item, item_check) in enumerate(zip(value, checks)):
                error = item_check(item, _join(path, index))
                if error is not None:
                    return error
        return None

    return check


def _build_unique_items(v: Compiler, schema: dict) -> Check | None:
    if schema["uniqueItems"] is not True:
        return None

    def check(value: Any, path: str) -> str | None:
        if type(value) is list:
            for i in range(len(value)):
                for j in range(i + 1, len(value)):
                    if json_equal(value[i], value[j]):
                        return f"{where(path)}: items must be unique ({_short(value[i])} repeats)"
        return None

    return check


def _build_contains(v: Compiler, schema: dict) -> Check:
    inner = v.compile(schema["contains"])

    def check(value: Any, path: str) -> str | None:
        if type(value) is list and not any(inner(item, "") is None for item in value):
            return f"{where(path)}: must contain at least one matching item"
        return None

    return check


def _build_properties(v: Compiler, schema: dict) -> Check:
    checks = [(name, v.compile(sub)) for name, sub in schema["properties"].items()]

    def check(value: Any, path: str) -> str | None:
        if type(value) is dict:
            for name, prop_check in checks:
                if name in value:
                    error = prop_check(value[name], _join(path, name))
                    if error is not None:
                        return error
        return None

    return check


def _build_required(v: Compiler, schema: dict) -> Check:
    required = list(schema["required"])

    def check(value: Any, path: str) -> str | None:
        if type(value) is dict:
            for name in required:
                if name not in value:
                    return f"{_join(path, name)}: required but missing"
        return None

    return check


def _build_additional(v: Compiler, schema: dict) -> Check:
    known = set(schema.get("properties", ()))
    patterns = [re.compile(p) for p in schema.get("patternProperties", ())]
    extra = schema["additionalProperties"]
    inner = None if extra is False else v.compile(extra)

    def check(value: Any, path: str) -> str | None:
        if type(value) is dict:
            for name, item in value.items():
                if name in known or any(p.search(name) for p in patterns):
                    continue
                if inner is None:
                    return f"{_join(path, name)}: unexpected property"
                error = inner(item, _join(path, name))
                if error is not None:
                    return error
        return None

    return check


def _build_pattern_properties(v: Compiler, schema: dict) -> Check:
    checks = [(re.compile(p), v.compile(sub)) for p, sub in schema["patternProperties"].items()]

    def check(value: Any, path: str) -> str | None:
        if type(value) is dict:
            for name, item in value.items():
                for regex, inner in checks:
                    if regex.search(name):
                        error = inner(item, _join(path, name))
                        if error is not None:
                            return error
        return None

    return check


def _build_property_names(v: Compiler, schema: dict) -> Check:
    inner = v.compile(schema["propertyNames"])

    def check(value: Any, path: str) -> str | None:
        if type(value) is dict:
            for name in value:
                error = inner(name, _join(path, name))
                if error is not None:
                    return f"{_join(path, name)}: invalid property name ({error})"
        return None

    return check


def _build_all_of(v: Compiler, schema: dict) -> Check:
    checks = [v.compile(sub) for sub in schema["allOf"]]
    return lambda value, path: run_all(checks, value, path)


def _build_any_of(v: Compiler, schema: dict) -> Check:
    checks = [v.compile(sub) for sub in schema["anyOf"]]

    def check(value: Any, path: str) -> str | None:
        errors = []
        for inner in checks:
            error = inner(value, path)
            if error is None:
                return None
            errors.append(error)
        return (
            errors[0] if len(errors) == 1 else f"{where(path)}: matches none of the allowed forms ({'; '.join(errors)})"
        )

    return check


def _build_one_of(v: Compiler, schema: dict) -> Check:
    checks = [v.compile(sub) for sub in schema["oneOf"]]

    def check(value: Any, path: str) -> str | None:
        matches = sum(1 for inner in checks if inner(value, path) is None)
        if matches == 1:
            return None
        if matches == 0:
            return f"{where(path)}: matches none of the allowed forms"
        return f"{where(path)}: matches {matches} of the forms where exactly one is allowed"

    return check


def _build_not(v: Compiler, schema: dict) -> Check:
    inner = v.compile(schema["not"])

    def check(value: Any, path: str) -> str | None:
        if inner(value, path) is None:
            return f"{where(path)}: matches a form that is not allowed"
        return None

    return check


def _build_if(v: Compiler, schema: dict) -> Check:
    condition = v.compile(schema["if"])
    then = v.compile(schema["then"]) if "then" in schema else accept
    otherwise = v.compile(schema["else"]) if "else" in schema else accept

    def check(value: Any, path: str) -> str | None:
        return then(value, path) if condition(value, path) is None else otherwise(value, path)

    return check


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."


BUILDERS: dict[str, Callable[[Compiler, dict], Check | None]] = {
    "$ref": _build_ref,
    "type": _build_type,
    "enum": _build_enum,
    "const": _build_const,
    "minimum": _numeric("minimum", lambda x, n: x < n, "at least"),
    "maximum": _numeric("maximum", lambda x, n: x > n, "at most"),
    "exclusiveMinimum": _numeric("exclusiveMinimum", lambda x, n: x <= n, "greater than"),
    "exclusiveMaximum": _numeric("exclusiveMaximum", lambda x, n: x >= n, "less than"),
    "multipleOf": _numeric("multipleOf", fails_multiple_of, "a multiple of"),
    "minLength": _length("minLength", str, lambda n, m: n < m, "at least", "characters"),
    "maxLength": _length("maxLength", str, lambda n, m: n > m, "at most", "characters"),
    "pattern": _build_pattern,
    "prefixItems": _build_prefix_items,
    "items": _build_items,
    "minItems": _length("minItems", list, lambda n, m: n < m, "at least", "items"),
    "maxItems": _length("maxItems", list, lambda n, m: n > m, "at most", "items"),
    "uniqueItems": _build_unique_items,
    "contains": _build_contains,
    "required": _build_required,
    "properties": _build_properties,
    "patternProperties": _build_pattern_properties,
    "additionalProperties": _build_additional,
    "propertyNames": _build_property_names,
    "minProperties": _length("minProperties", dict, lambda n, m: n < m, "at least", "properties"),
    "maxProperties": _length("maxProperties", dict, lambda n, m: n > m, "at most", "properties"),
    "allOf": _build_all_of,
    "anyOf": _build_any_of,
    "oneOf": _build_one_of,
    "not": _build_not,
    "if": _build_if,
}
