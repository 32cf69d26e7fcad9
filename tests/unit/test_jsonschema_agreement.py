"""Differential tests for trimcp's JSON Schema validator (trimcp._server.jsonschema).

The validator has two paths to a verdict: the closures built per keyword (``Validator._check``,
which also words the message) and a fast path that only answers valid/invalid (``is_valid``, and
``first_error``, which runs it first and asks the closures only on failure). Hypothesis generates
schemas using every keyword the validator knows, with values drawn from the same small pools of
keys, strings and numbers so that both outcomes are common, and checks that

* ``is_valid(v)`` agrees with ``_check(v, "") is None``, and ``first_error`` returns the very same
  message as ``_check`` (with and without a path prefix);
* for schemas the 2020-12 metaschema accepts, the verdict agrees with the ``jsonschema``
  reference implementation, except in the few places listed at ``_known_difference``.

The explicit tests further down aim at spots where a code generator tends to go wrong.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from trimcp._server.jsonschema import Validator
from trimcp._server.jsonschema_keywords import BUILDERS

Reference = jsonschema.Draft202012Validator

# -- pools shared by schemas and values ---------------------------------------------------------------------

#: Property names, also used as dictionary keys in values. Several are not Python identifiers, or are
#: names a code generator might use for its own locals.
KEYS = ["a", "b", "c", "n_1", "x-n", "", "é", "𝄞", "__class__", 'q"t', "it's", "b\\s", "n\nl", "1", "value", "path"]
STRINGS = [
    "",
    "a",
    "ab",
    "abc",
    "abcd",
    "b",
    "bb",
    "x-y",
    "A1",
    "7",
    "é",
    "😀",
    "😀😀",
    "a𝄞",
    "𝄞𝄞𝄞",
    "ab\n",
    "a\nb",
    "null",
]
NUMBERS = [
    0,
    1,
    -1,
    2,
    3,
    4,
    7,
    10,
    12,
    0.0,
    -0.0,
    1.0,
    2.0,
    3.0,
    0.5,
    1.5,
    2.5,
    -2.5,
    0.1,
    0.3,
    1e-7,
    10**30,
    -(10**30),
    10**30 + 1,
    2**53 + 1,
    9007199254740992.0,  # 2**53, the float the integer above rounds to
    1e30,
    1e308,
    sys.float_info.max,
    -sys.float_info.max,
    sys.float_info.min,
    5e-324,
]
LIMITS = [0, 1, 2, 3, 10, -1, 0.5, 2.5, 1.0, -0.0, 10**30, 2**53 + 1, 9007199254740992.0, 1e308, 5e-324]
DIVISORS = [2, 0.5, 3, 4, 1, 0.25, 1.5, 2.0, 0.1, 10**30]
#: Safe regexes (the same meaning in Python's ``re`` as in ECMA 262 for these inputs).
PATTERNS = ["^a", "b+", "^[a-z]*$", "\\d", "^x-", "^n_", "é|😀|𝄞", "^$", "^.{2}$", "_", '"|\\\\']
TYPES = ["integer", "object", "array", "string", "number", "boolean", "null"]
DEF_NAMES = ["node", "x", "a/b", "c~d"]

#: Keywords with no subschema.
LEAF_KEYWORDS = [
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "required",
    "minProperties",
    "maxProperties",
]
#: Keywords whose subschemas apply to parts of the value (so a $ref "#" under them terminates).
DESCENDING_KEYWORDS = [
    "prefixItems",
    "items",
    "contains",
    "properties",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
]
#: Keywords whose subschemas apply to the value itself ("then"/"else" also appear without "if").
IN_PLACE_KEYWORDS = ["allOf", "anyOf", "oneOf", "not", "if", "then", "else"]
#: Annotations: ignored by both implementations (``format`` is not asserted by default in either).
ANNOTATIONS = ["title", "description", "format", "default", "examples", "$comment", "x-custom"]


# -- strategies ---------------------------------------------------------------------------------------------

_leaf_values = st.one_of(
    st.sampled_from(STRINGS + KEYS),
    st.sampled_from(NUMBERS),
    st.booleans(),
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=3),  # includes astral characters
    st.integers(-3, 12),
    st.floats(allow_nan=False, allow_infinity=False),
)
#: Small JSON values, for enum, const and annotations.
small_json = st.recursive(
    _leaf_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=5,
)


@dataclass(frozen=True)
class _Context:
    defs: tuple[str, ...]  # names under the root's $defs
    guarded: bool  # a descending keyword lies between here and the schema a "$ref" could lead back to
    in_def: bool  # inside one of the $defs


def _pointer(name: str) -> str:
    return "#/$defs/" + name.replace("~", "~0").replace("/", "~1")


def _ref_targets(ctx: _Context) -> list[str]:
    # Every cycle of references must pass through a descending keyword, or validation would not
    # terminate (in either implementation): "#" only below one, and a $def refers to anything only
    # below one. The root may refer in place to a $def.
    defs = [_pointer(name) for name in ctx.defs]
    if ctx.guarded:
        return ["#", "#", *defs]
    return [] if ctx.in_def else defs


@functools.cache  # building strategies is slow: build each (keyword, context, depth) once
def _keyword_value(keyword: str, ctx: _Context, depth: int) -> st.SearchStrategy[Any]:
    below = replace(ctx, guarded=True)
    descend = _schema(below, depth - 1)
    in_place = _schema(ctx, depth - 1)
    if keyword == "type":
        return st.sampled_from(TYPES) | st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True)
    if keyword == "enum":
        return st.lists(small_json, max_size=4)
    if keyword in ("const", "default", "x-custom"):
        return small_json
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return st.sampled_from(LIMITS)
    if keyword == "multipleOf":
        return st.sampled_from(DIVISORS)
    if keyword in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        return st.integers(0, 4) | st.just(2.0)  # an integral float is an integer to the metaschema
    if keyword == "pattern":
        return st.sampled_from(PATTERNS)
    if keyword == "uniqueItems":
        return st.booleans()
    if keyword == "required":
        # Now and then with a repeat, which the metaschema refuses (so no reference comparison).
        return st.lists(st.sampled_from(KEYS), max_size=3)
    if keyword == "prefixItems":
        return st.lists(descend, min_size=1, max_size=3)
    if keyword in ("items", "additionalProperties"):
        return st.just(False) | descend  # "no more items/properties" is the usual use
    if keyword in ("contains", "propertyNames"):
        return descend
    if keyword == "properties":
        return st.dictionaries(st.sampled_from(KEYS), descend, max_size=3)
    if keyword == "patternProperties":
        return st.dictionaries(st.sampled_from(PATTERNS), descend, max_size=2)
    if keyword in ("allOf", "anyOf", "oneOf"):
        return st.lists(in_place, min_size=1, max_size=3)
    if keyword in ("not", "if", "then", "else"):
        return in_place
    if keyword == "$ref":
        return st.sampled_from(_ref_targets(ctx))
    if keyword == "format":
        return st.sampled_from(["date-time", "email", "uuid", "ipv4", "uri", "regex"])
    if keyword == "examples":
        return st.lists(small_json, max_size=2)
    if keyword in ("title", "description", "$comment"):
        return st.sampled_from(STRINGS)
    raise AssertionError(keyword)


@functools.cache
@st.composite
def _schema(draw: st.DrawFn, ctx: _Context, depth: int) -> Any:
    # (Hypothesis favours the first of a sampled_from: here the dict; in the pools, what comes first.)
    if draw(st.sampled_from([False, False, False, False, True])):
        return draw(st.booleans())
    chosen: list[str] = []
    for keyword in draw(_keyword_sets(depth > 0, bool(_ref_targets(ctx)))):
        if keyword == "an annotation":
            keyword = draw(st.sampled_from(ANNOTATIONS))
        chosen += [name for name in _GROUPS.get(keyword, [keyword]) if name not in chosen]
    return {keyword: draw(_keyword_value(keyword, ctx, depth)) for keyword in chosen}


#: Keywords that act together, drawn as one so that they meet often.
_GROUPS = {
    "if/then/else": ["if", "then", "else"],
    "prefixItems+items": ["prefixItems", "items"],
    "properties+additional": ["properties", "additionalProperties"],
    "patterns+additional": ["properties", "patternProperties", "additionalProperties"],
    "object": ["type", "properties", "required"],
    "array+unique": ["type", "items", "uniqueItems"],
}


@functools.cache
def _keyword_sets(subschemas: bool, refs: bool) -> st.SearchStrategy[list[str]]:
    # "type" and "required" twice: they are what most often makes a value invalid.
    keywords = [*LEAF_KEYWORDS, "type", "required", "an annotation"]
    if subschemas:
        keywords += DESCENDING_KEYWORDS + IN_PLACE_KEYWORDS + list(_GROUPS)
    if refs:
        keywords += ["$ref", "$ref"]
    return st.lists(st.sampled_from(keywords), max_size=4, unique=True)


@st.composite
def schemas(draw: st.DrawFn) -> Any:
    """A schema up to four levels deep, perhaps with $defs referred to from anywhere in it."""
    defs = tuple(draw(st.lists(st.sampled_from(DEF_NAMES), max_size=2, unique=True)))
    schema = draw(_schema(_Context(defs, guarded=False, in_def=False), 3))
    if not defs:
        return schema
    if type(schema) is bool:
        schema = {} if schema else {"not": {}}
    if draw(st.booleans()):
        schema["$ref"] = _pointer(defs[0])
    schema["$defs"] = {name: draw(_schema(_Context(defs, guarded=False, in_def=True), 2)) for name in defs}
    return schema


def _twins(value: Any) -> list[Any]:
    """Look-alikes of ``value`` a validator must tell apart or not (1, 1.0 and true; [1] and [1.0]),
    the trickiest first (Hypothesis favours the first of a sampled_from), then ``value`` itself."""
    if type(value) is bool:
        return [int(value), value]
    if type(value) is int:
        twins = [bool(value)] if value in (0, 1) else []
        if abs(value) < 2**63:
            twins.append(float(value))
        return [*twins, value, value + 1, -value]
    if type(value) is float:
        twins = [int(value)] if value.is_integer() else []
        return [*twins, value, -value, *(twin for twin in (value * 3, value + 1) if math.isfinite(twin))]
    if type(value) is list and value:
        return [[_twins(value[0])[0], *value[1:]], value, value[:-1]]
    if type(value) is dict and value:
        key = next(iter(value))
        return [{**value, key: _twins(value[key])[0]}, value, {k: v for k, v in value.items() if k != key}]
    return [value]


def _constants(schema: Any) -> list[Any]:
    """Values the schema mentions (enum, const, limits), with their twins."""
    values: list[Any] = []
    for node in _walk_schemas(schema):
        for keyword, sub in node.items():
            if keyword == "enum":
                for option in sub:
                    values.extend(_twins(option))
            elif keyword in ("const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
                values.extend(_twins(sub))
    return values


@dataclass(frozen=True)
class _FromSchema:
    """A hole in a generated value, filled with one of the schema's constants."""

    index: int


