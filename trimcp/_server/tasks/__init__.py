"""Tasks: work that outlives its request, owned by the server (the ``io.modelcontextprotocol/tasks``
extension of 2026-07-28)."""

from .manager import TaskManager, TaskManagerStatistics
from .sqlite_store import SQLiteTaskStore
from .store import MemoryTaskStore, TaskStore, TaskStoreStatistics
from .work import TaskWork

__all__ = [
    "MemoryTaskStore",
    "SQLiteTaskStore",
    "TaskManager",
    "TaskManagerStatistics",
    "TaskStore",
    "TaskStoreStatistics",
    "TaskWork",
]
