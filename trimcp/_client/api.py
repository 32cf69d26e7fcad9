"""One method per MCP request, on top of the client core."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from ..protocol.constants import LOG_LEVELS
from ..protocol.http_headers import header_parameters
from ..protocol.lifecycle import Feature, carries
from ..protocol.tasks import RESULT_TASK
from ..protocol.versions import Era
from .core import ClientCore, ProgressCallback
from .tasks import ClientTask

_MAX_PAGES = 10_000
log = logging.getLogger("trimcp.client")


class Client(ClientCore):
    """A connection to one MCP server, in whichever era it speaks. Create it with
    :func:`trimcp.open_client`.

    ``era``, ``protocol_version``, ``server_info``, ``server_capabilities`` and
    ``instructions`` describe the server as negotiated.
    """

    async def ping(self) -> None:
        await self.request("ping")

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every tool (following ``nextCursor``). Over 2026-07-28 Streamable HTTP, a tool whose
        ``x-mcp-header`` annotations break the spec's rules is left out (with a warning), and
        the others' annotations are remembered so :meth:`call_tool` mirrors those arguments
        into ``Mcp-Param-*`` headers. Each tool's 2025-11-25 ``execution.taskSupport`` is
        remembered too (see :meth:`start_tool`)."""
        tools = await self._list_all("tools/list", "tools")
        for tool in tools:
            execution = tool.get("execution")
            support = execution.get("taskSupport") if type(execution) is dict else None
            self.task_support[str(tool.get("name", ""))] = support if type(support) is str else "forbidden"
        if not self.mirrors_tool_headers:
            self._tools_listed = True
            return tools
        usable = []
        for tool in tools:
            try:
                header_parameters(tool.get("inputSchema"))
            except ValueError as exc:
                log.warning("leaving out tool %r: %s", tool.get("name"), exc)
                continue
            self.tool_schemas[tool.get("name", "")] = tool.get("inputSchema")
            usable.append(tool)
        self._tools_listed = True
        return usable

    async def list_resources(self) -> list[dict[str, Any]]:
        return await self._list_all("resources/list", "resources")

    async def list_resource_templates(self) -> list[dict[str, Any]]:
        return await self._list_all("resources/templates/list", "resourceTemplates")

    async def list_prompts(self) -> list[dict[str, Any]]:
        return await self._list_all("prompts/list", "prompts")

    async def _list_all(self, method: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(_MAX_PAGES):
            result = await self.request(method, {"cursor": cursor} if cursor is not None else None)
            items.extend(result.get(key) or [])
            cursor = result.get("nextCursor")
            if cursor is None:
                return items
        raise RuntimeError(f"{method} returned more than {_MAX_PAGES} pages")

    async def read_resource(self, uri: str) -> dict[str, Any]:
        return await self.request("resources/read", {"uri": uri})

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> dict[str, Any]:
        return await self.request("prompts/get", {"name": name, "arguments": arguments or {}})

    async def complete(
        self, ref: dict[str, Any], argument: str, value: str, context: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """``completion/complete``; returns its ``completion`` object (``values``, ...)."""
        params: dict[str, Any] = {"ref": ref, "argument": {"name": argument, "value": value}}
        if context is not None:
            params["context"] = {"arguments": context}
        return (await self.request("completion/complete", params)).get("completion") or {}

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        reset_timeout_on_progress: bool = False,
        max_total: float | None = None,
    ) -> dict[str, Any]:
        """Call a tool; the ``CallToolResult`` (a tool's own failure is ``isError: true`` in it,
        not an exception). See :meth:`request` for the timeout options. Over 2026-07-28
        Streamable HTTP the tools are listed once first, unless they were, to learn which
        arguments go into headers.

        A call the server turns into a task (2026-07-28) is followed to its end: polled,
        its questions answered with the handlers; ``timeout`` then bounds the whole call
        (unbounded without one) and leaving early cancels the task.
        """
        started = trio.current_time()
        outcome = await self.start_tool(
            name,
            arguments,
            wanted=False,
            timeout=timeout,
            on_progress=on_progress,
            reset_timeout_on_progress=reset_timeout_on_progress,
            max_total=max_total,
        )
        if not isinstance(outcome, ClientTask):
            return outcome
        remaining = math.inf if timeout is None else max(0.0, timeout - (trio.current_time() - started))
        return await outcome.result(timeout=remaining)

    async def start_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, wanted: bool = True, **options: Any
    ) -> ClientTask | dict[str, Any]:
        """Call a tool without waiting for a task: a :class:`ClientTask` when the call became a
        task (poll, answer, cancel or await it), else the ``CallToolResult``. ``options`` are
        :meth:`call_tool`'s. A 2025-11-25 server is asked for a task when the tool may be one
        (``wanted=False``: only when it must be); on 2026-07-28 the server decides."""
        if self.mirrors_tool_headers and name not in self.tool_schemas and not self._tools_listed:
            await self.list_tools()
        params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
        experimental = await self._asks_for_task(name, required_only=not wanted)
        if experimental:
            params["task"] = {}
        result = await self.request("tools/call", params, **options)
        if experimental and type(result.get("task")) is dict:
            return ClientTask(self, result["task"], experimental=True)
        return ClientTask(self, result) if result.get("resultType") == RESULT_TASK else result

    async def _asks_for_task(self, name: str, *, required_only: bool) -> bool:
        """Whether a call of ``name`` asks a 2025-11-25 server for a task: always when the tool
        requires one; when it may be one too, unless ``required_only``."""
        tasks = self.server_capabilities.get("tasks")
        if not carries(self.protocol_version, Feature.EXPERIMENTAL_TASKS) or type(tasks) is not dict:
            return False
        if name not in self.task_support and not self._tools_listed:
            await self.list_tools()
        support = self.task_support.get(name, "forbidden")
        return support == "required" or (support == "optional" and not required_only)

    async def set_logging_level(self, level: str) -> None:
        """Ask for log messages from ``level`` up. On 2026-07-28 the level travels with every
        request instead (there is no session to remember it); a handshake-era server without
        the ``logging`` capability is not asked."""
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {level!r}; one of {', '.join(LOG_LEVELS)}")
        self.log_level = level
        if self.era is Era.HANDSHAKE and "logging" in self.server_capabilities:
            await self.request("logging/setLevel", {"level": level})

    async def subscribe_resource(self, uri: str) -> None:
        """Handshake era: ``notifications/resources/updated`` for ``uri`` reach the message
        handler. (On 2026-07-28 use :meth:`listen`.)"""
        await self.request("resources/subscribe", {"uri": uri})

    async def unsubscribe_resource(self, uri: str) -> None:
        await self.request("resources/unsubscribe", {"uri": uri})

    @asynccontextmanager
    async def listen(
        self,
        *,
        tools: bool = False,
        resources: bool = False,
        prompts: bool = False,
        resource_uris: Sequence[str] = (),
        buffer: int = 256,
    ) -> AsyncIterator[Subscription]:
        """2026-07-28 ``subscriptions/listen``: once the server has acknowledged, yields a
        :class:`Subscription` of the change notifications asked for; leaving the block ends it."""
        if self.era is not Era.PER_REQUEST:
            raise RuntimeError(
                "subscriptions/listen is a 2026-07-28 request; use message_handler and subscribe_resource"
            )
        wanted: dict[str, Any] = {}
        for flag, asked in (
            ("toolsListChanged", tools),
            ("resourcesListChanged", resources),
            ("promptsListChanged", prompts),
        ):
            if asked:
                wanted[flag] = True
        if resource_uris:
            wanted["resourceSubscriptions"] = list(resource_uris)
        send, receive = trio.open_memory_channel[dict[str, Any]](buffer)
        async with trio.open_nursery() as nursery:

            async def subscribe() -> None:
                await self.request(
                    "subscriptions/listen", {"notifications": wanted}, timeout=math.inf, subscription=send
                )

            nursery.start_soon(subscribe)
            with trio.fail_after(self.timeout):
                acknowledged = await receive.receive()  # the server's first message on a subscription
            try:
                yield Subscription(receive, (acknowledged.get("params") or {}).get("notifications") or {})
            finally:
                nursery.cancel_scope.cancel()


class Subscription:
    """The notifications of one ``subscriptions/listen``: iterate it, or :meth:`receive`.
    ``granted`` is the filter the server agreed to honour."""

    def __init__(self, channel: trio.MemoryReceiveChannel[dict[str, Any]], granted: dict[str, Any]) -> None:
        self._channel = channel
        self.granted = granted

    async def receive(self) -> dict[str, Any]:
        return await self._channel.receive()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._channel.__aiter__()