#: Values with holes; one fixed strategy, as building strategies per example is slow. Property names
#: come from KEYS, the pool the schemas take theirs from.
_values_with_holes = st.recursive(
    _leaf_values | st.integers(0, 31).map(_FromSchema) | st.integers(0, 31).map(_FromSchema),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=10,
)


def _fill(value: Any, constants: list[Any]) -> Any:
    if type(value) is _FromSchema:
        return constants[value.index % len(constants)] if constants else value.index
    if type(value) is list:
        return [_fill(item, constants) for item in value]
    if type(value) is dict:
        return {key: _fill(item, constants) for key, item in value.items()}
    return value


_ARRAY_KEYWORDS = {"prefixItems", "items", "minItems", "maxItems", "uniqueItems", "contains"}
_OBJECT_KEYWORDS = {"required", "properties", "patternProperties", "additionalProperties", "propertyNames"}
_OBJECT_KEYWORDS |= {"minProperties", "maxProperties"}
_STRING_KEYWORDS = {"minLength", "maxLength", "pattern"}


def _resolve(root: Any, ref: str) -> Any:
    if ref == "#":
        return root
    name = ref.removeprefix("#/$defs/").replace("~1", "/").replace("~0", "~")
    return root["$defs"][name]


@st.composite
def _shaped(draw: st.DrawFn, schema: Any, root: Any, depth: int) -> Any:
    """A value made to fit ``schema`` where a cheap guess can: the keys it names, the prefix it
    lists, strings its pattern matches. Now and then, and below some depth, any value instead."""
    if type(schema) is not dict or depth <= 0 or draw(st.sampled_from([False] * 7 + [True])):
        return draw(_values_with_holes)
    # Follow one of the schemas that apply to the value itself.
    alternatives = [schema, *schema.get("allOf", ()), *schema.get("anyOf", ()), *schema.get("oneOf", ())]
    alternatives += [schema[keyword] for keyword in ("then", "else") if keyword in schema]
    if "$ref" in schema:
        alternatives.append(_resolve(root, schema["$ref"]))
    chosen = draw(st.sampled_from(alternatives))
    if chosen is not schema:
        return draw(_shaped(chosen, root, depth - 1))
    if "const" in schema and draw(st.booleans()):
        return draw(st.sampled_from(_twins(schema["const"])))
    if schema.get("enum") and draw(st.booleans()):
        return draw(st.sampled_from(_twins(draw(st.sampled_from(schema["enum"])))))
    if "type" in schema:
        kinds = [schema["type"]] if type(schema["type"]) is str else schema["type"] or ["null"]
    else:
        kinds = [
            kind
            for kind, keywords in (
                ("array", _ARRAY_KEYWORDS),
                ("object", _OBJECT_KEYWORDS),
                ("string", _STRING_KEYWORDS),
            )
            if keywords & schema.keys()
        ] or TYPES
    kind = draw(st.sampled_from(kinds))
    if kind == "array":
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", True)
        value = [draw(_shaped(sub, root, depth - 1)) for sub in prefix[: draw(st.integers(0, len(prefix)))]]
        if len(value) == len(prefix):
            value += [draw(_shaped(items, root, depth - 1)) for _ in range(draw(st.integers(0, 2)))]
        if "contains" in schema and draw(st.booleans()):
            value.append(draw(_shaped(schema["contains"], root, depth - 1)))
        if value and "uniqueItems" in schema and draw(st.booleans()):
            value.append(draw(st.sampled_from(_twins(draw(st.sampled_from(value))))))
        return value
    if kind == "object":
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        matching = [key for key in KEYS if any(re.search(pattern, key) for pattern in patterns)]
        names = list(schema.get("required", ())) + draw(
            st.lists(st.sampled_from([*properties, *matching, *KEYS]), max_size=4)
        )
        value = {}
        for name in names[:6]:
            subs = [properties[name]] if name in properties else []
            subs += [sub for pattern, sub in patterns.items() if re.search(pattern, name)]
            sub = subs[0] if subs else schema.get("additionalProperties", True)
            value[name] = draw(_shaped(sub, root, depth - 1))
        return value
    if kind == "string":
        pattern = schema.get("pattern")
        fitting = [text for text in STRINGS + KEYS if pattern is None or re.search(pattern, text)]
        return draw(st.sampled_from(fitting or STRINGS))
    if kind in ("integer", "number"):
        number = draw(st.sampled_from(_constants({key: schema[key] for key in schema if key != "enum"}) + NUMBERS))
        return draw(st.sampled_from(_twins(number)))
    return {"boolean": draw(st.booleans()), "null": None}.get(kind)


