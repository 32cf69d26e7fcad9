"""``tasks/get``, ``tasks/update`` and ``tasks/cancel`` of the tasks extension: the capability
gate first (-32021 before any lookup), then the task (-32602 when unknown or expired)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._runtime import RequestHandle, Routed
from ...protocol.envelope import Envelope
from ...protocol.errors import METHOD_NOT_FOUND, RemoteProtocolError
from ...protocol.jsonrpc import Request
from ...protocol.tasks import declares_tasks, detailed_task, invalid, read_task_id, task_not_found, tasks_required
from .manager import TaskManager

TaskMethod = Callable[[Request, Envelope | None], Routed]


def task_methods(manager: TaskManager) -> dict[str, TaskMethod]:
    """The task methods for a method table, bound to ``manager``."""

    def gate(request: Request, envelope: Envelope | None) -> str:
        if envelope is None:  # the extension belongs to 2026-07-28
            raise RemoteProtocolError(
                f"Method not found: {request.method}", code=METHOD_NOT_FOUND, request_id=request.id
            )
        if not declares_tasks(envelope.client_capabilities):
            raise tasks_required(
                f"{request.method} needs the tasks extension, which this request did not declare", request.id
            )
        return read_task_id(request.params, request.id)

    def tasks_get(request: Request, envelope: Envelope | None) -> Routed:
        task_id = gate(request, envelope)

        async def run(handle: RequestHandle) -> dict[str, Any]:
            record = await manager.get(task_id)
            if record is None:
                raise task_not_found(task_id, request.id)
            return detailed_task(record)

        return run

    def tasks_update(request: Request, envelope: Envelope | None) -> Routed:
        task_id = gate(request, envelope)
        responses = request.params.get("inputResponses")
        if type(responses) is not dict:
            raise invalid('"inputResponses" must be an object of answers by key', request.id)

        async def run(handle: RequestHandle) -> dict[str, Any]:
            if not await manager.update(task_id, responses):
                raise task_not_found(task_id, request.id)
            return {}

        return run

    def tasks_cancel(request: Request, envelope: Envelope | None) -> Routed:
        task_id = gate(request, envelope)

        async def run(handle: RequestHandle) -> dict[str, Any]:
            if not await manager.cancel(task_id):
                raise task_not_found(task_id, request.id)
            return {}

        return run

    return {"tasks/get": tasks_get, "tasks/update": tasks_update, "tasks/cancel": tasks_cancel}
