"""Unit tests for the small JSON Schema validator (trimcp._server.jsonschema)."""

import jsonschema
import pytest

from trimcp._server.jsonschema import SchemaError, Validator, json_type_name


def ok(schema, value):
    validator = Validator(schema)
    assert validator.first_error(value) is None, validator.first_error(value)
    assert validator.is_valid(value)


def bad(schema, value, message=None):
    validator = Validator(schema)
    error = validator.first_error(value)
    assert error is not None
    assert not validator.is_valid(value)
    if message is not None:
        assert error == message
    return error


# -- type ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, good, wrong",
    [
        ("string", "s", 1),
        ("integer", 3, "3"),
        ("number", 1.5, "1.5"),
        ("boolean", False, 0),
        ("object", {}, []),
        ("array", [], {}),
        ("null", None, 0),
    ],
)
def test_type(name, good, wrong):
    ok({"type": name}, good)
    bad({"type": name}, wrong)


def test_type_message_at_root():
    bad({"type": "string"}, 5, "value: expected string, got integer")


def test_bool_is_not_an_integer_or_number():
    bad({"type": "integer"}, True, "value: expected integer, got boolean")
    bad({"type": "number"}, False, "value: expected number, got boolean")


def test_integral_float_is_an_integer():
    ok({"type": "integer"}, 1.0)
    ok({"type": "integer"}, -0.0)
    bad({"type": "integer"}, 1.5, "value: expected integer, got number")


def test_int_is_a_number():
    ok({"type": "number"}, 7)


def test_boolean_rejects_ints():
    bad({"type": "boolean"}, 1)


def test_type_list():
    schema = {"type": ["string", "null"]}
    ok(schema, "x")
    ok(schema, None)
    bad(schema, 1, "value: expected string or null, got integer")


def test_json_type_name():
    assert [json_type_name(v) for v in ("", 1, 1.0, True, None, [], {})] == [
        "string",
        "integer",
        "number",
        "boolean",
        "null",
        "array",
        "object",
    ]


# -- enum / const --------------------------------------------------------------------------------------


def test_enum():
    schema = {"enum": ["red", "green", 3, None]}
    ok(schema, "green")
    ok(schema, None)
    ok(schema, 3.0)
    error = bad(schema, "blue")
    assert error.startswith("value: must be one of ")
    assert '"blue"' in error


def test_enum_distinguishes_bool_from_int():
    bad({"enum": [1, 0]}, True)
    bad({"enum": [False]}, 0)
    ok({"enum": [True]}, True)


def test_const():
    ok({"const": {"a": [1, 2]}}, {"a": [1.0, 2]})
    bad({"const": {"a": [1, 2]}}, {"a": [1, 2, 3]})
    bad({"const": 1}, True)
    bad({"const": "x"}, "y", 'value: must be "x", got "y"')


# -- numbers ---------------------------------------------------------------------------------------------


def test_minimum_maximum():
    schema = {"minimum": 1, "maximum": 10}
    ok(schema, 1)
    ok(schema, 10.0)
    bad(schema, 0, "value: must be at least 1, got 0")
    bad(schema, 10.5, "value: must be at most 10, got 10.5")


def test_exclusive_bounds():
    schema = {"exclusiveMinimum": 0, "exclusiveMaximum": 1}
    ok(schema, 0.5)
    bad(schema, 0)
    bad(schema, 1)


def test_numeric_keywords_ignore_non_numbers_and_bools():
    ok({"minimum": 5}, "1")
    ok({"minimum": 5}, True)
    ok({"multipleOf": 2}, True)


def test_multiple_of():
    ok({"multipleOf": 3}, 9)
    bad({"multipleOf": 3}, 10, "value: must be a multiple of 3, got 10")
    ok({"multipleOf": 0.5}, 2.5)
    bad({"multipleOf": 0.5}, 2.3)
    ok({"multipleOf": 0.1}, 0.3)  # decimal arithmetic, not binary floating-point noise


