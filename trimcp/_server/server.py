"""``Server``: the registry of tools, resources, prompts and completers, and its settings."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Literal

import trio

from .._runtime.observe import Observer, Observers
from ..protocol.lifecycle import Feature, carries
from ..protocol.tasks import TASKS_EXTENSION
from .backend import Backend, Change, Delivery, LocalBackend
from .completions import Completer
from .content import ResourceContents
from .context import Context
from .errors import ResourceNotFoundError
from .lifespan import LifespanFunction, ServerLifespan
from .middleware import Middleware, RequestCall, ToolCall
from .mounts import Registry, prefixed_uri
from .prompts import Prompt
from .registration import Registration
from .request_state import StateSealer
from .resources import Resource, ResourceTemplate
from .subscriptions import Subscribers, in_trio_thread
from .tasks import TaskManager, TaskStore
from .tools import Tool


class Server(Registration):
    """An MCP server: decorate functions to offer them, then serve it with
    ``trimcp serve module:server`` (or :func:`trimcp.serve_stdio`, …).

    Settings: ``page_size`` (items per list page), ``thread_limit`` (worker threads shared by
    sync functions), ``cache_ttl_ms``/``cache_scope`` (2026-07-28 caching hints on lists,
    discovery and reads), ``tool_deadline`` (default deadline in seconds for every tool),
    ``state_key``/``input_state_ttl`` (the key signing 2026-07-28 ``requestState`` and how long
    a state lives; give every process of a deployment the same key, or set
    ``TRIMCP_STATE_KEY``; by default each process makes a random one), ``task_store`` (where
    task records live: in memory by default), ``backend`` (what several processes share:
    changes and tasks, e.g. ``trimcp.RedisBackend(url)``; this process alone by default; give
    it the task store, not the server), ``task_ttl_ms``/``task_poll_interval_ms`` (how
    long a task is kept from its creation, ``None`` for ever, and the polling interval clients
    are told; a tool may set its own).
    """

    def __init__(
        self,
        name: str,
        version: str = "0.0.0",
        *,
        title: str | None = None,
        instructions: str | None = None,
        website_url: str | None = None,
        icons: list[dict[str, Any]] | None = None,
        page_size: int = 100,
        thread_limit: int = 16,
        cache_ttl_ms: int = 0,
        cache_scope: Literal["public", "private"] = "private",
        tool_deadline: float | None = None,
        state_key: bytes | str | None = None,
        input_state_ttl: float = 600.0,
        task_store: TaskStore | None = None,
        backend: Backend | None = None,
        lifespan: LifespanFunction | None = None,
        task_ttl_ms: int | None = 3_600_000,
        task_poll_interval_ms: int | None = 500,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if cache_ttl_ms < 0:
            raise ValueError("cache_ttl_ms must be >= 0")
        self.name = name
        self.version = version
        self.title = title
        self.instructions = instructions
        self.website_url = website_url
        self.icons = icons
        self.page_size = page_size
        self.thread_limit = thread_limit
        self.cache_ttl_ms = cache_ttl_ms
        self.cache_scope = cache_scope
        self.tool_deadline = tool_deadline
        self.tools: Registry[Tool] = Registry("tools")
        self.resources: Registry[Resource] = Registry("resources")
        self.resource_templates: Registry[ResourceTemplate] = Registry("resource_templates")
        self.prompts: Registry[Prompt] = Registry("prompts")
        #: The servers this one is mounted in, with its prefix in each.
        self.mounted_in: list[tuple[Server, str]] = []
        self.completers: dict[tuple[str, str, str], Completer] = {}
        self._limiters: dict[Any, trio.CapacityLimiter] = {}
        key = state_key if state_key is not None else os.environ.get("TRIMCP_STATE_KEY")
        self._sealer = StateSealer(key.encode() if isinstance(key, str) else key or os.urandom(32), input_state_ttl)
        self._subscribers = Subscribers()
        if backend is not None and task_store is not None:
            raise ValueError("give the task store to the backend, not to the server")
        #: What the processes serving this server share (changes, tasks); this one alone by default.
        self.backend: Backend = backend if backend is not None else LocalBackend(task_store)
        #: Work that outlives its request (tools declared with ``task_support``).
        self.tasks = TaskManager(
            self.backend,
            ttl_ms=task_ttl_ms,
            poll_interval_ms=task_poll_interval_ms,
            on_change=lambda record: self.backend.publish_nowait(Change("task", record=record)),
        )
        self.backend.bind(Delivery(self._subscribers, self.tasks))
        #: The user's start-up and shut-down (see :meth:`lifespan_running`).
        self.lifespan = ServerLifespan(lifespan) if lifespan is not None else None
        #: Around every request, then around every tool call (see :meth:`middleware`).
        self.request_middlewares: list[Middleware[RequestCall]] = []
        self.tool_middlewares: list[Middleware[ToolCall]] = []
        #: Who is told of every request and HTTP exchange (see :meth:`observe`).
        self.observer: Observers | None = None

    # -- what clients are told ----------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        """The ``Implementation`` object naming this server."""
        info: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.title is not None:
            info["title"] = self.title
        if self.website_url is not None:
            info["websiteUrl"] = self.website_url
        if self.icons:
            info["icons"] = self.icons
        return info

    def capabilities(self, version: str | None) -> dict[str, Any]:
        """The server capabilities, as ``version`` knows them."""
        capabilities: dict[str, Any] = {"logging": {}}
        if carries(version, Feature.COMPLETIONS):
            capabilities["completions"] = {}
        if self.tools:
            capabilities["tools"] = {"listChanged": True}
        if self.resources or self.resource_templates:
            capabilities["resources"] = {"subscribe": True, "listChanged": True}
        if self.prompts:
            capabilities["prompts"] = {"listChanged": True}
        if carries(version, Feature.TASKS_EXTENSION):
            capabilities["extensions"] = {TASKS_EXTENSION: {}}
        elif carries(version, Feature.EXPERIMENTAL_TASKS) and self.offers_tasks:
            capabilities["tasks"] = {"cancel": {}, "requests": {"tools": {"call": {}}}}
        return capabilities

    @property
    def offers_tasks(self) -> bool:
        """Whether some tool may run as a task."""
        return any(tool.task_support != "forbidden" for tool in self.tools.values())

    # -- middleware -------------------------------------------------------------------------------------

    def middleware(self, fn: Middleware[RequestCall]) -> Middleware[RequestCall]:
        """Register ``async def fn(call: RequestCall, proceed) -> dict`` around every request of
        the MCP methods (lists, calls, reads, prompts, completions, tasks); the first registered
        is outermost (docs/tools.md)."""
        self.request_middlewares.append(fn)
        return fn

    def tool_middleware(self, fn: Middleware[ToolCall]) -> Middleware[ToolCall]:
        """Register ``async def fn(call: ToolCall, proceed) -> dict`` around every tool call
        (its result a ``CallToolResult``; raise ``ToolError`` to refuse it)."""
        self.tool_middlewares.append(fn)
        return fn

    # -- the lifespan ------------------------------------------------------------------------------------

    def lifespan_running(self, nursery: trio.Nursery) -> contextlib.AbstractAsyncContextManager[None]:
        """For the block, the lifespan runs (in a task of ``nursery``, started unless another
        transport of this process started it already; it exits after the last block). Every
        transport serves inside one. Raises what the lifespan raises while starting."""
        if self.lifespan is None:
            return contextlib.nullcontext()
        return self.lifespan.running(self, nursery)

    @property
    def dependencies(self) -> tuple[type, ...]:
        """The types tools receive by annotation besides ``Context``: the lifespan's value's."""
        state = self.lifespan.state_type if self.lifespan is not None else None
        return (state,) if state is not None else ()

    # -- what several processes share ----------------------------------------------------------------

    def use_backend(self, backend: Backend) -> None:
        """Share changes and tasks through ``backend`` (``trimcp.RedisBackend``) from now on;
        call it before serving. An app's lifespan connects it (and fails to start when it
        cannot)."""
        self.backend = backend
        self.tasks.backend, self.tasks.store = backend, backend.store
        backend.bind(Delivery(self._subscribers, self.tasks))

    # -- observation -------------------------------------------------------------------------------

    def observe(self, *observers: Observer) -> None:
        """Report every request (and every HTTP exchange) to ``observers`` too: an access log,
        metrics, tracing (docs/observability.md). Connections opened from now on see them."""
        known = self.observer.observers if self.observer is not None else ()
        self.observer = Observers((*known, *observers))

    # -- change notifications ---------------------------------------------------------------------

    def notify_tools_changed(self) -> None:
        """Tell every connected client (of every process sharing the backend, and of the
        servers this one is mounted in) that the tool list changed. Callable from a sync
        tool's thread too."""
        self._list_changed("tools")

    def notify_prompts_changed(self) -> None:
        """Tell every connected client that the prompt list changed."""
        self._list_changed("prompts")

    def notify_resources_changed(self) -> None:
        """Tell every connected client that the resource list changed."""
        self._list_changed("resources")

    def _list_changed(self, kind: str) -> None:
        in_trio_thread(self.backend.publish_nowait, Change("list", kind))
        for parent, _ in self.mounted_in:
            parent._list_changed(kind)

    async def notify_resource_updated(self, uri: str) -> None:
        """Tell the clients subscribed to ``uri`` (and only them), wherever they are connected,
        that it changed; returns once it is on its way (after this process's earlier changes).
        Raises :class:`~trimcp._server.backend.BackendUnavailable` when a shared backend cannot
        be reached."""
        await self.backend.publish(Change("resource", uri))
        for parent, prefix in self.mounted_in:
            await parent.notify_resource_updated(prefixed_uri(prefix, uri))

    def close_listeners(self) -> None:
        """End every ``subscriptions/listen`` stream gracefully (at shutdown)."""
        self._subscribers.close_listeners()

    @property
    def subscribers(self) -> Subscribers:
        return self._subscribers

    @property
    def state_sealer(self) -> StateSealer:
        return self._sealer

    # -- in-process helpers -----------------------------------------------------------------------

    def thread_limiter(self) -> trio.CapacityLimiter:
        """The limiter shared by this server's sync functions in the current Trio run."""
        token = trio.lowlevel.current_trio_token()
        limiter = self._limiters.get(token)
        if limiter is None:
            self._limiters = {token: trio.CapacityLimiter(self.thread_limit)}
            limiter = self._limiters[token]
        return limiter

    def find_resource(self, uri: str) -> tuple[Resource | ResourceTemplate, dict[str, Any]] | None:
        """The resource serving ``uri`` and the arguments for its function, or ``None``.
        Raises ``ValueError`` when a template matches but a variable does not fit its type."""
        resource = self.resources.get(uri)
        if resource is not None:
            return resource, {}
        for template in self.resource_templates.values():
            kwargs = template.match(uri)
            if kwargs is not None:
                return template, kwargs
        return None

    async def read_resource(self, uri: str, context: Context | None = None) -> list[ResourceContents]:
        """Read a resource in-process. Raises :class:`ResourceNotFoundError`."""
        try:
            found = self.find_resource(uri)
        except ValueError:
            found = None
        if found is None:
            raise ResourceNotFoundError(uri)
        resource, kwargs = found
        return await resource.read(uri, kwargs, context, self.thread_limiter())

    def __repr__(self) -> str:
        return f"<trimcp.Server {self.name!r} v{self.version}>"
