"""Asking the client: elicitation, sampling and roots, for both eras.

In the handshake era a question is a request pushed to the client on the asking request's own
stream. In 2026-07-28 it is a multi-round-trip exchange: the handler stops with
:class:`InputRequired`, the client answers in a retry, and the handler runs again from the
start, this time finding its answers (see ``docs/asking.md``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Generic, Literal, TypeVar

import attrs

from ..protocol.errors import MISSING_CLIENT_CAPABILITY, RemoteProtocolError, show_value
from .content import Message
from .jsonschema import Validator
from .typeschema import Converter, SchemaBuilder

T = TypeVar("T")


@attrs.frozen
class ElicitResult(Generic[T]):
    """The user's answer: ``accept`` (with ``content``), ``decline`` or ``cancel``."""

    action: Literal["accept", "decline", "cancel"]
    content: T | None = None


@attrs.frozen
class SampleResult:
    """What the client's model answered (``raw`` is the whole ``CreateMessageResult``)."""

    role: str
    content: Any
    model: str | None
    stop_reason: str | None
    raw: dict[str, Any]

    @property
    def text(self) -> str | None:
        """The answer's text, when it is a single text block."""
        content = self.content
        if type(content) is dict and content.get("type") == "text":
            return content.get("text")
        return None


@attrs.frozen
class Root:
    """A root the client exposes (a directory, a repository…)."""

    uri: str
    name: str | None = None


class MissingClientCapability(RemoteProtocolError):
    """The client did not declare the capability this question needs (-32021)."""

    def __init__(self, capability: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"This needs the client capability {capability!r}, which the client did not declare",
            code=MISSING_CLIENT_CAPABILITY,
            data={"requiredCapabilities": {capability: detail or {}}},
        )
        self.capability = capability


class ClientAnswerError(Exception):
    """The client's answer does not have the shape the question asked for."""


class InputRequired(BaseException):
    """Raised inside a 2026-07-28 handler that asked something not answered yet; the runtime
    turns it into an ``input_required`` result carrying ``requests`` (key → question). A
    ``BaseException`` so that handlers' ``except Exception`` blocks let it through (their
    ``finally`` blocks run)."""

    def __init__(self, requests: dict[str, dict[str, Any]]) -> None:
        super().__init__(", ".join(requests))
        self.requests = requests


# -- questions ------------------------------------------------------------------------------------


class ElicitationForm:
    """The requested schema of a form elicitation, its validator and its converter. A scalar
    type (``str``, ``int``, ``float``, ``bool``, a ``Literal`` of them) asks for one field,
    ``value``, and the answer's content is that value."""

    def __init__(self, shape: type | dict[str, Any]) -> None:
        self._scalar = False
        if isinstance(shape, dict):
            self.schema = shape
            self._convert: Converter | None = None
        else:
            builder = SchemaBuilder()
            schema = builder.schema(shape)
            if schema.get("type") in ("string", "integer", "number", "boolean") and not builder.defs:
                self._scalar = True
                self.schema = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
                self._convert = builder.converter(shape)
                self._validator = Validator(self.schema)
                return
            if schema.get("type") != "object" or builder.defs:
                raise TypeError(f"an elicitation form needs a flat record type, not {shape!r}")
            for name, prop in schema.get("properties", {}).items():
                if prop.get("type") not in ("string", "integer", "number", "boolean", "array"):
                    raise TypeError(f"elicitation field {name!r} must be a string, number, boolean or enum list")
            self.schema = schema
            self._convert = builder.converter(shape)
        self._validator = Validator(self.schema)

    def read(self, result: Any) -> ElicitResult[Any]:
        """Check the client's ``ElicitResult`` and convert accepted content."""
        if type(result) is not dict or result.get("action") not in ("accept", "decline", "cancel"):
            raise ClientAnswerError(f"the client's elicitation result is malformed: {show_value(result)}")
        if result["action"] != "accept":
            return ElicitResult(result["action"])
        content = result.get("content") or {}
        problem = self._validator.first_error(content)
        if problem is not None:
            raise ClientAnswerError(f"the client's answer does not fit the form: {problem}")
        if self._scalar:
            value = content["value"]
            return ElicitResult("accept", self._convert(value) if self._convert else value)
        return ElicitResult("accept", self._convert(content) if self._convert else content)


