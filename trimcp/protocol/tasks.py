"""Tasks, sans-IO: the record of one task and its wire shapes (the ``io.modelcontextprotocol/tasks``
extension of 2026-07-28), the ids, times and parameters the task methods carry, and their errors.
"""

from __future__ import annotations

import datetime
import enum
import secrets
from typing import Any

import attrs

from .errors import INVALID_PARAMS, MISSING_CLIENT_CAPABILITY, RemoteProtocolError, show_value
from .jsonrpc import RequestId

#: The extension's identifier, under ``capabilities.extensions`` on both sides.
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
#: The ``resultType`` of a ``CreateTaskResult``.
RESULT_TASK = "task"
#: The methods of the extension; each carries the task id in ``Mcp-Name``.
TASK_METHODS = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})
#: 2025-11-25: the ``_meta`` key tying a message (a question, ``tasks/result``) to its task.
META_RELATED_TASK = "io.modelcontextprotocol/related-task"


class TaskStatus(enum.StrEnum):
    WORKING = "working"
    INPUT_REQUIRED = "input_required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


@attrs.define(kw_only=True)
class TaskRecord:
    """What a task store keeps about one task. Times are seconds since the epoch."""

    task_id: str
    status: TaskStatus = TaskStatus.WORKING
    status_message: str | None = None
    created_at: float
    updated_at: float
    #: How long the task is kept after it was created (``None``: until the server restarts).
    ttl_ms: int | None
    poll_interval_ms: int | None = None
    #: The tool it runs, for logs and statistics.
    tool: str = ""
    #: Who may see it (the authenticated principal; ``None`` without authentication).
    owner: str | None = None
    #: Which process runs its work (a backend's worker name; see ``Backend.worker``).
    worker: str | None = None
    #: The questions waiting for an answer, by key (``input_required``).
    input_requests: dict[str, Any] = attrs.Factory(dict)
    #: The ``tools/call`` result (``completed``), or the JSON-RPC error (``failed``).
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def expires_at(self) -> float | None:
        return None if self.ttl_ms is None else self.created_at + self.ttl_ms / 1000


def new_task_id() -> str:
    """An unguessable task id (it may act as a bearer handle)."""
    return secrets.token_urlsafe(24)


def iso_time(seconds: float) -> str:
    """An ISO 8601 UTC timestamp with milliseconds (``2026-12-03T08:30:00.123Z``)."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def declares_tasks(client_capabilities: dict[str, Any]) -> bool:
    """Whether a 2026-07-28 request's client capabilities declare the tasks extension."""
    extensions = client_capabilities.get("extensions")
    return type(extensions) is dict and type(extensions.get(TASKS_EXTENSION)) is dict


def tasks_required(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    """-32021 naming the extension as the missing capability."""
    return RemoteProtocolError(
        reason,
        code=MISSING_CLIENT_CAPABILITY,
        data={"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
        request_id=request_id,
    )


def read_task_id(params: Any, request_id: RequestId | None) -> str:
    """``params.taskId``; -32602 when it is missing or not a string."""
    task_id = params.get("taskId") if type(params) is dict else None
    if type(task_id) is not str or not task_id:
        raise invalid(f'"taskId" must be a non-empty string, not {show_value(task_id)}', request_id)
    return task_id


def task_not_found(task_id: str, request_id: RequestId | None) -> RemoteProtocolError:
    return invalid(f"no task {show_value(task_id)} (unknown, expired or not yours)", request_id)


def invalid(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid params: {reason}", code=INVALID_PARAMS, request_id=request_id)


def task_fields(record: TaskRecord, *, names: tuple[str, str] = ("ttlMs", "pollIntervalMs")) -> dict[str, Any]:
    """The ``Task`` fields of a record; ``names`` are the revision's names for the TTL and the
    poll interval (2026-07-28's by default)."""
    ttl, poll_interval = names
    fields: dict[str, Any] = {
        "taskId": record.task_id,
        "status": str(record.status),
        "createdAt": iso_time(record.created_at),
        "lastUpdatedAt": iso_time(record.updated_at),
        ttl: record.ttl_ms,
    }
    if record.status_message is not None:
        fields["statusMessage"] = record.status_message
    if record.poll_interval_ms is not None:
        fields[poll_interval] = record.poll_interval_ms
    return fields


def create_task_result(record: TaskRecord) -> dict[str, Any]:
    """The flat ``CreateTaskResult`` a ``tools/call`` answers with when it became a task."""
    return {"resultType": RESULT_TASK, **task_fields(record)}


def detailed_task(record: TaskRecord) -> dict[str, Any]:
    """The ``DetailedTask`` of ``tasks/get`` and ``notifications/tasks``: the task, plus its
    questions, result or error as its status calls for."""
    task = task_fields(record)
    if record.status is TaskStatus.INPUT_REQUIRED:
        task["inputRequests"] = dict(record.input_requests)
    elif record.status is TaskStatus.COMPLETED and record.result is not None:
        task["result"] = record.result
    elif record.status is TaskStatus.FAILED and record.error is not None:
        task["error"] = record.error
    return task


# -- 2025-11-25's experimental tasks ------------------------------------------------------------------


def requested_task(params: Any) -> dict[str, Any] | None:
    """The ``params.task`` of a 2025-11-25 task-augmented request (``None`` when absent)."""
    task = params.get("task") if type(params) is dict else None
    return task if type(task) is dict else None


def task_2025(record: TaskRecord) -> dict[str, Any]:
    """A record as 2025-11-25's ``Task`` (``ttl``, ``pollInterval``)."""
    return task_fields(record, names=("ttl", "pollInterval"))
