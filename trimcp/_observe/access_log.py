"""The access log: one record per JSON-RPC request and per HTTP exchange, and a JSON formatter
for structured logs."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from .._runtime.observe import ObservedExchange, ObservedRequest, Observer


class AccessLog(Observer):
    """Logs every JSON-RPC request when it ends and every HTTP exchange when its response ends,
    at INFO on ``logger`` (default ``trimcp.access``). Each record's message is one line; its
    fields are in ``record.access`` (a dict, what :class:`JSONLogFormatter` writes).

    A request line: ``rpc tools/call add id=3 ok 2.31ms session=… principal=… transport=http``
    (``error -32602`` or ``cancelled "client disconnected"`` in place of ``ok``). An HTTP line:
    ``http 127.0.0.1:52100 POST /mcp 200 412B 3.10ms sse session=… principal=…``.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("trimcp.access")

    def request_finished(self, request: ObservedRequest) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "kind": "rpc",
            "method": request.method,
            "target": request.target,
            "id": request.id,
            "outcome": request.outcome,
            "code": request.error.code if request.error is not None else None,
            "cancel_reason": request.cancel_reason,
            "duration_ms": round((request.duration or 0.0) * 1000, 3),
            "session": request.session,
            "principal": request.principal,
            "transport": request.transport or None,
        }
        outcome = request.outcome
        if fields["code"] is not None:
            outcome = f"{outcome} {fields['code']}"
        elif request.cancel_reason is not None:
            outcome = f"{outcome} {json.dumps(request.cancel_reason)}"
        words = ["rpc", request.method, request.target, f"id={json.dumps(request.id)}", outcome]
        self.logger.info(_line(words, fields), extra={"access": fields})

    def exchange_finished(self, exchange: ObservedExchange) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "kind": "http",
            "client": exchange.client,
            "http_method": exchange.http_method,
            "path": exchange.path,
            "status": exchange.status,
            "bytes": exchange.bytes_out,
            "streaming": exchange.streaming,
            "duration_ms": round((exchange.duration or 0.0) * 1000, 3),
            "session": exchange.session,
            "principal": exchange.principal,
        }
        status = str(exchange.status) if exchange.status is not None else "-"
        words = ["http", exchange.client or "-", exchange.http_method, exchange.path, status, f"{exchange.bytes_out}B"]
        self.logger.info(_line(words, fields, "sse" if exchange.streaming else None), extra={"access": fields})


def _line(words: list[Any], fields: dict[str, Any], kind: str | None = None) -> str:
    parts = [str(word) for word in words if word is not None]
    parts.append(f"{fields['duration_ms']:.2f}ms")
    if kind:
        parts.append(kind)
    for name in ("session", "principal", "transport"):
        if fields.get(name):
            parts.append(f"{name}={fields[name]}")
    return " ".join(parts)


class JSONLogFormatter(logging.Formatter):
    """Formats every record as one JSON object: ``time`` (UTC, ISO 8601), ``level``,
    ``logger``, ``message``, the access log's fields when present, and ``exception`` (the
    formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if type(access) is dict:
            entry.update((key, value) for key, value in access.items() if value is not None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
