"""Tools: a function plus what clients are told about it, and how a call becomes a result."""

from __future__ import annotations

import inspect
import logging
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

import attrs
import trio

from ..protocol.errors import ProtocolError, RequestFailed
from ..protocol.lifecycle import Feature, carries
from .asking import ClientAnswerError
from .content import (
    Audio,
    EmbeddedResource,
    Image,
    ResourceContents,
    ResourceLink,
    content_block,
    for_version,
    is_content_dict,
    json_data_and_text,
    json_text,
)
from .context import Context
from .errors import ToolError
from .jsonschema import Validator
from .offering import Offering
from .typeschema import SchemaBuilder, is_object_type, to_json

logger = logging.getLogger("trimcp")

#: Whether a call of a tool may (``optional``) or must (``required``) become a task.
TaskSupport = Literal["forbidden", "optional", "required"]


@attrs.define
class ToolResult:
    """Full control over a tool's result: content blocks, structured content, error flag."""

    content: list[Any] = attrs.field(factory=list)
    structured_content: Any = None
    is_error: bool = False
    meta: dict[str, Any] | None = None


class Tool(Offering):
    """A registered tool. Built by :meth:`trimcp.Server.tool`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        annotations: dict[str, Any] | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        deadline: float | None = None,
        task_support: TaskSupport = "forbidden",
        task_ttl_ms: int | None = None,
        task_poll_interval_ms: int | None = None,
        **presentation: Any,
    ) -> None:
        super().__init__(fn, what="tool", **presentation)
        if task_support not in ("forbidden", "optional", "required"):
            raise ValueError(f"task_support must be 'forbidden', 'optional' or 'required', not {task_support!r}")
        self.annotations = annotations
        self.deadline = deadline
        self.task_support = task_support
        self.task_ttl_ms = task_ttl_ms
        self.task_poll_interval_ms = task_poll_interval_ms
        #: A raw schema given by the author is sent verbatim and validated as given.
        self.input_schema = input_schema if input_schema is not None else self.spec.input_schema
        self._validator = Validator(self.input_schema) if input_schema is not None else self.spec.validator
        self._raw_arguments = input_schema is not None
        self.output_schema, self._wrap_result = self._output_schema(output_schema)
        self._output_validator = Validator(self.output_schema) if self.output_schema is not None else None
        self._definitions: dict[str | None, dict[str, Any]] = {}

    def _output_schema(self, given: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
        if given is not None:
            return given, False
        annotation = self.spec.return_annotation
        if annotation in (typing.Any, object, str, None, type(None)) or annotation is inspect.Parameter.empty:
            return None, False
        if _is_passed_through(annotation):
            return None, False  # content blocks or a whole result: not data with a schema
        builder = SchemaBuilder()
        try:
            schema = builder.schema(annotation)
        except TypeError:
            return None, False
        if builder.defs:
            schema = {**schema, "$defs": builder.defs}
        if is_object_type(annotation) and schema.get("type") == "object":
            return schema, False
        if _mentions_any(annotation):
            return None, False  # e.g. list[Any]: mixed content, not data with a schema
        wrapped: dict[str, Any] = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
        if builder.defs:
            wrapped["$defs"] = schema.pop("$defs")
        return wrapped, True

    def definition(self, version: str | None) -> dict[str, Any]:
        """The ``Tool`` object for ``tools/list``, with only what ``version`` knows."""
        cached = self._definitions.get(version)
        if cached is not None:
            return cached
        tool: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            tool["description"] = self.description
        tool["inputSchema"] = self.input_schema
        if self.annotations and carries(version, Feature.TOOL_ANNOTATIONS):
            tool["annotations"] = self.annotations
        if self.output_schema is not None and carries(version, Feature.OUTPUT_SCHEMAS):
            tool["outputSchema"] = self.output_schema
        if self.task_support != "forbidden" and carries(version, Feature.EXPERIMENTAL_TASKS):
            tool["execution"] = {"taskSupport": self.task_support}
        tool.update(self.presented(version))
        self._definitions[version] = tool
        return tool

    async def call(self, arguments: dict[str, Any], context: Context, limiter: trio.CapacityLimiter) -> dict[str, Any]:
        """Validate, convert, call, and turn the outcome into a ``CallToolResult`` dict.

        Bad arguments, :class:`ToolError`, the deadline and unexpected exceptions all become
        ``isError`` results; only cancellation propagates.
        """
        error = self._validator.first_error(arguments)
        if error is not None:
            return error_result(f"Invalid arguments for tool {self.name!r}: {error}")
        kwargs = dict(arguments) if self._raw_arguments else self.spec.convert(arguments)
        version = context.protocol_version
        try:
            if self.deadline is None:
                value = await self.spec.call(kwargs, context, limiter)
            else:
                context.deadline = trio.current_time() + self.deadline
                with trio.move_on_at(context.deadline) as scope:
                    value = await self.spec.call(kwargs, context, limiter)
                if scope.cancelled_caught:
                    return error_result(f"Tool {self.name!r} was cancelled: its deadline of {self.deadline:g} s passed")
        except ToolError as exc:
            return error_result(str(exc))
        except (ClientAnswerError, RequestFailed) as exc:
            return error_result(f"Tool {self.name!r} failed: the client's answer was unusable ({exc})")
        except ProtocolError as exc:
            if context.per_request:
                raise  # 2026-07-28: the call's JSON-RPC error (-32021 for a missing capability…)
            return error_result(exc.message)
        except Exception as exc:
            hint = _hint_for(exc)
            logger.exception("Tool %r raised%s", self.name, hint)
            return error_result(f"Tool {self.name!r} failed: internal error")
        try:
            return self._result(value, version)
        except (TypeError, ValueError) as exc:
            logger.error("Tool %r returned a value that cannot be sent: %s", self.name, exc)
            return error_result(f"Tool {self.name!r} failed: its result cannot be sent ({exc})")

    def _result(self, value: Any, version: str | None) -> dict[str, Any]:
        structured_ok = carries(version, Feature.OUTPUT_SCHEMAS)
        if isinstance(value, ToolResult):
            structured = None if value.structured_content is None else to_json(value.structured_content)
            if not value.is_error and (failed := self._schema_error(structured)) is not None:
                return failed  # isError results are exempt from the output schema
            result: dict[str, Any] = {"content": for_version([content_block(c) for c in value.content], version)}
            if structured is not None and structured_ok:
                result["structuredContent"] = structured
            if value.is_error:
                result["isError"] = True
            if value.meta:
                result["_meta"] = value.meta
            return result
        if self.output_schema is not None:
            data, text = json_data_and_text(value)
            structured = {"result": data} if self._wrap_result else data
            if (failed := self._schema_error(structured)) is not None:
                return failed
            if type(data) is str:
                text = data
            result = {"content": [{"type": "text", "text": text}]}
            if structured_ok:
                result["structuredContent"] = structured
            return result
        return {"content": for_version(_content_list(value), version)}

    def _schema_error(self, structured: Any) -> dict[str, Any] | None:
        """The error result (logged) for structured content that breaks the advertised output
        schema, missing content included; ``None`` when it conforms or there is no schema."""
        if self._output_validator is None:
            return None
        problem = "no structured content" if structured is None else self._output_validator.first_error(structured)
        if problem is None:
            return None
        logger.error("Tool %r returned data that does not match its output schema: %s", self.name, problem)
        return error_result(f"Tool {self.name!r} failed: its result does not match its output schema")


#: Return types sent as content blocks (or, ``ToolResult``, as the whole result), never as data.
_PASSED_THROUGH = (ToolResult, Image, Audio, ResourceLink, EmbeddedResource, ResourceContents, bytes)


def _is_passed_through(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType, typing.Annotated):
        return any(_is_passed_through(arg) for arg in typing.get_args(annotation))
    return annotation in _PASSED_THROUGH


def _mentions_any(annotation: Any) -> bool:
    if annotation is typing.Any:
        return True
    return any(_mentions_any(arg) for arg in typing.get_args(annotation))


def _content_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if type(value) in (list, tuple):
        if all(type(item) is str or is_content_dict(item) or hasattr(item, "to_content") for item in value):
            return [content_block(item) for item in value]
        return [{"type": "text", "text": json_text(value)}]
    return [content_block(value)]


def _hint_for(exc: Exception) -> str:
    """What a developer should know about ``exc`` beyond its traceback, if anything."""
    if isinstance(exc, RuntimeError) and "no running event loop" in str(exc):
        return (
            " (an asyncio-only library? trimcp runs on Trio: use a Trio or AnyIO library, such as httpx, or run the"
            " asyncio code in a thread with asyncio.run inside trio.to_thread.run_sync)"
        )
    return ""


def error_result(message: str) -> dict[str, Any]:
    """An ``isError`` tool result with one text block."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


def is_advised_tool_name(name: str) -> bool:
    """Whether ``name`` follows the specification's advice (1–128 of ``A-Za-z0-9_.-``)."""
    return 0 < len(name) <= 128 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)
