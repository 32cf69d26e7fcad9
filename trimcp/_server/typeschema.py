"""Python type hints → JSON Schema, plus converters from validated JSON back to those types.

Supported: ``str``, ``int``, ``float``, ``bool``, ``None``, ``bytes`` (base64 text),
``Optional``/``Union``, ``Literal``, ``Enum``, ``list``/``tuple``/``set``/``frozenset``/``dict``
(and their ``collections.abc`` forms), ``TypedDict``, dataclasses, attrs classes,
``datetime``/``date``/``time``/``UUID``/``Path``, ``Annotated[T, "description"]``, ``Any``, and
pydantic models when pydantic is installed. Recursive classes become ``$defs`` entries.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import inspect
import json
import math
import sys
import types
import typing
import uuid
from collections import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union

import attrs

from .jsonschema import Validator

Converter = Callable[[Any], Any]

_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
}
_STRING_FORMATS: dict[Any, tuple[str | None, Converter]] = {
    datetime.datetime: ("date-time", datetime.datetime.fromisoformat),
    datetime.date: ("date", datetime.date.fromisoformat),
    datetime.time: ("time", datetime.time.fromisoformat),
    uuid.UUID: ("uuid", uuid.UUID),
    Path: (None, Path),
}
_SEQUENCES = {list, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection}
_SETS = {set, frozenset, abc.Set, abc.MutableSet}
_MAPPINGS = {dict, abc.Mapping, abc.MutableMapping}


#: TypedDict key qualifiers: they say whether a key is required, not what its value is.
_QUALIFIERS = (typing.Required, typing.NotRequired)


def _identity(value: Any) -> Any:
    return value


def _whole(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer; an ``int`` parameter should still get an ``int``."""
    return int(value) if type(value) is float else value