_FORMS: dict[Any, ElicitationForm] = {}


def elicitation_form(shape: type | dict[str, Any]) -> ElicitationForm:
    """The (cached, for types) form for ``shape``."""
    if isinstance(shape, dict):
        return ElicitationForm(shape)
    form = _FORMS.get(shape)
    if form is None:
        form = _FORMS[shape] = ElicitationForm(shape)
    return form


def sampling_params(
    messages: str | list[Any],
    *,
    max_tokens: int,
    system_prompt: str | None = None,
    temperature: float | None = None,
    stop_sequences: list[str] | None = None,
    model_preferences: dict[str, Any] | None = None,
    include_context: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``sampling/createMessage`` params; a string is one user message."""
    items = [Message(messages)] if isinstance(messages, str) else messages
    params: dict[str, Any] = {
        "messages": [m.to_dict(None) if isinstance(m, Message) else m for m in items],
        "maxTokens": max_tokens,
    }
    for key, value in (
        ("systemPrompt", system_prompt),
        ("temperature", temperature),
        ("stopSequences", stop_sequences),
        ("modelPreferences", model_preferences),
        ("includeContext", include_context),
        ("metadata", metadata),
    ):
        if value is not None:
            params[key] = value
    return params


def read_sample(result: Any) -> SampleResult:
    if type(result) is not dict or "content" not in result:
        raise ClientAnswerError(f"the client's sampling result is malformed: {show_value(result)}")
    return SampleResult(
        role=result.get("role", "assistant"),
        content=result["content"],
        model=result.get("model"),
        stop_reason=result.get("stopReason"),
        raw=result,
    )


def read_action(result: Any) -> ElicitResult[None]:
    """The action of a URL elicitation's answer."""
    if type(result) is not dict or result.get("action") not in ("accept", "decline", "cancel"):
        raise ClientAnswerError(f"the client's elicitation result is malformed: {show_value(result)}")
    return ElicitResult(result["action"])


def read_roots(result: Any) -> list[Root]:
    roots = result.get("roots") if type(result) is dict else None
    if type(roots) is not list or not all(type(r) is dict and type(r.get("uri")) is str for r in roots):
        raise ClientAnswerError(f"the client's roots result is malformed: {show_value(result)}")
    return [Root(r["uri"], r.get("name")) for r in roots]


class Rounds:
    """The answers a 2026-07-28 handler run can use, by question key."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers: dict[str, Any] = answers or {}
        self._seen: dict[str, int] = {}

    def key_for(self, method: str, params: dict[str, Any]) -> str:
        """A key derived from the question itself (``elicitation-3f2a…``), so it is the same in
        every round whatever order concurrent questions run in; asking the very same question
        again in one run gets ``-2``, ``-3``…"""
        digest = hashlib.sha256(json.dumps([method, params], sort_keys=True, default=str).encode()).hexdigest()[:12]
        key = f"{method.split('/', 1)[0]}-{digest}"
        count = self._seen[key] = self._seen.get(key, 0) + 1
        return key if count == 1 else f"{key}-{count}"


def collect_input_required(error: BaseException) -> InputRequired | None:
    """Every question inside ``error`` (a nursery may have grouped several), as one."""
    if isinstance(error, InputRequired):
        return error
    if isinstance(error, BaseExceptionGroup):
        requests: dict[str, dict[str, Any]] = {}
        for inner in error.exceptions:
            found = collect_input_required(inner)
            if found is not None:
                requests.update(found.requests)
        return InputRequired(requests) if requests else None
    return None