def test_multiple_of_with_huge_integers():
    # JSON integers are unbounded; json.loads returns Python ints far beyond float range.
    ok({"multipleOf": 3}, 3 * 10**400)
    bad({"multipleOf": 3}, 10**400)


# -- strings ---------------------------------------------------------------------------------------------


def test_min_max_length():
    schema = {"minLength": 2, "maxLength": 3}
    ok(schema, "ab")
    ok(schema, "😀😀")  # code points, not bytes or UTF-16 units
    bad(schema, "a", "value: must have at least 2 characters, got 1")
    bad(schema, "abcd", "value: must have at most 3 characters, got 4")
    ok(schema, 12345)  # not a string: ignored


def test_pattern_is_a_search_not_a_full_match():
    schema = {"pattern": "b+"}
    ok(schema, "abbbc")
    bad(schema, "ac")
    ok({"pattern": "^[a-z]+$"}, "abc")
    bad({"pattern": "^[a-z]+$"}, "abc1")
    ok({"pattern": "^x"}, 5)


def test_invalid_pattern_is_schema_error():
    with pytest.raises(SchemaError):
        Validator({"pattern": "("})


def test_format_is_an_annotation():
    ok({"type": "string", "format": "date-time"}, "not a date")
    ok({"format": "uuid"}, "nope")


# -- arrays ------------------------------------------------------------------------------------------------


def test_items():
    schema = {"type": "array", "items": {"type": "integer"}}
    ok(schema, [1, 2, 3])
    bad(schema, [1, "2"], "[1]: expected integer, got string")


def test_prefix_items_and_items():
    schema = {"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": {"type": "boolean"}}
    ok(schema, ["a", 1])
    ok(schema, ["a", 1, True, False])
    ok(schema, ["a"])
    bad(schema, [1, 1])
    bad(schema, ["a", 1, "x"], "[2]: expected boolean, got string")


def test_prefix_items_with_items_false():
    schema = {"prefixItems": [{"type": "string"}], "items": False}
    ok(schema, ["a"])
    bad(schema, ["a", "b"], "[1]: no value is allowed here")


def test_min_max_items():
    schema = {"minItems": 1, "maxItems": 2}
    ok(schema, [1])
    bad(schema, [], "value: must have at least 1 items, got 0")
    bad(schema, [1, 2, 3])


def test_unique_items():
    schema = {"uniqueItems": True}
    ok(schema, [1, "1", True, [1], {"a": 1}])
    bad(schema, [1, 2, 1.0])
    bad(schema, [{"a": [1]}, {"a": [1]}])
    ok({"uniqueItems": False}, [1, 1])


def test_contains():
    schema = {"contains": {"type": "string"}}
    ok(schema, [1, "a"])
    bad(schema, [1, 2], "value: must contain at least one matching item")
    bad(schema, [])


# -- objects ------------------------------------------------------------------------------------------------


def test_properties_and_required():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    ok(schema, {"name": "x", "other": 1})
    bad(schema, {}, "name: required but missing")
    bad(schema, {"name": 1}, "name: expected string, got integer")


def test_additional_properties_false():
    schema = {"properties": {"a": {}}, "additionalProperties": False}
    ok(schema, {"a": 1})
    bad(schema, {"a": 1, "b": 2}, "b: unexpected property")


def test_additional_properties_schema_with_pattern_properties():
    schema = {
        "properties": {"a": {"type": "string"}},
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": {"type": "boolean"},
    }
    ok(schema, {"a": "s", "x-n": 1, "flag": True})
    bad(schema, {"x-n": "s"}, "x-n: expected integer, got string")
    bad(schema, {"flag": 1}, "flag: expected boolean, got integer")


def test_property_names():
    schema = {"propertyNames": {"maxLength": 3}}
    ok(schema, {"abc": 1})
    error = bad(schema, {"abcd": 1})
    assert error.startswith("abcd: invalid property name")


def test_min_max_properties():
    schema = {"minProperties": 1, "maxProperties": 2}
    ok(schema, {"a": 1})
    bad(schema, {})
    bad(schema, {"a": 1, "b": 2, "c": 3}, "value: must have at most 2 properties, got 3")


