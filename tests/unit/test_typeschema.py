"""Unit tests for type hints -> JSON Schema, converters and to_json (trimcp._server.typeschema)."""

import base64
import dataclasses
import datetime
import enum
import math
import uuid
from collections import abc
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict, Union

import attrs
import jsonschema
import pytest

from trimcp._server.typeschema import SchemaBuilder, is_object_type, to_json
from trimcp.protocol.jsonrpc import dumps

# -- types used by the tests (module level, so their hints resolve) ------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mixed(enum.Enum):
    A = 1
    B = "b"


class Movie(TypedDict):
    title: str
    year: int


class Filters(TypedDict, total=False):
    tag: str
    color: Color


class Partial(TypedDict):
    name: Required[str]
    note: NotRequired[str]


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


@dataclasses.dataclass
class Settings:
    """Search settings."""

    query: str
    limit: int = 10
    tags: list[str] = dataclasses.field(default_factory=list)
    color: Color = Color.RED
    when: datetime.datetime | None = None
    cached: bool = dataclasses.field(default=False, init=False)


@dataclasses.dataclass
class Node:
    value: int
    children: list["Node"] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class LinkedItem:
    label: str
    next: Optional["LinkedItem"] = None


@attrs.define
class Person:
    name: str
    age: int = 0
    emails: list[str] = attrs.field(factory=list)
    birthday: datetime.date | None = None


@attrs.define
class Secretive:
    _token: str
    visible: int = 1


@dataclasses.dataclass
class Envelope:
    sender: Person
    points: list[Point]
    tags: set[str]
    level: Level
    ident: uuid.UUID
    when: datetime.datetime
    lookup: dict[str, Point] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Cat:
    meow: str


@dataclasses.dataclass
class Dog:
    bark: int


@dataclasses.dataclass
class Infinite:
    limit: float = math.inf


# -- helpers ---------------------------------------------------------------------------------------------------


def build(tp: Any) -> tuple[dict[str, Any], SchemaBuilder]:
    """The schema for ``tp`` plus its ``$defs``, checked to be a valid Draft 2020-12 schema."""
    builder = SchemaBuilder()
    schema = builder.schema(tp)
    full = {**schema, "$defs": builder.defs} if builder.defs else schema
    jsonschema.Draft202012Validator.check_schema(full)
    return full, builder


def schema_of(tp: Any) -> dict[str, Any]:
    return build(tp)[0]


def convert(tp: Any, value: Any) -> Any:
    converter = SchemaBuilder().converter(tp)
    return value if converter is None else converter(value)


def assert_valid(tp: Any, value: Any) -> None:
    jsonschema.Draft202012Validator(schema_of(tp)).validate(value)


def assert_invalid(tp: Any, value: Any) -> None:
    assert not jsonschema.Draft202012Validator(schema_of(tp)).is_valid(value)


# -- scalars ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tp, expected",
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (type(None), {"type": "null"}),
        (Any, {}),
        (object, {}),
    ],
)
def test_scalars(tp, expected):
    assert schema_of(tp) == expected


@pytest.mark.parametrize(
    "tp, expected",
    [
        (datetime.datetime, {"type": "string", "format": "date-time"}),
        (datetime.date, {"type": "string", "format": "date"}),
        (datetime.time, {"type": "string", "format": "time"}),
        (uuid.UUID, {"type": "string", "format": "uuid"}),
        (Path, {"type": "string"}),
        (bytes, {"type": "string", "contentEncoding": "base64"}),
    ],
)
def test_string_formats(tp, expected):
    assert schema_of(tp) == expected


def test_schema_is_a_fresh_copy():
    builder = SchemaBuilder()
    builder.schema(int)["type"] = "mutated"
    assert builder.schema(int) == {"type": "integer"}


def test_unsupported_type_is_type_error():
    with pytest.raises(TypeError):
        SchemaBuilder().schema(complex)
    with pytest.raises(TypeError):
        SchemaBuilder().schema(dict[int, str])


# -- unions and literals ---------------------------------------------------------------------------------------


def test_optional():
    assert schema_of(Optional[int]) == {"type": ["integer", "null"]}
    assert schema_of(int | None) == {"type": ["integer", "null"]}
    assert_valid(Optional[int], None)
    assert_invalid(Optional[int], "1")


