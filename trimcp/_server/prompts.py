"""Prompts: functions whose string arguments fill in a list of messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from ..protocol.errors import INVALID_PARAMS, RemoteProtocolError
from ..protocol.jsonrpc import RequestId
from .content import Message
from .context import Context
from .offering import Offering
from .typeschema import from_text


class Prompt(Offering):
    """A registered prompt. Built by :meth:`trimcp.Server.prompt`."""

    def __init__(self, fn: Callable[..., Any], **presentation: Any) -> None:
        super().__init__(fn, what="prompt", **presentation)
        required = set(self.spec.input_schema.get("required", ()))
        self.arguments = []
        for arg_name in self.spec.parameters:
            argument: dict[str, Any] = {"name": arg_name, "required": arg_name in required}
            arg_description = self.spec.parameter_description(arg_name)
            if arg_description:
                argument["description"] = arg_description
            self.arguments.append(argument)

    def definition(self, version: str | None) -> dict[str, Any]:
        prompt: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            prompt["description"] = self.description
        if self.arguments:
            prompt["arguments"] = self.arguments
        prompt.update(self.presented(version))
        return prompt

    def arguments_from(self, raw: Any, request_id: RequestId | None) -> dict[str, Any]:
        """Check and convert ``prompts/get`` arguments (strings); -32602 saying what is wrong."""
        if raw is None:
            raw = {}
        if type(raw) is not dict or any(type(v) is not str for v in raw.values()):
            raise _invalid(f"arguments of prompt {self.name!r} must be an object of strings", request_id)
        properties = self.spec.input_schema["properties"]
        values = {k: from_text(v, properties[k]) for k, v in raw.items() if k in properties}
        error = self.spec.validator.first_error(values)
        if error is not None:
            raise _invalid(f"arguments of prompt {self.name!r}: {error}", request_id)
        return self.spec.convert(values)

    async def render(
        self, kwargs: dict[str, Any], context: Context, limiter: trio.CapacityLimiter, version: str | None
    ) -> dict[str, Any]:
        """Call the function and build the ``GetPromptResult``."""
        value = await self.spec.call(kwargs, context, limiter)
        items = value if type(value) in (list, tuple) else [value]
        messages = [
            item.to_dict(version)
            if isinstance(item, Message)
            else item
            if type(item) is dict
            else Message(item).to_dict(version)
            for item in items
        ]
        result: dict[str, Any] = {"messages": messages}
        if self.description is not None:
            result["description"] = self.description
        return result


def _invalid(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid params: {reason}", code=INVALID_PARAMS, request_id=request_id)
