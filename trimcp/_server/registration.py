"""Registering tools, resources, prompts and completers on a :class:`~trimcp.Server` (the
decorators and their ``add``/``remove`` companions; a part of ``Server``)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .completions import Completer
from .mounts import Mount, Registry
from .prompts import Prompt
from .resources import Resource, ResourceTemplate
from .tools import TaskSupport, Tool, is_advised_tool_name

if TYPE_CHECKING:
    from .server import Server

F = TypeVar("F", bound=Callable[..., Any])


def _caller_locals() -> dict[str, Any]:
    """The local names of the code calling a decorator method (two frames up), so annotations
    naming classes defined inside a function still resolve."""
    return dict(sys._getframe(2).f_locals)


class Registration:
    """The registering half of :class:`~trimcp.Server`."""

    tools: Registry[Tool]
    prompts: Registry[Prompt]
    resources: Registry[Resource]
    resource_templates: Registry[ResourceTemplate]
    mounted_in: list[tuple[Server, str]]

    def mount(self, server: Server, prefix: str) -> None:
        """Serve ``server``'s tools and prompts here as ``<prefix>_<name>``, its resources and
        templates as ``<scheme>://<prefix>/<rest>`` (live: what it registers later appears too;
        its change notifications reach this server's clients). Its middleware and completions
        stay its own; this server's middleware applies. Raises ``ValueError`` for a prefix
        that does not fit a tool name, a server mounted in itself, or one with a lifespan
        (give the lifespan to this server)."""
        if not prefix or "_" in prefix or not is_advised_tool_name(prefix):
            raise ValueError(f"mount prefix {prefix!r}: use letters, digits, '-' or '.' (no '_', it separates names)")
        if server is self or self in _servers_inside(server):
            raise ValueError("a server cannot be mounted in itself")
        if server.lifespan is not None:
            raise ValueError(
                "a mounted server cannot have a lifespan of its own: give it to the server it is mounted in"
            )
        mount = Mount(server, prefix)
        for registry in (self.tools, self.prompts, self.resources, self.resource_templates):
            registry.mounts.append(mount)
        server.mounted_in.append((self, prefix))  # type: ignore[arg-type]
        for notify in (self.notify_tools_changed, self.notify_prompts_changed, self.notify_resources_changed):  # type: ignore[attr-defined]
            notify()

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
        scopes: Sequence[str] = (),
    ) -> Callable[[F], F]:
        """Offer a function's return value as the resource at ``uri``. A URI with ``{variables}``
        makes a template; the function takes the variables as parameters. ``scopes``: the OAuth
        scopes a caller needs to list and read it (as for tools).

        The function returns ``str`` (text), ``bytes`` (blob), ``ResourceContents``, or any
        JSON-able value (sent as ``application/json`` text).
        """
        options = {
            "name": name, "title": title, "description": description, "mime_type": mime_type,
            "annotations": annotations, "icons": icons, "meta": meta, "scopes": scopes, "localns": _caller_locals(),
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


def _servers_inside(server: Server) -> list[Any]:
    """Every server mounted in ``server``, at any depth."""
    found: list[Any] = []
    for mount in server.tools.mounts:
        found += [mount.server, *_servers_inside(mount.server)]
    return found