@st.composite
def schema_and_values(draw: st.DrawFn) -> tuple[Any, list[Any]]:
    """A schema, and a few values shaped after it or made of the pools and what it mentions."""
    schema = draw(schemas())
    constants = _constants(schema)
    values = draw(st.lists(_shaped(schema, schema, 6), min_size=3, max_size=10))
    return schema, [_fill(value, constants) for value in values]


# -- the checks ---------------------------------------------------------------------------------------------


def agree(schema: Any, value: Any) -> bool:
    """Assert that the fast path and the closures agree; return the verdict."""
    validator = Validator(schema)
    closure_error = validator._check(value, "")
    assert validator.is_valid(value) == (closure_error is None), closure_error
    assert validator.first_error(value) == closure_error
    assert validator.first_error(value, "arguments") == validator._check(value, "arguments")
    return closure_error is None


def _walk_values(value: Any):
    yield value
    if type(value) is list:
        for item in value:
            yield from _walk_values(item)
    elif type(value) is dict:
        for item in value.values():
            yield from _walk_values(item)


def _walk_schemas(schema: Any):
    """Every schema object in ``schema``, itself included (not the values of enum, const...)."""
    if type(schema) is not dict:
        return
    yield schema
    for keyword, sub in schema.items():
        if keyword in ("properties", "patternProperties", "$defs") and type(sub) is dict:
            subs = list(sub.values())
        elif keyword in ("prefixItems", "allOf", "anyOf", "oneOf") and type(sub) is list:
            subs = sub
        elif keyword in DESCENDING_KEYWORDS or keyword in IN_PLACE_KEYWORDS:
            subs = [sub]
        else:
            continue
        for item in subs:
            yield from _walk_schemas(item)