def test_union_of_simple_types():
    assert schema_of(Union[int, str]) == {"type": ["integer", "string"]}


def test_union_of_complex_types_is_any_of():
    schema = schema_of(Union[list[int], str])
    assert schema == {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "string"}]}
    assert schema_of(Optional[datetime.date]) == {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}


def test_literal():
    assert schema_of(Literal["a", "b"]) == {"type": "string", "enum": ["a", "b"]}
    assert schema_of(Literal[1, 2]) == {"type": "integer", "enum": [1, 2]}
    assert schema_of(Literal[True]) == {"type": "boolean", "enum": [True]}
    assert schema_of(Literal[1, "a"]) == {"enum": [1, "a"]}
    assert_invalid(Literal[1, 2], True)


def test_enum():
    assert schema_of(Color) == {"type": "string", "enum": ["red", "green"]}
    assert schema_of(Level) == {"type": "integer", "enum": [1, 2]}
    assert schema_of(Mixed) == {"enum": [1, "b"]}


# -- collections ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tp, expected",
    [
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (list, {"type": "array"}),
        (abc.Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (tuple, {"type": "array"}),
        (set[str], {"type": "array", "uniqueItems": True, "items": {"type": "string"}}),
        (frozenset[int], {"type": "array", "uniqueItems": True, "items": {"type": "integer"}}),
        (set, {"type": "array", "uniqueItems": True}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (dict[str, Any], {"type": "object", "additionalProperties": {}}),
        (dict, {"type": "object"}),
        (abc.Mapping[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    ],
)
def test_collections(tp, expected):
    assert schema_of(tp) == expected


def test_fixed_tuple():
    schema = schema_of(tuple[int, str])
    assert schema == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
    }
    assert_valid(tuple[int, str], [1, "a"])
    assert_invalid(tuple[int, str], [1])
    assert_invalid(tuple[int, str], [1, "a", 2])
    assert_invalid(tuple[int, str], ["a", 1])


def test_empty_tuple_accepts_only_empty_arrays():
    assert_valid(tuple[()], [])
    assert_invalid(tuple[()], [1])


def test_set_schema_rejects_duplicates():
    assert_invalid(set[int], [1, 1])


# -- records ----------------------------------------------------------------------------------------------------


def test_typed_dict_total():
    assert schema_of(Movie) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title", "year"],
    }


def test_typed_dict_total_false_has_no_required():
    assert schema_of(Filters) == {
        "type": "object",
        "properties": {"tag": {"type": "string"}, "color": {"type": "string", "enum": ["red", "green"]}},
    }


def test_typed_dict_required_and_not_required():
    schema = schema_of(Partial)
    assert schema["properties"] == {"name": {"type": "string"}, "note": {"type": "string"}}
    assert schema["required"] == ["name"]


def test_dataclass_with_defaults_and_factory():
    schema = schema_of(Settings)
    assert schema["type"] == "object"
    assert schema["description"] == "Search settings."
    assert schema["required"] == ["query"]
    props = schema["properties"]
    assert list(props) == ["query", "limit", "tags", "color", "when"]  # init=False field left out
    assert props["query"] == {"type": "string"}
    assert props["limit"] == {"type": "integer", "default": 10}
    # A default_factory has no single JSON default: no "default" key at all (not "default": null).
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert "default" not in props["tags"]
    assert "default" not in props["color"]  # an enum member is not a JSON value
    assert props["when"]["default"] is None


def test_dataclass_generated_doc_is_not_a_description():
    assert "description" not in schema_of(Point)


def test_attrs_class():
    schema = schema_of(Person)
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"] == {"type": "string"}
    assert schema["properties"]["age"] == {"type": "integer", "default": 0}
    assert schema["properties"]["emails"] == {"type": "array", "items": {"type": "string"}}
    assert schema["properties"]["birthday"] == {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}],
        "default": None,
    }


def test_attrs_private_attribute_uses_init_alias():
    schema = schema_of(Secretive)
    assert set(schema["properties"]) == {"token", "visible"}
    assert schema["required"] == ["token"]


