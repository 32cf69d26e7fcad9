"""``Server``: the registry of tools, resources, prompts and completers, and its settings."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, overload

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
from .prompts import Prompt
from .request_state import StateSealer
from .resources import Resource, ResourceTemplate
from .subscriptions import Subscribers, in_trio_thread
from .tasks import TaskManager, TaskStore
from .tools import TaskSupport, Tool, is_advised_tool_name

F = TypeVar("F", bound=Callable[..., Any])


def _caller_locals() -> dict[str, Any]:
    """The local names of the code calling a decorator method (two frames up), so annotations
    naming classes defined inside a function still resolve."""
    return dict(sys._getframe(2).f_locals)


class Server:
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
        self.tools: dict[str, Tool] = {}
        self.resources: dict[str, Resource] = {}
        self.resource_templates: dict[str, ResourceTemplate] = {}
        self.prompts: dict[str, Prompt] = {}
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

    # -- registration ---------------------------------------------------------------------------

    @overload
    def tool(self, fn: F) -> F: ...

    @overload
    def tool(
        self,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | None = None,
        icons: list[dict[str, Any]] | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        deadline: float | None = None,
        meta: dict[str, Any] | None = None,
        scopes: Sequence[str] = (),
        task_support: TaskSupport = "forbidden",
        task_ttl_ms: int | None = ...,  # type: ignore[assignment]
        task_poll_interval_ms: int | None = ...,  # type: ignore[assignment]
    ) -> Callable[[F], F]: ...

    def tool(self, fn: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Offer a function as a tool; use bare (``@server.tool``) or with options.

        The input schema comes from the signature (or ``input_schema``, sent verbatim), the
        description from the docstring, and an ``outputSchema`` from the return annotation.
        ``deadline`` (seconds) cancels a call that runs longer and returns an error result.
        ``scopes``: the OAuth scopes a caller needs (HTTP with authentication): without them the
        tool is left out of ``tools/list`` and a call is refused with 403 ``insufficient_scope``
        (docs/auth.md); prompts and resources take ``scopes`` too.
        ``task_support`` (``"optional"`` or ``"required"``) lets a call become a task for a
        2026-07-28 client that declared the tasks extension (docs/tasks.md); a required one is
        refused (-32021) to clients that did not. ``task_ttl_ms``/``task_poll_interval_ms``
        override the server's.
        Raises ``TypeError`` for a signature that cannot be described, ``ValueError`` for a
        name already taken. Returns the function unchanged.
        """

        localns = _caller_locals()

        def register(fn: F) -> F:
            options.setdefault("deadline", self.tool_deadline)
            options.setdefault("task_ttl_ms", self.tasks.ttl_ms)
            options.setdefault("task_poll_interval_ms", self.tasks.poll_interval_ms)
            self.add_tool(Tool(fn, localns=localns, dependencies=self.dependencies, **options))
            return fn

        return register(fn) if fn is not None else register

    def add_tool(self, tool: Tool) -> None:
        """Register a :class:`Tool` built by hand (clients are told the list changed).
        Raises ``ValueError`` for a duplicate name."""
        if tool.name in self.tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        if not is_advised_tool_name(tool.name):
            warnings.warn(
                f"tool name {tool.name!r}: the specification advises 1-128 characters of A-Z a-z 0-9 _ - .",
                stacklevel=3,
            )
        self.tools[tool.name] = tool
        self.notify_tools_changed()

    def remove_tool(self, name: str) -> None:
        """Stop offering a tool (clients are told the list changed). Raises ``KeyError``."""
        del self.tools[name]
        self.notify_tools_changed()

    def remove_prompt(self, name: str) -> None:
        """Stop offering a prompt (clients are told the list changed). Raises ``KeyError``."""
        del self.prompts[name]
        self.notify_prompts_changed()

    def remove_resource(self, uri: str) -> None:
        """Stop offering a resource or template (clients are told the list changed).
        Raises ``KeyError``."""
        if uri in self.resource_templates:
            del self.resource_templates[uri]
        else:
            del self.resources[uri]
        self.notify_resources_changed()

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
        annotations: dict[str, Any] | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """Offer a function's return value as the resource at ``uri``. A URI with ``{variables}``
        makes a template; the function takes the variables as parameters.

        The function returns ``str`` (text), ``bytes`` (blob), ``ResourceContents``, or any
        JSON-able value (sent as ``application/json`` text).
        """
        options = {
            "name": name, "title": title, "description": description, "mime_type": mime_type,
            "annotations": annotations, "icons": icons, "meta": meta, "localns": _caller_locals(),
        }  # fmt: skip

        def register(fn: F) -> F:
            if "{" in uri:
                if uri in self.resource_templates:
                    raise ValueError(f"a resource template {uri!r} is already registered")
                self.resource_templates[uri] = ResourceTemplate(uri, fn, dependencies=self.dependencies, **options)
            else:
                if uri in self.resources:
                    raise ValueError(f"a resource {uri!r} is already registered")
                self.resources[uri] = Resource(uri, fn, size=size, dependencies=self.dependencies, **options)
            self.notify_resources_changed()
            return fn

        return register

    @overload
    def prompt(self, fn: F) -> F: ...

    @overload
    def prompt(
        self,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Callable[[F], F]: ...

    def prompt(self, fn: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Offer a function as a prompt; its parameters are the prompt's arguments (clients send
        strings; ``int``/``float``/``bool``/``Literal`` parameters are converted and checked).
        It returns a string, a :class:`Message`, or a list of them."""

        localns = _caller_locals()

        def register(fn: F) -> F:
            prompt = Prompt(fn, localns=localns, dependencies=self.dependencies, **options)
            if prompt.name in self.prompts:
                raise ValueError(f"a prompt named {prompt.name!r} is already registered")
            self.prompts[prompt.name] = prompt
            self.notify_prompts_changed()
            return fn

        return register(fn) if fn is not None else register

    def completion(self, *, argument: str, prompt: str | None = None, resource: str | None = None) -> Callable[[F], F]:
        """Register a completer for ``argument`` of a prompt (by name) or of a resource template
        (by URI template). ``Literal``/``Enum`` parameters complete on their own."""
        if (prompt is None) == (resource is None):
            raise ValueError("name exactly one of prompt= or resource=")
        key = ("ref/prompt", prompt, argument) if prompt is not None else ("ref/resource", resource, argument)

        localns = _caller_locals()

        def register(fn: F) -> F:
            self.completers[key] = Completer(fn, localns)  # type: ignore[index]
            return fn

        return register

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
        """Tell every connected client (of every process sharing the backend) that the tool
        list changed. Callable from a sync tool's thread too."""
        in_trio_thread(self.backend.publish_nowait, Change("list", "tools"))

    def notify_prompts_changed(self) -> None:
        """Tell every connected client that the prompt list changed."""
        in_trio_thread(self.backend.publish_nowait, Change("list", "prompts"))

    def notify_resources_changed(self) -> None:
        """Tell every connected client that the resource list changed."""
        in_trio_thread(self.backend.publish_nowait, Change("list", "resources"))

    async def notify_resource_updated(self, uri: str) -> None:
        """Tell the clients subscribed to ``uri`` (and only them), wherever they are connected,
        that it changed; returns once it is on its way (after this process's earlier changes).
        Raises :class:`~trimcp._server.backend.BackendUnavailable` when a shared backend cannot
        be reached."""
        await self.backend.publish(Change("resource", uri))

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