def _spec_equal(a: Any, b: Any) -> bool:
    """JSON equality as the specification has it (1 == 1.0, true != 1), written independently."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_spec_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_spec_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _spec_multiple(number: Any, divisor: Any) -> bool:
    """Whether ``number`` is a multiple of ``divisor``, on the decimal numbers as written."""
    return (Fraction(repr(number)) / Fraction(repr(divisor))).denominator == 1


def _known_difference(schema: Any, value: Any) -> str | None:
    """Why the reference's verdict is not comparable for this example, or None if it is.

    Each exclusion is triggered by the *reference* disagreeing with an independent statement of the
    specification on a (keyword, part-of-value) pair present in the example, never by trimcp's answer:

    * ``multipleOf``: trimcp computes on the decimal numbers as written (0.3 is a multiple of 0.1,
      1e308 is not a multiple of 3); the reference divides binary floats (test_jsonschema.py,
      test_multiple_of). Deliberate.
    * ``uniqueItems``: the reference sorts the array first and then compares only neighbours, so
      ``[[1], [true], [1.0]]`` counts as unique though ``[1]`` equals ``[1.0]``. A reference bug.
    """
    divisors = {repr(s["multipleOf"]): s["multipleOf"] for s in _walk_schemas(schema) if "multipleOf" in s}
    has_unique = any(s.get("uniqueItems") is True for s in _walk_schemas(schema))
    for part in _walk_values(value):
        if type(part) in (int, float):
            for divisor in divisors.values():
                if type(divisor) not in (int, float) or type(divisor) is bool or divisor <= 0:
                    continue
                try:
                    reference = Reference({"multipleOf": divisor}).is_valid(part)
                except OverflowError:
                    return "multipleOf: the reference overflows"
                if reference != _spec_multiple(part, divisor):
                    return "multipleOf: binary floats in the reference"
        elif type(part) is list and has_unique:
            spec = all(not _spec_equal(x, y) for i, x in enumerate(part) for y in part[i + 1 :])
            if Reference({"uniqueItems": True}).is_valid(part) != spec:
                return "uniqueItems: the reference's sort-then-compare-neighbours"
    return None


_metaschema_verdicts: dict[str, bool] = {}


def _metaschema_accepts(schema: Any) -> bool:
    """Whether the 2020-12 metaschema accepts ``schema`` (remembered: the explicit tests reuse schemas)."""
    key = repr(schema)  # tells 1 from 1.0 from True, and -0.0 from 0.0
    if key not in _metaschema_verdicts:
        try:
            Reference.check_schema(schema)
            _metaschema_verdicts[key] = True
        except jsonschema.SchemaError:
            _metaschema_verdicts[key] = False
    return _metaschema_verdicts[key]


def reference_verdict(schema: Any, value: Any) -> bool | None:
    """The reference's verdict, or None where there is none to compare with (see above)."""
    if not _metaschema_accepts(schema):
        return None
    reason = _known_difference(schema, value)
    if reason is not None:
        note(f"not compared with the reference: {reason}")
        return None
    return Reference(schema).is_valid(value)


def agree_with_reference(schema: Any, value: Any) -> bool:
    verdict = agree(schema, value)
    expected = reference_verdict(schema, value)
    if expected is not None:
        assert verdict == expected, f"trimcp says {verdict}, jsonschema says {expected}"
    return verdict


# -- the property -------------------------------------------------------------------------------------------

_SETTINGS = settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(schema_and_values())
def test_fast_path_closures_and_reference_agree(example):
    schema, values = example
    note(f"schema = {schema!r}")
    for value in values:
        note(f"value = {value!r}")
        agree_with_reference(schema, value)