def test_annotated_description():
    assert schema_of(Annotated[int, "How many"]) == {"type": "integer", "description": "How many"}

    class Meta:
        description = "From an object"

    assert schema_of(Annotated[str, Meta()]) == {"type": "string", "description": "From an object"}
    assert schema_of(Annotated[str, 42]) == {"type": "string"}
    assert schema_of(list[Annotated[int, "n"]]) == {"type": "array", "items": {"type": "integer", "description": "n"}}


def test_recursive_dataclass_uses_defs_and_ref():
    full, builder = build(Node)
    assert full["$ref"] == "#/$defs/Node"
    node = builder.defs["Node"]
    assert node["required"] == ["value"]
    assert node["properties"]["children"] == {"type": "array", "items": {"$ref": "#/$defs/Node"}}
    validator = jsonschema.Draft202012Validator(full)
    assert validator.is_valid({"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]})
    assert not validator.is_valid({"value": 1, "children": [{"value": "x"}]})


def test_recursive_optional_self_reference():
    full, _ = build(LinkedItem)
    assert full["$ref"] == "#/$defs/LinkedItem"
    validator = jsonschema.Draft202012Validator(full)
    assert validator.is_valid({"label": "a", "next": {"label": "b", "next": None}})
    assert not validator.is_valid({"label": "a", "next": {"next": None}})


def test_nested_records_inline_without_defs():
    full, builder = build(Envelope)
    assert builder.defs == {}
    props = full["properties"]
    assert props["sender"]["properties"]["name"] == {"type": "string"}
    assert props["points"]["items"]["required"] == ["x"]
    assert props["lookup"]["additionalProperties"]["type"] == "object"


def test_schema_defaults_are_strict_json():
    # tools/list is serialised with allow_nan=False: a schema must never carry inf/NaN.
    dumps(schema_of(Infinite))


def test_is_object_type():
    assert is_object_type(Point)
    assert is_object_type(Movie)
    assert is_object_type(Person)
    assert is_object_type(dict[str, int])
    assert is_object_type(Annotated[Point, "p"])
    assert not is_object_type(list[Point])
    assert not is_object_type(int)


@pytest.mark.parametrize(
    "tp",
    [
        str,
        int,
        float,
        bool,
        None,
        Any,
        bytes,
        Path,
        uuid.UUID,
        datetime.datetime,
        datetime.date,
        datetime.time,
        Optional[int],
        Union[int, str, None],
        Union[list[int], Point],
        Literal["x", 1],
        Color,
        Level,
        Mixed,
        list[int],
        tuple[int, str],
        tuple[int, ...],
        set[str],
        frozenset[Color],
        dict[str, Point],
        Movie,
        Filters,
        Point,
        Settings,
        Person,
        Secretive,
        Node,
        LinkedItem,
        Envelope,
        list[Node],
        Annotated[Node | None, "a tree"],
        dict[str, list[datetime.date | None]],
    ],
)
def test_every_schema_is_a_valid_draft_2020_12_schema(tp):
    build(tp)  # check_schema runs inside


# -- converters -----------------------------------------------------------------------------------------------


def test_no_converter_needed_for_plain_json():
    builder = SchemaBuilder()
    for tp in (str, bool, list[str], dict[str, str], Optional[str], Literal["a"], Any, list, dict):
        assert builder.converter(tp) is None, tp


def test_float_converter():
    assert convert(float, 1) == 1.0 and type(convert(float, 1)) is float


def test_int_parameter_receives_an_int():
    # The schema accepts 1.0 as an integer (as JSON Schema says), so the value handed to a
    # function annotated ``int`` must be converted to a Python int.
    value = convert(int, 1.0)
    assert value == 1 and type(value) is int


def test_scalar_converters():
    assert convert(Color, "green") is Color.GREEN
    assert convert(Level, 2) is Level.HIGH
    assert convert(datetime.datetime, "2024-05-06T07:08:09+00:00") == datetime.datetime(
        2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC
    )
    assert convert(datetime.date, "2024-05-06") == datetime.date(2024, 5, 6)
    assert convert(datetime.time, "07:08:09") == datetime.time(7, 8, 9)
    u = uuid.uuid4()
    assert convert(uuid.UUID, str(u)) == u
    assert convert(Path, "/tmp/x") == Path("/tmp/x")
    assert convert(bytes, base64.b64encode(b"\x00\xff").decode()) == b"\x00\xff"
    assert convert(Annotated[Color, "c"], "red") is Color.RED


def test_optional_converter():
    assert convert(Optional[datetime.date], None) is None
    assert convert(Optional[datetime.date], "2020-01-02") == datetime.date(2020, 1, 2)
    assert convert(Optional[float], 2) == 2.0 and type(convert(Optional[float], 2)) is float


def test_union_converter_picks_matching_member():
    tp = Union[Cat, Dog]
    assert convert(tp, {"meow": "hi"}) == Cat("hi")
    assert convert(tp, {"bark": 3}) == Dog(3)


def test_collection_converters():
    assert convert(list[Color], ["red", "green"]) == [Color.RED, Color.GREEN]
    assert convert(set[str], ["a", "b", "a"]) == {"a", "b"}
    result = convert(frozenset[int], [1, 2])
    assert result == frozenset({1, 2}) and type(result) is frozenset
    assert convert(set[Color], ["red"]) == {Color.RED}
    assert convert(tuple[int, str], [1, "a"]) == (1, "a")
    assert convert(tuple[Color, ...], ["red", "green"]) == (Color.RED, Color.GREEN)
    assert convert(tuple[int, ...], [1, 2]) == (1, 2)
    assert convert(tuple, [1, 2]) == (1, 2)
    assert convert(dict[str, datetime.date], {"a": "2020-01-01"}) == {"a": datetime.date(2020, 1, 1)}
    assert convert(list[list[Color]], [["red"], []]) == [[Color.RED], []]


def test_typed_dict_converter_converts_only_what_needs_it():
    assert convert(Filters, {"tag": "t", "color": "green"}) == {"tag": "t", "color": Color.GREEN}
    assert convert(Filters, {}) == {}


def test_dataclass_converter():
    settings = convert(Settings, {"query": "q", "color": "green", "when": "2024-01-01T00:00:00"})
    assert settings == Settings(query="q", color=Color.GREEN, when=datetime.datetime(2024, 1, 1))
    assert settings.tags == [] and settings.limit == 10


def test_record_converter_drops_unknown_keys():
    assert convert(Point, {"x": 1, "y": 2, "z": 3}) == Point(1.0, 2.0)
    assert type(convert(Point, {"x": 1}).x) is float


def test_attrs_converter():
    person = convert(Person, {"name": "Ann", "birthday": "1990-02-03"})
    assert person == Person("Ann", birthday=datetime.date(1990, 2, 3))
    assert convert(Secretive, {"token": "t"}) == Secretive("t")


def test_recursive_converter():
    tree = convert(Node, {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}, {"value": 4}]})
    assert tree == Node(1, [Node(2, [Node(3)]), Node(4)])
    chain = convert(LinkedItem, {"label": "a", "next": {"label": "b", "next": None}})
    assert chain == LinkedItem("a", LinkedItem("b"))