class SchemaBuilder:
    """Builds schemas (and converters) for the types of one signature; collects ``$defs``."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}
        self._in_progress: set[Any] = set()
        self._recursive: set[Any] = set()
        self._converters: dict[type, Converter | None] = {}

    def schema(self, tp: Any) -> dict[str, Any]:
        """The JSON Schema for ``tp``. Raises ``TypeError`` for a type with no JSON form."""
        if tp is Any or tp is inspect.Parameter.empty or tp is object:
            return {}
        simple = _SIMPLE.get(tp)
        if simple is not None:
            return dict(simple)
        if tp in _STRING_FORMATS:
            fmt = _STRING_FORMATS[tp][0]
            return {"type": "string", "format": fmt} if fmt else {"type": "string"}
        if tp is bytes:
            return {"type": "string", "contentEncoding": "base64"}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in _QUALIFIERS:
            return self.schema(args[0])
        if origin is typing.Annotated:
            schema = self.schema(args[0])
            description = annotated_description(args[1:])
            if description:
                schema = {**schema, "description": description}
            return schema
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        if origin is Literal:
            return _literal_schema(args)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _literal_schema(tuple(member.value for member in tp))
        if origin in _SEQUENCES or tp in _SEQUENCES:
            return {"type": "array", "items": self.schema(args[0])} if args else {"type": "array"}
        if origin in _SETS or tp in _SETS:
            schema: dict[str, Any] = {"type": "array", "uniqueItems": True}
            if args:
                schema["items"] = self.schema(args[0])
            return schema
        if origin is tuple or tp is tuple:
            return self._tuple(tp, args)
        if origin in _MAPPINGS or tp in _MAPPINGS:
            if args and args[0] not in (str, Any):
                raise TypeError(f"JSON object keys are strings; {tp!r} has {args[0]!r} keys")
            schema = {"type": "object"}
            if args:
                schema["additionalProperties"] = self.schema(args[1])
            return schema
        if _is_record_class(tp):
            return self._record(tp)
        raise TypeError(f"no JSON Schema for {tp!r}")

    def converter(self, tp: Any) -> Converter | None:
        """A function turning validated JSON into ``tp``; ``None`` when the JSON value already is one."""
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated or origin in _QUALIFIERS:
            return self.converter(args[0])
        if tp is float:
            return float
        if tp is int:
            return _whole
        if tp in _STRING_FORMATS:
            return _STRING_FORMATS[tp][1]
        if tp is bytes:
            return base64.b64decode
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return tp
        if origin is Union or origin is types.UnionType:
            return self._union_converter(args)
        if origin in _SEQUENCES or origin in _SETS or origin is tuple or tp in _SETS or tp is tuple:
            return self._collection_converter(tp, origin, args)
        if origin in _MAPPINGS and args:
            inner = self.converter(args[1])
            return None if inner is None else (lambda value: {k: inner(v) for k, v in value.items()})
        if _is_record_class(tp):
            return self._record_converter(tp)
        return None

    # -- pieces -------------------------------------------------------------------------------

    def _union(self, args: tuple[Any, ...]) -> dict[str, Any]:
        members = [self.schema(arg) for arg in args]
        if all(set(m) == {"type"} and type(m["type"]) is str for m in members):
            return {"type": [m["type"] for m in members]}
        return {"anyOf": members}

    def _tuple(self, tp: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        if tp is tuple:
            return {"type": "array"}
        if not args or args == ((),):  # tuple[()] (its args are () or ((),) by Python version)
            return {"type": "array", "maxItems": 0}
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.schema(args[0])}
        return {
            "type": "array",
            "prefixItems": [self.schema(arg) for arg in args],
            "minItems": len(args),
            "maxItems": len(args),
        }

    def _record(self, cls: type) -> dict[str, Any]:
        if _is_pydantic_model(cls):
            return self._pydantic(cls)
        name = cls.__name__
        if cls in self._in_progress:
            self._recursive.add(cls)
            return {"$ref": f"#/$defs/{name}"}
        self._in_progress.add(cls)
        try:
            properties: dict[str, Any] = {}
            required: list[str] = []
            for field in record_fields(cls):
                prop = self.schema(field.type)
                if field.default is not NO_DEFAULT and _is_jsonable(field.default):
                    prop = {**prop, "default": field.default}
                properties[field.name] = prop
                if not field.has_default:
                    required.append(field.name)
        finally:
            self._in_progress.discard(cls)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        doc = inspect.cleandoc(cls.__doc__ or "")
        if doc and not doc.startswith(f"{name}("):  # skip dataclass's generated signature doc
            schema["description"] = doc
        if cls in self._recursive:
            self.defs[name] = schema
            return {"$ref": f"#/$defs/{name}"}
        return schema

    def _pydantic(self, cls: type) -> dict[str, Any]:
        schema = dict(cls.model_json_schema(ref_template="#/$defs/{model}"))  # type: ignore[attr-defined]
        self.defs.update(schema.pop("$defs", {}))
        return schema

    def _union_converter(self, args: tuple[Any, ...]) -> Converter | None:
        converters = [self.converter(arg) for arg in args]
        if all(c is None for c in converters):
            return None
        options = [(Validator(self._standalone(arg)), c or _identity) for arg, c in zip(args, converters)]

        def convert(value: Any) -> Any:
            for validator, convert_member in options:
                if validator.is_valid(value):
                    return convert_member(value)
            return value

        return convert

    def _standalone(self, tp: Any) -> dict[str, Any]:
        schema = self.schema(tp)
        return {**schema, "$defs": self.defs} if self.defs else schema

    def _collection_converter(self, tp: Any, origin: Any, args: tuple[Any, ...]) -> Converter | None:
        container = origin or tp
        if origin is tuple or tp is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                inner = self.converter(args[0]) or _identity
                return lambda value: tuple(inner(v) for v in value)
            per_item = [self.converter(arg) or _identity for arg in args] if args and args != ((),) else None
            if per_item is None:
                return tuple
            return lambda value: tuple(c(v) for c, v in zip(per_item, value))
        inner = self.converter(args[0]) if args else None
        build = frozenset if container is frozenset else set if container in _SETS else None
        if build is None:
            return None if inner is None else (lambda value: [inner(v) for v in value])
        return build if inner is None else (lambda value: build(inner(v) for v in value))

    def _record_converter(self, cls: type) -> Converter | None:
        if _is_pydantic_model(cls):
            return cls.model_validate  # type: ignore[attr-defined]
        if cls in self._converters:
            return self._converters[cls]
        # A recursive class meets itself while its field converters are built: hand out a
        # forwarder to the converter that is about to exist.
        built: list[Converter] = []
        self._converters[cls] = lambda value: built[0](value)
        fields = record_fields(cls)
        converters = {f.name: c for f in fields if (c := self.converter(f.type)) is not None}
        convert: Converter | None
        if typing.is_typeddict(cls):
            convert = _changed_fields(converters) if converters else None
        else:
            known = {f.name for f in fields}

            def convert(value: dict[str, Any]) -> Any:
                return cls(**{k: (converters[k](v) if k in converters else v) for k, v in value.items() if k in known})

        built.append(convert or _identity)
        self._converters[cls] = convert
        return convert


#: Converters that give back a value of this type as it is (no call needed).
_UNCHANGED: dict[Converter, type] = {float: float, _whole: int}


def _changed_fields(converters: dict[str, Converter]) -> Converter:
    """A TypedDict's converter: the dict itself when no field's converter changes its value
    (a ``float`` field given a float), else a copy with the converted values."""
    fields = [(key, convert, _UNCHANGED.get(convert)) for key, convert in converters.items()]

    def convert(value: dict[str, Any]) -> dict[str, Any]:
        copy = None
        for key, convert_field, unchanged in fields:
            if key in value:
                given = value[key]
                if type(given) is unchanged:
                    continue
                converted = convert_field(given)
                if converted is not given:
                    if copy is None:
                        copy = dict(value)
                    copy[key] = converted
        return value if copy is None else copy

    return convert


#: Stands for "no plain default value" (absent, or made by a factory).
NO_DEFAULT: Any = object()


@attrs.frozen
class RecordField:
    name: str
    type: Any
    has_default: bool
    default: Any = NO_DEFAULT


def record_fields(cls: type) -> list[RecordField]:
    """The fields of a TypedDict, dataclass or attrs class, with resolved type hints."""
    hints = typing.get_type_hints(cls, include_extras=True, localns=_class_namespace(cls))
    if typing.is_typeddict(cls):
        required = cls.__required_keys__  # type: ignore[attr-defined]
        return [RecordField(name, hint, name not in required) for name, hint in hints.items()]
    if dataclasses.is_dataclass(cls):
        result = []
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            default = field.default if field.default is not dataclasses.MISSING else NO_DEFAULT
            result.append(RecordField(field.name, hints.get(field.name, Any), has_default, default))
        return result
    result = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        default = field.default
        has_default = default is not attrs.NOTHING
        plain_default = NO_DEFAULT if not has_default or isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]
        name = field.alias or field.name
        result.append(RecordField(name, hints.get(field.name, field.type or Any), has_default, plain_default))
    return result


def _class_namespace(cls: type) -> dict[str, Any]:
    return {cls.__name__: cls, **vars(sys.modules.get(cls.__module__, object()))}


def _is_record_class(tp: Any) -> bool:
    return isinstance(tp, type) and (
        typing.is_typeddict(tp) or dataclasses.is_dataclass(tp) or attrs.has(tp) or _is_pydantic_model(tp)
    )


def _is_pydantic_model(tp: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def is_object_type(tp: Any) -> bool:
    """Whether values of ``tp`` are JSON objects (records and ``dict``)."""
    if typing.get_origin(tp) is typing.Annotated:
        return is_object_type(typing.get_args(tp)[0])
    return _is_record_class(tp) or tp in _MAPPINGS or typing.get_origin(tp) in _MAPPINGS


def annotated_description(metadata: tuple[Any, ...]) -> str | None:
    """A description from ``Annotated`` metadata: a plain string, or anything with ``.description``."""
    for item in metadata:
        if isinstance(item, str):
            return item
        description = getattr(item, "description", None)
        if isinstance(description, str):
            return description
    return None


def _literal_schema(values: tuple[Any, ...]) -> dict[str, Any]:
    kinds = {type(v) for v in values}
    schema: dict[str, Any] = {"enum": list(values)}
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind in _SIMPLE:
            schema = {**_SIMPLE[kind], **schema}
    return schema


def _is_jsonable(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) in (list, tuple):
        return all(_is_jsonable(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_jsonable(v) for k, v in value.items())
    return False


_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """Turn a tool's Python return value into JSON-ready data (records, enums, sets, dates…)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:  # scalars are tested here rather than in a call per value: rows are long
        return {(k if type(k) is str else str(k)): (v if type(v) in _SCALARS else to_json(v)) for k, v in value.items()}
    if kind in (list, tuple, set, frozenset):
        return [v if type(v) in _SCALARS else to_json(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, (str, int, float)):  # a subclass: its value, not its overrides
        return str.__str__(value) if isinstance(value, str) else _plain_number(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if attrs.has(type(value)):
        return {(f.alias or f.name): to_json(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if _is_pydantic_model(type(value)):
        return value.model_dump(mode="json")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Path)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, abc.Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (abc.Sequence, abc.Set)):
        return [to_json(v) for v in value]
    raise TypeError(f"cannot represent {kind.__name__} as JSON")


def _plain_number(value: Any) -> Any:
    return int.__int__(value) if isinstance(value, int) else float.__float__(value)


def from_text(raw: str, schema: dict[str, Any]) -> Any:
    """Text from a URI or a prompt argument, as the JSON type its parameter's ``schema``
    expects (its ``type``, or the one type besides ``null`` of an ``anyOf``); left as text when
    it does not parse, so validation names the problem."""
    json_type = schema.get("type")
    if json_type is None and "anyOf" in schema:
        types = [choice.get("type") for choice in schema["anyOf"] if choice.get("type") != "null"]
        json_type = types[0] if len(types) == 1 else None
    try:
        if json_type == "integer":
            return int(raw)
        if json_type == "number":
            return float(raw)
    except ValueError:
        return raw
    if json_type == "boolean" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if json_type in ("array", "object"):  # a prompt argument carrying a list or an object as JSON
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw
