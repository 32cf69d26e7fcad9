"""One client connection as the server sees it: which era it speaks, and the MCP method table.

:class:`MethodTable` is the :class:`~trimcp._runtime.Router` the runtime calls for every
request. Cheap methods (``initialize``, ``ping``, lists, discovery) are answered synchronously;
the rest return a coroutine function the runtime runs in the request's own task.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from .._runtime import Caller, Outbox, RequestHandle, Routed
from ..protocol.auth import subject_of
from ..protocol.constants import LOG_LEVEL_RANK, META_SUBSCRIPTION_ID, RESULT_INPUT_REQUIRED
from ..protocol.envelope import Envelope, complete_result
from ..protocol.errors import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    RemoteProtocolError,
    show_value,
)
from ..protocol.jsonrpc import Notification, Request, RequestId
from ..protocol.lifecycle import Lifecycle
from ..protocol.versions import SUPPORTED_VERSIONS, Era
from .asking import Rounds, collect_input_required
from .backend import BackendUnavailable
from .completions import choices_from_schema, completion_result
from .content import ResourceContents
from .context import Context
from .errors import ResourceNotFoundError
from .middleware import ToolCall, around_tool, through_middleware
from .pagination import page
from .prompts import Prompt
from .request_state import Binding, RoundState
from .server import Server
from .subscriptions import Listener, grant
from .tasks.methods import ask_for_task, listened_tasks, task_methods, task_of_call
from .tools import Tool

logger = logging.getLogger("trimcp")

Runner = Callable[[RequestHandle], Awaitable[dict]]
#: Methods whose answers carry 2026-07-28 caching hints.
_CACHEABLE = frozenset(
    {"server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"}
)


class MethodTable:
    """The server side of one connection (a stdio process, an HTTP session…): the MCP method
    table. What the protocol allows when is :class:`~trimcp.protocol.lifecycle.Lifecycle`'s."""

    def __init__(self, server: Server, outbox: Outbox | None = None, *, era: Era | None = None) -> None:
        self.server = server
        #: Where server-initiated messages to this connection go (stdio: the session's stream;
        #: HTTP: the session's GET stream). Set by the transport.
        self.outbox = outbox
        self.lifecycle = Lifecycle(era)
        #: The handshake era's ``logging/setLevel`` threshold; ``None`` lets everything through.
        self.log_level: str | None = None
        #: Resource URIs this (handshake-era) connection subscribed to.
        self.subscriptions: set[str] = set()
        #: Whose 2025-11-25 tasks this connection's are (only it sees them).
        self._session_token = secrets.token_urlsafe(16)
        self._handshake_methods: dict[str, Callable[[Request], dict[str, Any]]] = {
            "initialize": self._initialize,
            "ping": lambda request: {},
            "logging/setLevel": self._set_level,
            "resources/subscribe": self._subscribe,
            "resources/unsubscribe": self._unsubscribe,
        }
        self._methods: dict[str, Callable[[Request, Envelope | None, Caller], Routed]] = {
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "resources/list": self._resources_list,
            "resources/templates/list": self._templates_list,
            "resources/read": self._resources_read,
            "prompts/list": self._prompts_list,
            "prompts/get": self._prompts_get,
            "completion/complete": self._complete,
            **task_methods(self),
        }

    # -- Router ---------------------------------------------------------------------------

    def allows_batches(self) -> bool:
        return self.lifecycle.allows_batches()

    def notification(self, notification: Notification) -> None:
        self.lifecycle.notification(notification.method)

    def route(self, request: Request, caller: Caller) -> Routed:
        method = request.method
        envelope = self.lifecycle.admit(request)
        if envelope is None:
            answer = self._handshake_methods.get(method)
            if answer is not None:
                return answer(request)
            handler = self._methods.get(method)
            if handler is None:
                raise _method_not_found(method, request.id)
            if self.server.request_middlewares:
                return through_middleware(self.server.request_middlewares, handler, request, None, caller)
            return handler(request, None, caller)
        if method == "server/discover":
            return self._finish(self._discover(), caller, cacheable=True)
        if method == "subscriptions/listen":
            return self._finishing(self._listen(request, envelope, caller), caller, cacheable=False)
        handler = self._methods.get(method)
        if handler is None:
            raise _method_not_found(method, request.id)
        if self.server.request_middlewares:
            routed = through_middleware(self.server.request_middlewares, handler, request, envelope, caller)
        else:
            routed = handler(request, envelope, caller)
        if type(routed) is dict:
            return self._finish(routed, caller, cacheable=method in _CACHEABLE)
        return self._finishing(routed, caller, cacheable=method in _CACHEABLE)

    # -- the handshake era's own methods ----------------------------------------------------------

    def _initialize(self, request: Request) -> dict[str, Any]:
        version = self.lifecycle.initialize(request.params, request.id)
        self.server.subscribers.add_session(self)
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": self.server.capabilities(version),
            "serverInfo": self.server.server_info(),
        }
        if self.server.instructions is not None:
            result["instructions"] = self.server.instructions
        return result

    def _set_level(self, request: Request) -> dict[str, Any]:
        params = request.params if type(request.params) is dict else {}
        level = params.get("level")
        if type(level) is not str or level not in LOG_LEVEL_RANK:
            raise _invalid(f"unknown log level {show_value(level)}; use one of {', '.join(LOG_LEVEL_RANK)}", request.id)
        self.log_level = level
        return {}

    def _subscribe(self, request: Request) -> dict[str, Any]:
        uri = _params(request).get("uri")
        if type(uri) is not str:
            raise _invalid('"uri" must be a string', request.id)
        try:
            found = self.server.find_resource(uri)
        except ValueError:
            found = None
        if found is None:
            raise self._not_found(uri, None, request.id)
        self.subscriptions.add(uri)
        return {}

    def _unsubscribe(self, request: Request) -> dict[str, Any]:
        uri = _params(request).get("uri")
        if type(uri) is not str:
            raise _invalid('"uri" must be a string', request.id)
        self.subscriptions.discard(uri)
        return {}

    def _listen(self, request: Request, envelope: Envelope, caller: Caller) -> Runner:
        requested = _params(request).get("notifications")
        if type(requested) is not dict:
            raise _invalid('"notifications" must be an object naming the notifications wanted', request.id)
        if not self.server.backend.available:
            raise BackendUnavailable("changes from other processes cannot be heard now (the backend is unreachable)")
        granted = grant(self.server, requested)
        task_ids = listened_tasks(requested, envelope, request.id)
        subscribers, tasks, owner = self.server.subscribers, self.server.tasks, self.task_owner(envelope, caller)

        async def run(handle: RequestHandle) -> dict:
            if task_ids is not None:  # the tasks that exist (and this client may see)
                granted["taskIds"] = [task_id for task_id in task_ids if await tasks.get(task_id, owner) is not None]
            meta = {META_SUBSCRIPTION_ID: handle.id}
            handle.outbox.need_stream()
            await handle.notify("notifications/subscriptions/acknowledged", {"_meta": meta, "notifications": granted})
            listener = Listener(handle, granted)
            subscribers.add_listener(listener)
            try:
                await listener.wait_closed()
            finally:
                subscribers.remove_listener(listener)
            return {"_meta": meta}

        return run

    def _rounds(
        self, request: Request, envelope: Envelope | None, caller: Caller, target: str, args: Any, can_ask: bool = True
    ) -> tuple[Rounds, Binding | None]:
        """The answers a 2026-07-28 retry brings (from its sealed ``requestState``, bound to the
        caller, and its ``inputResponses``); raises -32602 for a state that cannot be used. No
        binding (a digest of ``args``) when the handler cannot ask and there is no state."""
        if envelope is None:
            return Rounds(), None
        params = _params(request)
        token, responses = params.get("requestState"), params.get("inputResponses")
        if token is None and not can_ask:
            return Rounds(), None
        binding = Binding.of(request.method, target, args, subject_of(caller))
        if token is None:
            # Answers with no state to go with them can only be first-round answers: nothing
            # earlier needs protecting, and the handler takes only the keys it asks for.
            if responses is not None and type(responses) is not dict:
                raise _invalid('"inputResponses" must be an object', request.id)
            return Rounds(dict(responses or {})), binding
        state = self.server.state_sealer.open(token, binding, request.id)
        answers = dict(state.answers)
        if type(responses) is dict:
            answers.update({key: value for key, value in responses.items() if key in state.pending})
        return Rounds(answers), binding

    def _asking(
        self,
        run: Callable[[Context], Awaitable[dict]],
        envelope: Envelope | None,
        rounds: Rounds,
        binding: Binding | None,
        *,
        as_task: Tool | None = None,
    ) -> Runner:
        """A runner that answers ``input_required`` when the handler asked something new;
        with ``as_task``, the handler runs as that tool's task (docs/tasks.md)."""
        tasks = self.server.tasks

        async def runner(handle: RequestHandle) -> dict:
            try:
                if as_task is None:
                    return await run(Context(handle, self, envelope, rounds))
                return await tasks.start(
                    handle,
                    lambda work: run(Context(work, self, envelope, rounds)),
                    tool=as_task.name,
                    required=as_task.task_support == "required",
                    ttl_ms=as_task.task_ttl_ms,
                    poll_interval_ms=as_task.task_poll_interval_ms,
                    owner=self.task_owner(envelope, handle.caller),
                    asker=None if envelope is not None else functools.partial(ask_for_task, self, handle),
                )
            except BaseException as error:
                ask = collect_input_required(error)
                if ask is None or binding is None:
                    raise
            pending = RoundState(rounds.answers, tuple(ask.requests))
            return {
                "resultType": RESULT_INPUT_REQUIRED,
                "inputRequests": ask.requests,
                "requestState": self.server.state_sealer.seal(binding, pending),
            }

        return runner

    def _discover(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "supportedVersions": list(SUPPORTED_VERSIONS),
            "capabilities": self.server.capabilities(SUPPORTED_VERSIONS[0]),
        }
        if self.server.instructions is not None:
            result["instructions"] = self.server.instructions
        return result

    def _finish(self, result: dict[str, Any], caller: Caller, *, cacheable: bool) -> dict[str, Any]:
        """Shape a 2026-07-28 result; what an authenticated caller gets is never shared."""
        if cacheable and result.get("resultType", "complete") == "complete":
            result["ttlMs"] = self.server.cache_ttl_ms
            result["cacheScope"] = "private" if caller.principal is not None else self.server.cache_scope
        return complete_result(result, self.server.server_info())

    def _finishing(self, runner: Runner, caller: Caller, *, cacheable: bool) -> Runner:
        async def run(handle: RequestHandle) -> dict:
            return self._finish(await runner(handle), caller, cacheable=cacheable)

        return run

    def _version(self, envelope: Envelope | None) -> str | None:
        return envelope.protocol_version if envelope is not None else self.lifecycle.protocol_version

    # -- methods ------------------------------------------------------------------------------------

    def _list(
        self, kind: str, key: str, items: Any, request: Request, envelope: Envelope | None, caller: Caller
    ) -> dict[str, Any]:
        """One page of ``items``, leaving out what the caller's scopes do not allow."""
        server = self.server
        version = self._version(envelope)
        allowed = [item for item in items if item.allows(caller.principal)]
        chosen, next_cursor = page(kind, allowed, request.params, server.page_size, request.id)
        result: dict[str, Any] = {key: [item.definition(version) for item in chosen]}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        return result

    def _tools_list(self, request: Request, envelope: Envelope | None, caller: Caller) -> dict[str, Any]:
        return self._list("tools", "tools", self.server.tools.values(), request, envelope, caller)

    def _resources_list(self, request: Request, envelope: Envelope | None, caller: Caller) -> dict[str, Any]:
        return self._list("resources", "resources", self.server.resources.values(), request, envelope, caller)

    def _templates_list(self, request: Request, envelope: Envelope | None, caller: Caller) -> dict[str, Any]:
        templates = self.server.resource_templates.values()
        return self._list("templates", "resourceTemplates", templates, request, envelope, caller)

    def _prompts_list(self, request: Request, envelope: Envelope | None, caller: Caller) -> dict[str, Any]:
        return self._list("prompts", "prompts", self.server.prompts.values(), request, envelope, caller)

    def _tools_call(self, request: Request, envelope: Envelope | None, caller: Caller) -> Runner:
        params = _params(request)
        name = params.get("name")
        tool = self.server.tools.get(name) if type(name) is str else None
        if tool is None:
            raise _invalid(f"Unknown tool: {name!r}" if type(name) is str else '"name" must be a string', request.id)
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        elif type(arguments) is not dict:
            raise _invalid('"arguments" must be an object', request.id)
        as_task = task_of_call(self, tool, request, envelope)
        middlewares = self.server.tool_middlewares
        can_ask = tool.spec.context_param is not None or bool(middlewares)
        rounds, binding = self._rounds(request, envelope, caller, tool.name, arguments, can_ask)
        limiter = self.server.thread_limiter

        async def run(context: Context) -> dict:
            if not middlewares:
                return await tool.call(arguments, context, limiter())

            async def innermost(call: ToolCall) -> dict:
                return await tool.call(call.arguments, context, limiter())

            return await around_tool(middlewares, ToolCall(tool.name, dict(arguments), context), innermost)

        return self._asking(run, envelope, rounds, binding, as_task=as_task)

    def task_owner(self, envelope: Envelope | None, caller: Caller) -> str | None:
        """Who a task started on this request belongs to: this session in the handshake era,
        the caller's principal on 2026-07-28 (nobody in particular without authentication)."""
        return self._session_token if envelope is None else subject_of(caller)

    def _resources_read(self, request: Request, envelope: Envelope | None, caller: Caller) -> Runner:
        uri = _params(request).get("uri")
        if type(uri) is not str:
            raise _invalid('"uri" must be a string', request.id)
        try:
            found = self.server.find_resource(uri)
        except ValueError as exc:
            raise _invalid(f"resource {uri!r}: {exc}", request.id) from None
        if found is None:
            raise self._not_found(uri, envelope, request.id)
        resource, kwargs = found
        rounds, binding = self._rounds(request, envelope, caller, uri, None)
        limiter = self.server.thread_limiter
        request_id = request.id

        async def run(context: Context) -> dict:
            try:
                contents = await resource.read(uri, kwargs, context, limiter())
            except ResourceNotFoundError as exc:
                raise self._not_found(exc.uri, envelope, request_id) from None
            return {"contents": [_contents_dict(c) for c in contents]}

        return self._asking(run, envelope, rounds, binding)

    def _prompts_get(self, request: Request, envelope: Envelope | None, caller: Caller) -> Runner:
        params = _params(request)
        name = params.get("name")
        prompt: Prompt | None = self.server.prompts.get(name) if type(name) is str else None
        if prompt is None:
            raise _invalid(f"Unknown prompt: {name!r}", request.id)
        kwargs = prompt.arguments_from(params.get("arguments"), request.id)
        rounds, binding = self._rounds(request, envelope, caller, prompt.name, params.get("arguments"))
        limiter = self.server.thread_limiter
        version = self._version(envelope)

        async def run(context: Context) -> dict:
            return await prompt.render(kwargs, context, limiter(), version)

        return self._asking(run, envelope, rounds, binding)

    def _complete(self, request: Request, envelope: Envelope | None, caller: Caller) -> Routed:
        params = _params(request)
        ref, argument = params.get("ref"), params.get("argument")
        if type(ref) is not dict or type(argument) is not dict:
            raise _invalid('"ref" and "argument" must be objects', request.id)
        name, value = argument.get("name"), argument.get("value", "")
        if type(name) is not str or type(value) is not str:
            raise _invalid('"argument" needs a string "name" and "value"', request.id)
        context = params.get("context") or {}
        context_arguments = context.get("arguments") or {} if type(context) is dict else None
        if type(context_arguments) is not dict:
            raise _invalid('"context.arguments" must be an object', request.id)
        ref_type = ref.get("type")
        if ref_type == "ref/prompt":
            target = ref.get("name")
            owner: Any = self.server.prompts.get(target) if type(target) is str else None
            if owner is None:
                raise _invalid(f"Unknown prompt: {target!r}", request.id)
        elif ref_type == "ref/resource":
            target = ref.get("uri")
            owner = self.server.resource_templates.get(target) if type(target) is str else None
            if owner is None and target not in self.server.resources:
                raise _invalid(f"Unknown resource template: {target!r}", request.id)
        else:
            raise _invalid(f"unknown ref type {show_value(ref_type)}", request.id)
        completer = self.server.completers.get((ref_type, target, name))
        if completer is None:
            schema = owner.spec.input_schema["properties"].get(name, {}) if owner is not None else {}
            found = choices_from_schema(schema, value) or completion_result([])
            return {"completion": found}
        server = self.server

        async def run(handle: RequestHandle) -> dict:
            context = Context(handle, self, envelope)
            completion = await completer.complete(value, context_arguments, context, server.thread_limiter())
            return {"completion": completion}

        return run

    def _not_found(self, uri: str, envelope: Envelope | None, request_id: RequestId) -> RemoteProtocolError:
        code = INVALID_PARAMS if envelope is not None else RESOURCE_NOT_FOUND
        return RemoteProtocolError("Resource not found", code=code, data={"uri": uri}, request_id=request_id)


def _params(request: Request) -> dict[str, Any]:
    params = request.params
    if params is None:
        return {}
    if type(params) is not dict:
        raise _invalid("params must be an object", request.id)
    return params


def _contents_dict(contents: ResourceContents | dict[str, Any]) -> dict[str, Any]:
    return contents if type(contents) is dict else contents.to_dict()  # type: ignore[union-attr]


def _invalid(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(reason, code=INVALID_PARAMS, request_id=request_id)


def _method_not_found(method: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Method not found: {method}", code=METHOD_NOT_FOUND, request_id=request_id)