def test_nested_converter():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    env = convert(
        Envelope,
        {
            "sender": {"name": "Bo", "age": 3},
            "points": [{"x": 1, "y": 2}],
            "tags": ["a", "a", "b"],
            "level": 1,
            "ident": str(u),
            "when": "2024-01-02T03:04:05",
            "lookup": {"origin": {"x": 0}},
        },
    )
    assert env == Envelope(
        sender=Person("Bo", 3),
        points=[Point(1.0, 2.0)],
        tags={"a", "b"},
        level=Level.LOW,
        ident=u,
        when=datetime.datetime(2024, 1, 2, 3, 4, 5),
        lookup={"origin": Point(0.0)},
    )


# -- to_json ---------------------------------------------------------------------------------------------------


def test_to_json_scalars_and_containers():
    assert to_json(None) is None
    assert to_json("s") == "s"
    assert to_json(1.5) == 1.5
    assert to_json((1, [2, (3,)])) == [1, [2, [3]]]
    assert sorted(to_json({3, 1, 2})) == [1, 2, 3]
    assert to_json(frozenset({"a"})) == ["a"]
    assert to_json({1: "a", "b": (2,)}) == {"1": "a", "b": [2]}


def test_to_json_turns_subclasses_of_str_int_and_float_into_their_plain_values():
    class Name(str):
        def __str__(self) -> str:
            return "overridden"

    class Count(int):
        def __int__(self) -> int:
            return 7

    class Ratio(float):
        pass

    converted = to_json({"items": [Name("ab"), Count(3), Ratio(0.5)], "name": Name("cd")})
    assert converted == {"items": ["ab", 3, 0.5], "name": "cd"}  # not ["a", "b"], not 7
    assert [type(value) for value in converted["items"]] == [str, int, float]