@functools.cache
def _sample() -> list[tuple[Any, Any, bool, bool]]:
    """(schema, value, trimcp's verdict, whether the reference was compared) over a fixed sample."""
    results = []

    @settings(_SETTINGS, max_examples=200, phases=[Phase.generate])
    @given(schema_and_values())
    def collect(example):
        schema, values = example
        for value in values:
            verdict = Validator(schema)._check(value, "") is None
            compared = reference_verdict(schema, value) is not None
            results.append((schema, value, verdict, compared))

    collect()
    return results


def test_sample_has_both_outcomes_often():
    sample = _sample()
    valid = sum(verdict for _, _, verdict, _ in sample) / len(sample)
    assert 0.2 <= valid <= 0.8, f"{valid:.0%} of the sample is valid"


def test_sample_is_mostly_compared_with_the_reference():
    sample = _sample()
    compared = [verdict for _, _, verdict, was_compared in sample if was_compared]
    assert len(compared) >= 0.6 * len(sample)
    valid = sum(compared) / len(compared)
    assert 0.2 <= valid <= 0.8, f"{valid:.0%} of the compared sample is valid"


def test_sample_uses_every_keyword():
    seen: set[str] = set()
    for schema, _, _, _ in _sample():
        for node in _walk_schemas(schema):
            seen.update(node)
    assert set(BUILDERS) <= seen, f"never generated: {sorted(set(BUILDERS) - seen)}"
    assert "$defs" in seen and seen & set(ANNOTATIONS)
    refs = {node["$ref"] for schema, _, _, _ in _sample() for node in _walk_schemas(schema) if "$ref" in node}
    assert "#" in refs and len(refs) >= 3, refs


def test_sample_uses_boolean_schemas_and_items_false():
    booleans = set()
    for schema, _, _, _ in _sample():
        if type(schema) is bool:
            booleans.add(("root", schema))
        for node in _walk_schemas(schema):
            booleans.update((keyword, sub) for keyword, sub in node.items() if type(sub) is bool)
    assert {("root", True), ("root", False), ("items", False), ("additionalProperties", False)} <= booleans


# -- names that are not Python identifiers ------------------------------------------------------------------

AWKWARD_NAMES = [
    'q"uote',
    "it's",
    "'''",
    '"""',
    "back\\slash",
    "\\",
    "new\nline",
    "tab\there",
    "nul\x00byte",
    "__class__",
    "__init__",
    "__dict__",
    "self",
    "value",
    "path",
    "None",
    "def",
    "lambda",
    "é",
    "𝄞",
    "",
    " ",
    "{x}",
    "%s",
    "a.b",
    "0",
    "[0]",
    "#",
    "$ref",
]


