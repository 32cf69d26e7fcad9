"""Reading a user function once, at registration: its parameters become a JSON Schema, a
validator and converters; a ``Context`` parameter is found; sync functions go to threads."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import trio

from .context import Context
from .jsonschema import Validator
from .lifespan import LifespanNotRunning
from .typeschema import Converter, SchemaBuilder, _is_jsonable, annotated_description


class FunctionSpec:
    """A registered function, ready to be called with validated JSON arguments.

    ``localns`` resolves string annotations naming classes local to the registering scope
    (as ``from __future__ import annotations`` produces). A parameter annotated with one of
    ``dependencies`` (the server lifespan's type) receives the lifespan's value.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        what: str,
        localns: dict[str, Any] | None = None,
        dependencies: tuple[type, ...] = (),
    ) -> None:
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
        )
        try:
            hints = typing.get_type_hints(fn, localns=localns, include_extras=True)
        except Exception as exc:
            raise TypeError(f"cannot resolve the type hints of {what} {_name(fn)!r}: {exc}") from exc
        self.return_annotation = hints.get("return", inspect.Parameter.empty)
        self.context_param: str | None = None
        #: Parameters that receive the lifespan's value.
        self.lifespan_params: list[str] = []
        self.parameters: dict[str, inspect.Parameter] = {}
        builder = SchemaBuilder()
        properties: dict[str, Any] = {}
        required: list[str] = []
        self.converters: dict[str, Converter] = {}
        for name, param in inspect.signature(fn).parameters.items():
            annotation = hints.get(name, inspect.Parameter.empty)
            if _is_context(annotation):
                self.context_param = name
                continue
            if _is_dependency(annotation, dependencies):
                self.lifespan_params.append(name)
                continue
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise TypeError(f"{what} {_name(fn)!r}: *args and **kwargs cannot be described to clients")
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise TypeError(f"{what} {_name(fn)!r}: positional-only parameter {name!r} cannot be passed by name")
            if name in ("ctx", "context") and annotation is inspect.Parameter.empty:
                raise TypeError(
                    f"{what} {_name(fn)!r}: parameter {name!r} has no annotation; annotate it as trimcp.Context "
                    "to receive the context (an argument named so would be asked of the client)"
                )
            try:
                prop = builder.schema(annotation)
                converter = builder.converter(annotation)
            except TypeError as exc:
                raise TypeError(f"{what} {_name(fn)!r}, parameter {name!r}: {exc}") from None
            if param.default is inspect.Parameter.empty:
                required.append(name)
            elif _is_jsonable(param.default):
                prop = {**prop, "default": param.default}
            properties[name] = prop
            if converter is not None:
                self.converters[name] = converter
            self.parameters[name] = param
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if builder.defs:
            schema["$defs"] = builder.defs
        self.input_schema = schema
        self.builder = builder
        self.validator = Validator(schema)

    def parameter_description(self, name: str) -> str | None:
        """The ``Annotated`` description of a parameter, if it has one."""
        annotation = self.parameters[name].annotation
        if typing.get_origin(annotation) is typing.Annotated:
            return annotated_description(typing.get_args(annotation)[1:])
        return self.input_schema["properties"][name].get("description")

    def convert(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated JSON arguments → keyword arguments (unknown names dropped)."""
        parameters = self.parameters
        converters = self.converters
        return {
            name: (converters[name](value) if name in converters else value)
            for name, value in arguments.items()
            if name in parameters
        }

    async def call(self, kwargs: dict[str, Any], context: Context | None, limiter: trio.CapacityLimiter) -> Any:
        """Call the function; a sync one runs in a worker thread under ``limiter``."""
        if self.context_param is not None:
            kwargs[self.context_param] = context
        for name in self.lifespan_params:
            if context is None:
                raise LifespanNotRunning(
                    f"{_name(self.fn)!r} needs the lifespan's value and was called without a context"
                )
            kwargs[name] = context.lifespan
        if self.is_async:
            return await self.fn(**kwargs)
        return await trio.to_thread.run_sync(functools.partial(self.fn, **kwargs), limiter=limiter)


def _is_context(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return isinstance(annotation, type) and issubclass(annotation, Context)


def _is_dependency(annotation: Any, dependencies: tuple[type, ...]) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return (
        isinstance(annotation, type)
        and annotation is not object
        and any(issubclass(dependency, annotation) for dependency in dependencies)
    )


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", repr(fn))


def description_of(fn: Callable[..., Any]) -> str | None:
    """The function's docstring, cleaned up, as a description for clients."""
    doc = inspect.getdoc(fn)
    return doc or None