def test_nested_error_path():
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            }
        },
    }
    ok(schema, {"items": [{"name": "a"}]})
    bad(schema, {"items": [{"name": "a"}, {"name": "b"}, {"name": 3}]}, "items[2].name: expected string, got integer")


def test_nested_required_and_array_of_arrays_paths():
    schema = {
        "properties": {
            "user": {"properties": {"address": {"required": ["city"]}}},
            "matrix": {"items": {"items": {"type": "number"}}},
        }
    }
    bad(schema, {"user": {"address": {}}}, "user.address.city: required but missing")
    bad(schema, {"matrix": [[1], ["x"]]}, "matrix[1][0]: expected number, got string")


def test_first_error_with_path_prefix():
    assert Validator({"type": "string"}).first_error(1, "arguments.x") == "arguments.x: expected string, got integer"


# -- combinators --------------------------------------------------------------------------------------------


def test_all_of():
    schema = {"allOf": [{"type": "integer"}, {"minimum": 3}]}
    ok(schema, 5)
    bad(schema, 2)
    bad(schema, "5")


def test_any_of():
    schema = {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}
    ok(schema, "s")
    ok(schema, 3)
    error = bad(schema, -1)
    assert error.startswith("value: matches none of the allowed forms")
    assert "at least 0" in error and "expected string" in error


def test_one_of():
    schema = {"oneOf": [{"type": "integer"}, {"minimum": 2}]}
    ok(schema, 1)  # integer only
    ok(schema, 2.5)  # minimum only
    bad(schema, 3, "value: matches 2 of the forms where exactly one is allowed")
    bad({"oneOf": [{"type": "string"}, {"type": "null"}]}, 1, "value: matches none of the allowed forms")


def test_not():
    schema = {"not": {"type": "string"}}
    ok(schema, 1)
    bad(schema, "s", "value: matches a form that is not allowed")


def test_if_then_else():
    schema = {
        "if": {"properties": {"kind": {"const": "circle"}}},
        "then": {"required": ["radius"]},
        "else": {"required": ["width"]},
    }
    ok(schema, {"kind": "circle", "radius": 1})
    ok(schema, {"kind": "square", "width": 1})
    bad(schema, {"kind": "circle", "width": 1}, "radius: required but missing")
    bad(schema, {"kind": "square", "radius": 1}, "width: required but missing")


def test_if_without_then_or_else_and_then_without_if():
    ok({"if": {"type": "string"}}, 1)
    ok({"if": {"type": "string"}, "then": {"minLength": 2}}, 5)
    bad({"if": {"type": "string"}, "then": {"minLength": 2}}, "a")
    ok({"then": False}, 1)
    ok({"else": False}, 1)


# -- boolean schemas, unknown keywords ----------------------------------------------------------------------


def test_boolean_schemas():
    ok(True, {"anything": [1]})
    ok({}, None)
    bad(False, 1, "value: no value is allowed here")
    bad({"properties": {"x": False}}, {"x": 1}, "x: no value is allowed here")
    ok({"properties": {"x": False}}, {})


def test_unknown_keywords_are_ignored():
    ok({"type": "string", "x-custom": 1, "description": "d", "title": "t", "examples": [1], "deprecated": True}, "s")
    ok({"frobnicate": {"type": "integer"}}, "not checked")


@pytest.mark.parametrize("schema", [1, "string", [], None])
def test_non_schema_is_schema_error(schema):
    with pytest.raises(SchemaError):
        Validator(schema)


@pytest.mark.parametrize("type_", [5, [{}], ["string", 1], {"a": 1}, None])
def test_a_type_that_names_no_types_is_schema_error(type_):
    with pytest.raises(SchemaError):
        Validator({"type": type_})  # not a TypeError from deep inside (a mirrored upstream schema)


# -- $ref ----------------------------------------------------------------------------------------------------


