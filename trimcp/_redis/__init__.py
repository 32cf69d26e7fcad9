"""Sharing a server's changes and tasks between processes and machines through Redis or Valkey
(the ``trimcp[redis]`` extra: coredis, whose client runs on anyio and so natively on Trio)."""

from .backend import RedisBackend
from .events import RedisEventStore
from .store import RedisTaskStore

__all__ = ["RedisBackend", "RedisEventStore", "RedisTaskStore"]
