"""A server whose tasks live in the SQLite file named by ``TRIMCP_TEST_TASK_DB`` (for the
restart tests of tests/test_task_stores.py)."""

import os

import trio

import trimcp

server = trimcp.Server("durable", task_store=trimcp.SQLiteTaskStore(os.environ["TRIMCP_TEST_TASK_DB"]))


@server.tool(task_support="required")
async def finish() -> str:
    return "kept across restarts"


@server.tool(task_support="required")
async def forever() -> str:
    await trio.sleep(3600)
    return "never"
