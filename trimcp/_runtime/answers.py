"""The answers a dispatcher sends, encoded once: results, errors, batches."""

from __future__ import annotations

import logging
from typing import Any

from ..protocol import jsonrpc
from ..protocol.errors import INTERNAL_ERROR, ProtocolError
from ..protocol.jsonrpc import RequestId
from .outbox import Outgoing

logger = logging.getLogger("trimcp")


def response(request_id: RequestId, result: Any) -> Outgoing:
    """A success response; a result JSON cannot carry is a -32603 saying why."""
    try:
        return Outgoing(jsonrpc.response_bytes(request_id, result), final=True)
    except (TypeError, ValueError) as exc:
        logger.error("The result of request %r cannot be encoded as JSON: %s", request_id, exc)
        return error(request_id, internal_error(f"the result cannot be encoded as JSON ({exc})"))


def error(request_id: RequestId | None, exc: ProtocolError) -> Outgoing:
    """An error response; ``data`` that JSON cannot carry is left out (and logged)."""
    try:
        data = jsonrpc.error_bytes(request_id, exc.to_error_object())
    except (TypeError, ValueError) as why:
        logger.error("The data of error %r cannot be encoded as JSON (%s); sending it without", exc.message, why)
        data = jsonrpc.error_bytes(request_id, {"code": exc.code, "message": str(exc.message)})
    return Outgoing(data, final=True, error=exc)


def outcome_of(result: Any) -> str:
    """How a result answered its request, for observers (see ``ObservedRequest``)."""
    if type(result) is dict:
        if result.get("isError") is True:
            return "tool_error"
        if result.get("resultType") == "input_required":
            return "input_required"
    return "ok"


def batch_of(answers: list[Outgoing]) -> Outgoing:
    return Outgoing(b"[" + b",".join(answer.data for answer in answers) + b"]", final=True)


def internal_error(detail: str | None = None) -> ProtocolError:
    return ProtocolError(f"Internal error: {detail}" if detail else "Internal error", code=INTERNAL_ERROR)