def test_local_ref():
    schema = {
        "$defs": {"pos": {"type": "integer", "minimum": 0}},
        "properties": {"a": {"$ref": "#/$defs/pos"}, "b": {"$ref": "#/$defs/pos"}},
    }
    ok(schema, {"a": 1, "b": 2})
    bad(schema, {"a": 1, "b": -2}, "b: must be at least 0, got -2")


def test_ref_with_escaped_pointer():
    schema = {
        "$defs": {"a/b": {"type": "string"}, "c~d": {"type": "integer"}},
        "properties": {
            "x": {"$ref": "#/$defs/a~1b"},
            "y": {"$ref": "#/$defs/c~0d"},
        },
    }
    ok(schema, {"x": "s", "y": 1})
    bad(schema, {"x": 1})
    bad(schema, {"y": "s"})


def test_ref_into_array():
    # prefixItems only constrains arrays, so it is a handy place for schemas addressed by index.
    schema = {"prefixItems": [{"type": "string"}, {"type": "null"}], "properties": {"n": {"$ref": "#/prefixItems/1"}}}
    ok(schema, {"n": None})
    bad(schema, {"n": 1}, "n: expected null, got integer")


def test_ref_with_sibling_keywords():
    schema = {"$defs": {"s": {"type": "string"}}, "properties": {"x": {"$ref": "#/$defs/s", "minLength": 2}}}
    ok(schema, {"x": "ab"})
    bad(schema, {"x": "a"})
    bad(schema, {"x": 1})


def test_recursive_ref_to_root():
    tree = {
        "type": "object",
        "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["value"],
    }
    ok(tree, {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]})
    bad(
        tree,
        {"value": 1, "children": [{"value": 2, "children": [{"value": "x"}]}]},
        "children[0].children[0].value: expected integer, got string",
    )
    bad(tree, {"value": 1, "children": [{"children": []}]}, "children[0].value: required but missing")


def test_recursive_ref_via_defs():
    schema = {
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]},
                    "v": {"type": "integer"},
                },
                "additionalProperties": False,
            }
        },
    }
    ok(schema, {"v": 1, "next": {"v": 2, "next": {"v": 3, "next": None}}})
    bad(schema, {"v": 1, "next": {"v": 2, "next": {"v": 3, "extra": 1}}})


def test_mutually_recursive_refs():
    schema = {
        "$defs": {
            "a": {"type": "object", "properties": {"b": {"$ref": "#/$defs/b"}}},
            "b": {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "required": ["a"]},
        },
        "$ref": "#/$defs/a",
    }
    ok(schema, {"b": {"a": {"b": {"a": {}}}}})
    bad(schema, {"b": {"a": {"b": {}}}}, "b.a.b.a: required but missing")


@pytest.mark.parametrize("ref", ["#/$defs/missing", "#/properties/x/nope", "#/anyOf/5", "#/anyOf/x"])
def test_dangling_ref_is_schema_error(ref):
    with pytest.raises(SchemaError):
        Validator({"$defs": {}, "anyOf": [{}], "properties": {"x": {}}, "allOf": [{"$ref": ref}]})


def test_dangling_ref_at_root_is_schema_error():
    with pytest.raises(SchemaError):
        Validator({"$ref": "#/$defs/nope"})


def test_remote_ref_is_schema_error():
    with pytest.raises(SchemaError):
        Validator({"$ref": "https://example.com/schema.json"})