def numbered_fields(names: list[str]) -> tuple[dict, dict]:
    """A closed object schema whose field number i is an integer of at least i, and a value
    it accepts (each field at its minimum)."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "integer", "minimum": i} for i, name in enumerate(names)},
        "required": names,
        "additionalProperties": False,
    }
    return schema, {name: i for i, name in enumerate(names)}


def test_awkward_property_names():
    schema, good = numbered_fields(AWKWARD_NAMES)
    assert agree_with_reference(schema, good)
    for i, name in enumerate(AWKWARD_NAMES):
        assert not agree_with_reference(schema, {**good, name: i - 1}), name
        assert not agree_with_reference(schema, {**good, name: str(i)}), name
        missing = dict(good)
        del missing[name]
        assert not agree_with_reference(schema, missing), name
    assert not agree_with_reference(schema, {**good, "extra": 1})
    assert not agree_with_reference(schema, {**good, "__CLASS__": 1})


def test_awkward_names_as_constants_and_patterns():
    assert agree_with_reference({"enum": AWKWARD_NAMES}, "back\\slash")
    assert not agree_with_reference({"enum": AWKWARD_NAMES}, "back\\\\slash")
    for name in AWKWARD_NAMES:
        assert agree_with_reference({"const": name}, name)
        assert not agree_with_reference({"const": name}, name + "x")
        assert agree_with_reference({"const": {name: [name]}}, {name: [name]})
        assert agree_with_reference({"propertyNames": {"enum": AWKWARD_NAMES}}, {name: 1})
    schema = {
        "patternProperties": {'"': {"type": "string"}, "\\\\": {"type": "integer"}, "^'": {"type": "null"}},
        "additionalProperties": False,
    }
    assert agree_with_reference(schema, {'q"uote': "s", "back\\slash": 1, "'''": None})
    assert not agree_with_reference(schema, {'q"uote': 1})
    assert not agree_with_reference(schema, {"back\\slash": "s"})
    assert not agree_with_reference(schema, {"'''": 0})
    assert not agree_with_reference(schema, {"plain": None})
    assert agree_with_reference({"pattern": '^"\\\\$'}, '"\\')
    assert not agree_with_reference({"pattern": '^"\\\\$'}, '"\\\\')


def test_awkward_def_names():
    names = ["a/b", "c~d", "~1", "é 𝄞", 'q"', "back\\", "new\nline"]
    schema = {
        "$defs": {name: {"const": name} for name in names},
        "properties": {name: {"$ref": "#/$defs/" + name.replace("~", "~0").replace("/", "~1")} for name in names},
    }
    assert agree_with_reference(schema, {name: name for name in names})
    for name in names:
        assert not agree_with_reference(schema, {name: name + "!"}), name


# -- enum and const with structure --------------------------------------------------------------------------


NESTED = {"a": [1, {"b": None, "c": [True, 1.0, "x"]}], "d": {}, "e": [], "𝄞": -0.0}


@pytest.mark.parametrize(
    "value, valid",
    [
        (NESTED, True),
        ({"a": [1.0, {"c": [True, 1, "x"], "b": None}], "e": [], "d": {}, "𝄞": 0}, True),  # 1 == 1.0, any order
        ({**NESTED, "f": 1}, False),
        ({"a": [1, {"b": None, "c": [1, 1.0, "x"]}], "d": {}, "e": [], "𝄞": 0}, False),  # true is not 1
        ({"a": [True, {"b": None, "c": [True, 1.0, "x"]}], "d": {}, "e": [], "𝄞": 0}, False),
        ({"a": [1, {"b": None, "c": [True, 1.0]}], "d": {}, "e": [], "𝄞": 0}, False),
        ({"a": [1, {"b": None, "c": [True, 1.0, "x"]}], "d": [], "e": {}, "𝄞": 0}, False),  # {} is not []
        ({"a": [1, {"b": False, "c": [True, 1.0, "x"]}], "d": {}, "e": [], "𝄞": 0}, False),  # null is not false
        ([NESTED], False),
    ],
)
def test_const_and_enum_with_nested_structures(value, valid):
    assert agree_with_reference({"const": NESTED}, value) == valid
    assert agree_with_reference({"enum": [0, "a", [NESTED], NESTED, None]}, value) == (valid or value == [NESTED])
    assert agree_with_reference({"not": {"const": NESTED}}, value) == (not valid)


@pytest.mark.parametrize(
    "options, value, valid",
    [
        ([1, 0], True, False),
        ([False], 0, False),
        ([0], -0.0, True),
        ([[1, 2]], [1.0, 2.0], True),
        ([[1, 2]], [True, 2], False),
        ([[]], {}, False),
        ([{}], [], False),
        ([None], 0, False),
        (["1"], 1, False),
        ([10**30], 1e30, False),  # the float is 10**30 + 19884624838656
        ([2**53 + 1], 9007199254740992.0, False),
        ([[[[["deep"]]]]], [[[["deep"]]]], True),
        ([], None, False),
    ],
)
def test_enum_edge_cases(options, value, valid):
    assert agree_with_reference({"enum": options}, value) == valid
    if len(options) == 1:
        assert agree_with_reference({"const": options[0]}, value) == valid


# -- numbers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema, value, valid",
    [
        ({"minimum": 10**30}, 10**30, True),
        ({"minimum": 10**30}, 10**30 - 1, False),
        ({"minimum": 10**30}, 1e30, True),  # the float is a little more than 10**30
        ({"exclusiveMaximum": 10**30}, 1e30, False),
        ({"maximum": 2**53}, 2**53 + 1, False),
        ({"maximum": 2**53}, 9007199254740992.0, True),
        ({"exclusiveMinimum": 9007199254740992.0}, 2**53 + 1, True),  # exact, not via float(2**53 + 1)
        ({"exclusiveMaximum": 2**53 + 1}, 9007199254740992.0, True),
        ({"maximum": sys.float_info.max}, 10**309, False),  # no OverflowError converting to float
        ({"minimum": -sys.float_info.max}, -(10**400), False),
        ({"exclusiveMinimum": 0}, 5e-324, True),
        ({"exclusiveMinimum": 0}, -0.0, False),
        ({"maximum": -0.0}, 0, True),
        ({"exclusiveMaximum": 0}, -0.0, False),
        ({"minimum": 5e-324}, sys.float_info.min, True),
        ({"type": "integer"}, sys.float_info.max, True),
        ({"type": "integer"}, 1e308, True),
        ({"type": "integer"}, 5e-324, False),
        ({"type": "integer"}, 10**400, True),
        ({"type": "integer"}, -0.0, True),
        ({"type": "number"}, 10**400, True),
        ({"type": "integer", "maximum": 1}, True, False),
        ({"multipleOf": 2}, 10**30, True),
        ({"multipleOf": 2}, 10**30 + 1, False),
        ({"multipleOf": 10**30}, 3 * 10**30, True),
        ({"multipleOf": 10**30}, 3 * 10**30 + 1, False),
        ({"multipleOf": 3}, 3 * 10**400, True),
        ({"multipleOf": 0.5}, 10**30 + 1, True),
        ({"multipleOf": 0.5}, 2.5, True),
        ({"multipleOf": 0.5}, 2.25, False),
        ({"multipleOf": 1.5}, -4.5, True),
        ({"multipleOf": 0.25}, 5e-324, False),
        ({"multipleOf": 1}, 1e308, True),
        ({"multipleOf": 1}, True, True),  # not a number: the keyword does not apply
    ],
)
def test_huge_and_limit_numbers(schema, value, valid):
    assert agree_with_reference(schema, value) == valid


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer"},
        {"type": "number"},
        {"minimum": 0},
        {"exclusiveMaximum": 0},
        {"multipleOf": 2},
        {"multipleOf": 0.5},
        {"enum": [1, 2.5]},
        {"uniqueItems": True},
        {"const": 1e308},
    ],
)
def test_non_finite_floats_get_the_same_verdict_on_both_paths(schema, value):
    # Python's json.loads accepts NaN and Infinity, so they can arrive even though JSON has none.
    # There is no specified answer; only that both paths agree and nothing raises.
    agree(schema, value)
    agree(schema, [value, value])


def test_decimal_multiple_of_is_exact_where_the_reference_is_not():
    # The deliberate difference excluded from the reference comparison (see _known_difference).
    assert agree({"multipleOf": 0.1}, 0.3)
    assert not Reference({"multipleOf": 0.1}).is_valid(0.3)
    assert not agree({"multipleOf": 3}, 1e308)  # 10**308 as written is not a multiple of 3


def test_unique_items_compares_every_pair_unlike_the_reference():
    # The reference bug excluded from the comparison (see _known_difference): [1] equals [1.0].
    assert not agree({"uniqueItems": True}, [[1], [True], [1.0]])
    assert Reference({"uniqueItems": True}).is_valid([[1], [True], [1.0]])
    assert agree({"uniqueItems": True}, [1, True, "1", [1], [True], {"a": 1}, {"a": True}, None, False, 0.5])
    assert not agree({"uniqueItems": True}, [{"a": [1], "b": 2}, {"b": 2.0, "a": [1.0]}])


# -- recursion ----------------------------------------------------------------------------------------------


def _linked(n: int, last: Any = None) -> Any:
    node: Any = last
    for i in range(n):
        node = {"v": i, "next": node}
    return node


LINKED_LIST = {
    "$ref": "#/$defs/node",
    "$defs": {
        "node": {
            "type": "object",
            "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
            "required": ["v"],
            "additionalProperties": False,
        }
    },
}


@pytest.mark.parametrize(
    "value, valid",
    [
        (_linked(1), True),
        (_linked(60), True),
        (_linked(60, {"v": "x"}), False),
        (_linked(60, {"v": 1, "extra": 1}), False),
        (_linked(60, {"next": None}), False),
        (_linked(60, 0), False),
    ],
)
def test_recursive_ref_via_defs(value, valid):
    assert agree_with_reference(LINKED_LIST, value) == valid


MUTUAL = {
    "$defs": {
        "even": {"type": "array", "prefixItems": [{"const": "even"}], "items": {"$ref": "#/$defs/odd"}},
        "odd": {
            "type": "object",
            "properties": {"kind": {"const": "odd"}, "child": {"$ref": "#/$defs/even"}},
            "required": ["kind"],
        },
    },
    "oneOf": [{"$ref": "#/$defs/even"}, {"$ref": "#/$defs/odd"}],
}


def _alternating(depth: int, leaf: Any) -> Any:
    """``leaf`` wrapped ``depth`` times, alternately in an even array and an odd object."""
    node: Any = leaf
    in_array = type(leaf) is dict
    for _ in range(depth):
        node = ["even", node] if in_array else {"kind": "odd", "child": node}
        in_array = not in_array
    return node


@pytest.mark.parametrize(
    "value, valid",
    [
        (["even"], True),
        ({"kind": "odd"}, True),
        (_alternating(41, {"kind": "odd"}), True),
        (_alternating(40, {"kind": "odd"}), True),
        (_alternating(41, ["even"]), True),
        (_alternating(40, ["even"]), True),
        (_alternating(41, {"kind": "even"}), False),
        (_alternating(40, ["odd"]), False),
        (_alternating(41, {"kind": "odd", "child": 1}), False),
        (_alternating(40, ["even", ["even"]]), False),
        ("even", False),
    ],
)
def test_mutual_recursion(value, valid):
    assert agree_with_reference(MUTUAL, value) == valid


TREE = {
    "type": "object",
    "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#"}}},
    "required": ["value"],
}


def _tree(depth: int, leaf: Any) -> Any:
    node = leaf
    for i in range(depth):
        node = {"value": i, "children": [{"value": -i}, node]}
    return node


@pytest.mark.parametrize(
    "value, valid",
    [(_tree(50, {"value": 0}), True), (_tree(50, {"value": 0.5}), False), (_tree(50, {"children": []}), False)],
)
def test_recursive_ref_to_root(value, valid):
    assert agree_with_reference(TREE, value) == valid


# -- size: deep and wide ------------------------------------------------------------------------------------


def _deep(levels: int) -> tuple[Any, Any]:
    """A schema with ``levels`` of alternating items/properties, and a valid value for it."""
    schema: Any = {"type": "integer", "minimum": 0}
    value: Any = 7
    for level in range(levels):
        if level % 2:
            schema = {"type": "array", "items": schema, "minItems": 1}
            value = [value]
        else:
            key = f"k{level}"
            schema = {"type": "object", "properties": {key: schema}, "required": [key], "additionalProperties": False}
            value = {key: value}
    return schema, value


def _replace_deepest(value: Any, new: Any) -> Any:
    if type(value) is dict:
        ((key, inner),) = value.items()
        return {key: _replace_deepest(inner, new)}
    if type(value) is list:
        return [_replace_deepest(value[0], new)]
    return new


def test_deep_schema():
    schema, value = _deep(30)
    assert agree_with_reference(schema, value)
    assert not agree_with_reference(schema, _replace_deepest(value, -1))
    assert not agree_with_reference(schema, _replace_deepest(value, "7"))
    assert not agree_with_reference(schema, _replace_deepest(value, 7.5))
    error = Validator(schema).first_error(_replace_deepest(value, -1))
    assert (
        error
        == "[0].k28[0].k26[0].k24[0].k22[0].k20[0].k18[0].k16[0].k14[0].k12[0].k10[0].k8[0].k6[0].k4[0].k2[0].k0: must be at least 0, got -1"
    )
    assert not agree_with_reference(schema, [])
    assert not agree_with_reference(schema, [value[0], {}])
    assert not agree_with_reference(schema, [{"k28": [], "extra": 1}])
    assert not agree_with_reference(schema, [{"k28": [{"k26": [{}]}]}])


def test_wide_schema():
    schema, good = numbered_fields([f"p{i}" for i in range(300)])
    assert agree_with_reference(schema, good)
    assert not agree_with_reference(schema, {**good, "p299": 298})
    assert not agree_with_reference(schema, {**good, "p0": "0"})
    assert not agree_with_reference(schema, {**good, "p300": 300})
    assert not agree_with_reference(schema, {name: i for name, i in good.items() if name != "p150"})
    assert Validator(schema).first_error({**good, "p299": 298}) == "p299: must be at least 299, got 298"

    wide_enum = {"enum": [{"k": i} for i in range(300)]}
    assert agree_with_reference(wide_enum, {"k": 299.0})
    assert not agree_with_reference(wide_enum, {"k": 300})
    wide_any = {"anyOf": [{"const": i} for i in range(300)]}
    assert agree_with_reference(wide_any, 299)
    assert not agree_with_reference(wide_any, 300)
    wide_one = {"oneOf": [{"multipleOf": i} for i in range(1, 301)]}
    assert agree_with_reference(wide_one, 307)  # a prime over 300: a multiple of 1 only
    assert not agree_with_reference(wide_one, 6)


# -- one schema object in several places ---------------------------------------------------------------------


def test_schema_object_reused_in_several_places():
    shared = {"type": "integer", "minimum": 0}
    schema = {
        "$defs": {"n": shared},
        "properties": {"a": shared, "b": {"type": "array", "items": shared}, "c": {"$ref": "#/$defs/n"}},
        "prefixItems": [shared, shared],
        "additionalProperties": {"anyOf": [shared, {"type": "string"}]},
    }
    assert agree_with_reference(schema, {"a": 0, "b": [1, 2], "c": 3, "z": "s", "y": 4})
    assert agree_with_reference(schema, [0, 1, "after the prefix"])
    for bad in ({"a": -1}, {"b": [1, -1]}, {"c": -1}, {"y": -1}, {"b": [1.5]}):
        assert not agree_with_reference(schema, bad)
    assert not agree_with_reference(schema, [0, -1])
    validator = Validator(schema)
    assert validator.first_error({"b": [1, -1]}) == "b[1]: must be at least 0, got -1"
    assert validator.first_error({"c": -1}) == "c: must be at least 0, got -1"
    assert validator.first_error([0, -1], "args") == "args[1]: must be at least 0, got -1"


def test_recursive_schema_object_reused():
    # The same recursive node reached from two places, and a second validator for the same object.
    node = {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}
    schema = {"$defs": {"node": node}, "properties": {"left": node, "right": {"$ref": "#/$defs/node"}}}
    deep = {"kids": [{"kids": [{"kids": [{}]}]}]}
    assert agree_with_reference(schema, {"left": deep, "right": deep})
    assert not agree_with_reference(schema, {"left": deep, "right": {"kids": [{"kids": [[]]}]}})
    assert not agree_with_reference(schema, {"left": {"kids": [{"kids": 1}]}})
    assert agree_with_reference(node | {"$defs": {"node": node}}, deep)


# -- regressions: bugs these tests found (fixed in 1eb66d3) ------------------------------------------------


def test_percent_encoded_ref():
    # A $ref is a URI fragment: percent-decoded before it is read as a JSON pointer (RFC 6901 §6).
    schema = {"$defs": {"a b": {"type": "string"}}, "properties": {"x": {"$ref": "#/$defs/a%20b"}}}
    assert not Reference(schema).is_valid({"x": 1})
    assert not agree(schema, {"x": 1})
    assert agree(schema, {"x": "s"})


def test_multiple_of_float_divisor_and_very_long_integer():
    # Decimal arithmetic at 1,000 digits could not hold the quotient, and took the error for
    # "not a multiple"; any integer is a multiple of 0.5.
    assert _spec_multiple(10**1000, 0.5)
    assert agree({"multipleOf": 0.5}, 10**1000)
    assert agree({"multipleOf": 0.5}, 10**1000 + 1)
    assert not agree({"multipleOf": 1.5}, 10**1000 + 1)


def test_one_of_with_thousands_of_branches():
    # The generated a(x) + b(x) + ... nested one level per branch, and compile() ran out of
    # stack from about 2,980 branches.
    # (No reference here: it takes seconds over a schema this size.)
    schema = {"oneOf": [{"const": i} for i in range(3500)]}
    assert agree(schema, 3499)
    assert not agree(schema, 3500)
    assert not agree({"oneOf": [{"const": 1}] * 3500}, 1)
