"""The task methods of a method table, in both revisions that have them:

- the 2026-07-28 extension (a request with an envelope): ``tasks/get``, ``tasks/update``,
  ``tasks/cancel``; the capability gate first (-32021 before any lookup), then the task
  (-32602 when unknown or expired);
- 2025-11-25's experimental tasks (a handshake-era session of that revision): ``tasks/get``,
  ``tasks/result`` (waits for the end), ``tasks/cancel`` (-32602 on a finished task); a task is
  seen only by the session that created it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..._runtime import Caller, Outbox, RequestHandle, Routed
from ...protocol.envelope import Envelope
from ...protocol.errors import INTERNAL_ERROR, METHOD_NOT_FOUND, ProtocolError, RemoteProtocolError, RequestFailed
from ...protocol.jsonrpc import Request, RequestId
from ...protocol.lifecycle import Feature, carries
from ...protocol.tasks import (
    META_RELATED_TASK,
    TaskRecord,
    declares_tasks,
    detailed_task,
    invalid,
    read_task_id,
    requested_task,
    task_2025,
    task_not_found,
    tasks_required,
)

if TYPE_CHECKING:
    from ..method_table import MethodTable
    from ..tools import Tool

TaskMethod = Callable[[Request, Envelope | None, Caller], Routed]
#: How long a 2025-11-25 ``tasks/cancel`` waits for the work to end before it answers.
CANCEL_WAIT = 5.0


def task_methods(table: MethodTable) -> dict[str, TaskMethod]:
    """The task methods for ``table``'s connection."""
    manager = table.server.tasks

    def gate(request: Request, envelope: Envelope | None) -> str:
        if envelope is None:
            if not carries(table.lifecycle.protocol_version, Feature.EXPERIMENTAL_TASKS):
                raise _not_found(request.method, request.id)
        elif not declares_tasks(envelope.client_capabilities):
            raise tasks_required(
                f"{request.method} needs the tasks extension, which this request did not declare", request.id
            )
        return read_task_id(request.params, request.id)

    async def find(task_id: str, request_id: RequestId, owner: str | None) -> TaskRecord:
        record = await manager.get(task_id, owner)
        if record is None:
            raise task_not_found(task_id, request_id)
        return record

    def tasks_get(request: Request, envelope: Envelope | None, caller: Caller) -> Routed:
        task_id = gate(request, envelope)
        owner = table.task_owner(envelope, caller)

        async def run(handle: RequestHandle) -> dict[str, Any]:
            record = await find(task_id, request.id, owner)
            return detailed_task(record) if envelope is not None else task_2025(record)

        return run

    def tasks_update(request: Request, envelope: Envelope | None, caller: Caller) -> Routed:
        task_id = gate(request, envelope)
        if envelope is None:  # 2025-11-25 answers questions as responses to them
            raise _not_found(request.method, request.id)
        responses = request.params.get("inputResponses")
        if type(responses) is not dict:
            raise invalid('"inputResponses" must be an object of answers by key', request.id)

        async def run(handle: RequestHandle) -> dict[str, Any]:
            if not await manager.update(task_id, responses, table.task_owner(envelope, caller)):
                raise task_not_found(task_id, request.id)
            return {}

        return run

    def tasks_cancel(request: Request, envelope: Envelope | None, caller: Caller) -> Routed:
        task_id = gate(request, envelope)
        owner = table.task_owner(envelope, caller)

        async def run(handle: RequestHandle) -> dict[str, Any]:
            if envelope is not None:
                if await manager.cancel(task_id, owner) is None:
                    raise task_not_found(task_id, request.id)
                return {}
            if (await find(task_id, request.id, owner)).status.terminal:
                raise invalid(f"task {task_id} has already finished", request.id)
            record = await manager.cancel(task_id, owner, wait=CANCEL_WAIT)
            assert record is not None
            return task_2025(record)

        return run

    def tasks_result(request: Request, envelope: Envelope | None, caller: Caller) -> Routed:
        if envelope is not None:  # removed from the extension
            raise _not_found(request.method, request.id)
        task_id = gate(request, envelope)
        owner = table.task_owner(envelope, caller)

        async def run(handle: RequestHandle) -> dict[str, Any]:
            record = await manager.wait_result(task_id, owner, handle.outbox)
            if record is None:
                raise task_not_found(task_id, request.id)
            related = {META_RELATED_TASK: {"taskId": task_id}}
            if record.result is not None:
                return {**record.result, "_meta": {**(record.result.get("_meta") or {}), **related}}
            error = record.error or {"code": INTERNAL_ERROR, "message": f"task {task_id} was cancelled"}
            raise ProtocolError(error["message"], code=error["code"], data=error.get("data"))

        return run

    return {
        "tasks/get": tasks_get,
        "tasks/update": tasks_update,
        "tasks/cancel": tasks_cancel,
        "tasks/result": tasks_result,
    }


def task_of_call(table: MethodTable, tool: Tool, request: Request, envelope: Envelope | None) -> Tool | None:
    """``tool`` when this call becomes a task: it may, and the request declared the tasks
    extension (2026-07-28) or asked for one (2025-11-25's ``params.task``). Raises -32021
    (-32601 in the handshake era, as 2025-11-25 says) when the tool runs only as a task and this
    call is not one, or when a call asks for a task the tool cannot be."""
    if envelope is None and carries(table.lifecycle.protocol_version, Feature.EXPERIMENTAL_TASKS):
        asked = requested_task(request.params) is not None
        if asked and tool.task_support == "forbidden":
            raise _not_found(f"tools/call of {tool.name!r} as a task (it cannot be one)", request.id)
    else:
        asked = envelope is not None and declares_tasks(envelope.client_capabilities)
    if tool.task_support == "forbidden":
        return None
    if asked:
        return tool
    if tool.task_support == "optional":
        return None
    if envelope is None:
        reason = f"Tool {tool.name!r} runs only as a task: call it with params.task"
        raise RemoteProtocolError(reason, code=METHOD_NOT_FOUND, request_id=request.id)
    raise tasks_required(f"Tool {tool.name!r} runs only as a task: declare the tasks extension", request.id)


async def ask_for_task(
    table: MethodTable, handle: RequestHandle, method: str, params: dict[str, Any], stream: Outbox | None
) -> Any:
    """A 2025-11-25 task's question: on ``stream`` (a waiting ``tasks/result``), else on the
    session's own stream."""
    outbox = stream or table.outbox
    if outbox is None:
        raise RequestFailed({"code": INTERNAL_ERROR, "message": "no stream to ask the client on"})
    return await handle.dispatcher.ask(outbox, method, params)


def listened_tasks(requested: dict[str, Any], envelope: Envelope, request_id: RequestId) -> list[str] | None:
    """The ``taskIds`` a ``subscriptions/listen`` asks to hear about (``None`` when it asks for
    none). Raises -32021 when the request did not declare the tasks extension, -32602 for a
    malformed list."""
    task_ids = requested.get("taskIds")
    if task_ids is None:
        return None
    if not declares_tasks(envelope.client_capabilities):
        raise tasks_required(
            "listening to tasks needs the tasks extension, which this request did not declare", request_id
        )
    if type(task_ids) is not list or not all(type(task_id) is str for task_id in task_ids):
        raise invalid('"taskIds" must be a list of task ids', request_id)
    return task_ids


def _not_found(method: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Method not found: {method}", code=METHOD_NOT_FOUND, request_id=request_id)