def test_typed_dict_converter_copies_only_when_a_field_changes():
    class Row(TypedDict):
        id: int
        score: float
        name: str

    given = {"id": 1, "score": 0.5, "name": "n"}
    assert convert(Row, given) is given  # nothing to change: no copy per row
    changed = convert(Row, {"id": 2.0, "score": 1, "name": "n"})
    assert changed == {"id": 2, "score": 1.0, "name": "n"}
    assert type(changed["id"]) is int and type(changed["score"]) is float


def test_to_json_special_values():
    u = uuid.uuid4()
    assert to_json(Color.RED) == "red"
    assert to_json(Level.HIGH) == 2
    assert to_json(datetime.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05"
    assert to_json(datetime.date(2024, 1, 2)) == "2024-01-02"
    assert to_json(datetime.time(3, 4)) == "03:04:00"
    assert to_json(u) == str(u)
    assert to_json(Path("/a/b")) == "/a/b"
    assert to_json(b"\x00\xff") == base64.b64encode(b"\x00\xff").decode()


def test_to_json_nested_records():
    value = Envelope(
        sender=Person("Bo", 3, ["b@example.com"], datetime.date(2000, 1, 1)),
        points=[Point(1.0, 2.0)],
        tags={"x"},
        level=Level.HIGH,
        ident=uuid.UUID(int=1),
        when=datetime.datetime(2024, 1, 2, 3, 4, 5),
        lookup={"p": Point(0.5)},
    )
    assert to_json(value) == {
        "sender": {"name": "Bo", "age": 3, "emails": ["b@example.com"], "birthday": "2000-01-01"},
        "points": [{"x": 1.0, "y": 2.0}],
        "tags": ["x"],
        "level": 2,
        "ident": "00000000-0000-0000-0000-000000000001",
        "when": "2024-01-02T03:04:05",
        "lookup": {"p": {"x": 0.5, "y": 0.0}},
    }
    dumps(to_json(value))


def test_to_json_recursive_dataclass():
    assert to_json(Node(1, [Node(2)])) == {"value": 1, "children": [{"value": 2, "children": []}]}


def test_to_json_unsupported_is_type_error():
    with pytest.raises(TypeError):
        to_json(object())
    with pytest.raises(TypeError):
        to_json(1 + 2j)


@pytest.mark.parametrize(
    "tp, value",
    [
        (Point, Point(1.0, 2.0)),
        (Settings, Settings("q", 5, ["a"], Color.GREEN, datetime.datetime(2024, 1, 1, 12, 0))),
        (Person, Person("Ann", 30, ["a@b.c"], datetime.date(1990, 1, 1))),
        (Node, Node(1, [Node(2, [Node(3)])])),
        (LinkedItem, LinkedItem("a", LinkedItem("b"))),
        (
            Envelope,
            Envelope(
                Person("Bo"), [Point(1.0, 0.0)], {"t"}, Level.LOW, uuid.UUID(int=7), datetime.datetime(2020, 5, 5)
            ),
        ),
        (list[Color], [Color.GREEN, Color.RED]),
        (tuple[int, datetime.date], (1, datetime.date(2000, 2, 2))),
        (dict[str, uuid.UUID | None], {"a": uuid.UUID(int=3), "b": None}),
        (frozenset[Level], frozenset({Level.LOW})),
        (bytes, b"hello"),
    ],
)
def test_round_trip_through_json(tp, value):
    data = to_json(value)
    full, builder = build(tp)
    jsonschema.Draft202012Validator(full).validate(data)
    converter = builder.converter(tp)
    assert (data if converter is None else converter(data)) == value


def test_to_json_of_attrs_private_attribute_matches_its_schema():
    # The schema names the field by its __init__ alias ("token"), so the structured output
    # produced by to_json must use the same key or it fails the tool's output schema.
    data = to_json(Secretive("abc", 2))
    assert data == {"token": "abc", "visible": 2}
    jsonschema.Draft202012Validator(schema_of(Secretive)).validate(data)
