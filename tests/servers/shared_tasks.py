"""The task tools of tests/test_tasks.py as a module-level server, for ``trimcp serve --redis``
subprocesses (the worker-loss test kills one)."""

from tests.test_tasks import Seen, task_server

server = task_server(Seen())