def test_dangling_ref_behind_another_ref_is_found_at_construction():
    # A broken schema should be refused when the validator is built (at registration), not on
    # the first call that happens to reach the broken part.
    with pytest.raises(SchemaError):
        Validator({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/nope"}}})


# -- cross-check against the reference implementation --------------------------------------------------------

CROSS_CHECK = [
    ({"type": "integer"}, 1),
    ({"type": "integer"}, 1.0),
    ({"type": "integer"}, 1.5),
    ({"type": "integer"}, True),
    ({"type": "number"}, False),
    ({"type": "number"}, 3),
    ({"type": ["string", "null"]}, None),
    ({"type": ["string", "null"]}, 0),
    ({"type": "boolean"}, 0),
    ({"type": "object"}, []),
    ({"type": "array"}, {}),
    ({"enum": [1, "a"]}, 1.0),
    ({"enum": [0]}, False),
    ({"enum": [[1, {"a": None}]]}, [1, {"a": None}]),
    ({"const": True}, 1),
    ({"const": {"a": 1}}, {"a": 1.0}),
    ({"minimum": 0, "exclusiveMaximum": 10}, 10),
    ({"minimum": 0, "exclusiveMaximum": 10}, 9.99),
    ({"minimum": 5}, True),
    ({"multipleOf": 4}, 12),
    ({"multipleOf": 4}, 14),
    ({"multipleOf": 0.5}, 7.5),
    ({"minLength": 3}, "ab"),
    ({"maxLength": 2}, "😀😀"),
    ({"pattern": "^a.*z$"}, "abcz"),
    ({"pattern": "\\d"}, "abc"),
    ({"items": {"type": "string"}, "minItems": 1}, []),
    ({"prefixItems": [{"type": "integer"}], "items": False}, [1, 2]),
    ({"prefixItems": [{"type": "integer"}], "items": {"type": "string"}}, [1, "a", "b"]),
    ({"uniqueItems": True}, [1, True]),
    ({"uniqueItems": True}, [1, 1.0]),
    ({"uniqueItems": True}, [[1], [True]]),
    ({"contains": {"const": 3}}, [1, 2, 3]),
    ({"contains": {"const": 3}}, []),
    ({"required": ["a", "b"]}, {"a": 1}),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"a": "x", "b": 1}),
    ({"patternProperties": {"^n_": {"type": "number"}}, "additionalProperties": False}, {"n_1": 2, "n_2": 3.5}),
    ({"patternProperties": {"^n_": {"type": "number"}}}, {"n_1": "x"}),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"abc": 1, "aB": 2}),
    ({"minProperties": 2}, {"a": 1}),
    ({"anyOf": [{"type": "string"}, {"minimum": 3}]}, 2),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1.5),
    ({"allOf": [{"type": "string"}, {"maxLength": 1}]}, "ab"),
    ({"not": {"enum": [1, 2]}}, 3),
    ({"if": {"minimum": 10}, "then": {"multipleOf": 10}, "else": {"maximum": 5}}, 20),
    ({"if": {"minimum": 10}, "then": {"multipleOf": 10}, "else": {"maximum": 5}}, 7),
    ({"if": {"minimum": 10}, "then": {"multipleOf": 10}, "else": {"maximum": 5}}, 15),
    (True, None),
    (False, None),
    ({"properties": {"a": False}}, {"a": None}),
    ({"$defs": {"s": {"type": "string"}}, "items": {"$ref": "#/$defs/s"}}, ["a", 1]),
    (
        {"type": "object", "properties": {"c": {"type": "array", "items": {"$ref": "#"}}, "v": {"type": "integer"}}},
        {"v": 1, "c": [{"v": 2, "c": [{"v": "3"}]}]},
    ),
    (
        {"type": "object", "properties": {"c": {"type": "array", "items": {"$ref": "#"}}, "v": {"type": "integer"}}},
        {"v": 1, "c": [{"v": 2, "c": [{"v": 3}]}]},
    ),
    ({"x-unknown": 5, "title": "t"}, "anything"),
]


@pytest.mark.parametrize("schema, instance", CROSS_CHECK)
def test_agrees_with_reference_implementation(schema, instance):
    jsonschema.Draft202012Validator.check_schema(schema)
    expected = jsonschema.Draft202012Validator(schema).is_valid(instance)
    assert Validator(schema).is_valid(instance) == expected


def test_cross_check_covers_both_outcomes():
    outcomes = {jsonschema.Draft202012Validator(s).is_valid(i) for s, i in CROSS_CHECK}
    assert outcomes == {True, False}
    assert len(CROSS_CHECK) >= 40
