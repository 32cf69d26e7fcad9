"""``trimcp call``, ``list``, ``inspect``, ``read`` and ``prompt``: the client from the command line.

TARGET is an ``http(s)://`` URL, ``module:server`` / ``path/to/file.py:server`` (served
in-process) or a command line in one argument (run as a stdio subprocess).

``--oauth`` logs in with the browser when the server asks (the OAuth authorization code flow,
through a redirect listener on 127.0.0.1) and keeps the tokens for the next command in the
user's cache directory; ``--token`` sends a bearer token the user already has.

Ctrl-C (SIGINT) cancels the command the Trio way, whatever the transport: its cancel scope is
cancelled, so a running call is cancelled on the server (``notifications/cancelled``, or its
response stream closed on 2026-07-28 HTTP) before the connection closes; nothing more of the
call is printed, ``trimcp: interrupted`` is, and the exit status is 130. A second Ctrl-C exits
at once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

from ._client import AuthorizationRequired, ClientError, FileTokenStore, OAuth, open_client
from ._client.oauth.loopback import open_loopback_redirect
from ._runtime.groups import unwrap_single_exception
from .protocol.errors import RequestFailed

_SERVER_SPEC = re.compile(r"^[\w./\\-]+(\.py)?:[A-Za-z_]\w*$")
LIST_KINDS = {
    "tools": "list_tools",
    "resources": "list_resources",
    "templates": "list_resource_templates",
    "prompts": "list_prompts",
}
#: The exit status of a command interrupted by SIGINT (128 + 2, as shells report it).
INTERRUPTED = 130
_TOKENS_HELP = "$XDG_CACHE_HOME/trimcp/tokens.json (~/.cache/trimcp/tokens.json)"


def add_commands(commands: Any) -> None:
    """Register the client commands on the ``trimcp`` parser's subcommands."""
    call = commands.add_parser("call", help="call a tool of an MCP server")
    _common(call)
    call.add_argument("tool", help="the tool's name")
    call.add_argument(
        "arguments",
        nargs="*",
        metavar="key=value",
        help="arguments (values are JSON when they parse and the schema does not ask for a string)",
    )
    call.add_argument("--args", dest="json_arguments", help="all arguments as one JSON object")
    call.add_argument("--log-level", default="info", help="show the server's log messages from this level up")
    listing = commands.add_parser("list", help="list a server's tools, resources, templates or prompts")
    _common(listing)
    listing.add_argument("kind", nargs="?", choices=sorted(LIST_KINDS), default="tools")
    inspect = commands.add_parser("inspect", help="show a server's era, protocol version, capabilities and info")
    _common(inspect)
    read = commands.add_parser("read", help="read a resource of an MCP server")
    _common(read)
    read.add_argument("uri", help="the resource's URI")
    prompt = commands.add_parser("prompt", help="get a prompt of an MCP server")
    _common(prompt)
    prompt.add_argument("name", help="the prompt's name")
    prompt.add_argument("arguments", nargs="*", metavar="key=value", help="the prompt's arguments (strings)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="URL, module:server, or a command line (quoted) for a stdio server")
    parser.add_argument(
        "--transport", choices=["stdio", "streamable-http", "sse", "in-process"], help="instead of guessing from TARGET"
    )
    parser.add_argument("--protocol-version", help="pin a protocol revision instead of negotiating")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer (default 60)")
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE", help="extra HTTP header")
    parser.add_argument("--token", help="a bearer token (OAuth access token or API key) for an HTTP server")
    parser.add_argument("--token-file", metavar="FILE", help="read the bearer token from FILE (kept out of ps)")
    parser.add_argument(
        "--oauth",
        action="store_true",
        help="log in with the browser when the server asks (OAuth); tokens are kept in " + _TOKENS_HELP,
    )
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--json", action="store_true", help="print the raw JSON results")


def run(args: argparse.Namespace) -> int:
    """Run one client command; the process exit status."""
    try:
        return trio.run(_run_until_interrupted, args)
    except AuthorizationRequired as exc:
        needed = f" (needs scope: {exc.challenge['scope']})" if "scope" in exc.challenge else ""
        where = exc.challenge.get("resource_metadata", "")
        print(f"trimcp {args.command}: {exc}{needed}; see {where} for how to get a token", file=sys.stderr)
        return 2
    except (ClientError, RequestFailed, OSError, ValueError) as exc:
        print(f"trimcp {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the command watches for SIGINT itself
        _say("trimcp: interrupted")
        return INTERRUPTED


class _Console:
    """What a running command prints on stderr (progress, the server's notifications) until
    it is interrupted; from then on only that it was."""

    def __init__(self) -> None:
        self.interrupted = False

    def interrupt(self) -> None:
        """Say once that the command was interrupted, and print nothing more of it."""
        if not self.interrupted:
            self.interrupted = True
            _say("trimcp: interrupted")

    def show_progress(self, progress: float, total: float | None, message: str | None) -> None:
        """The call's progress callback: one line per notification, none once interrupted."""
        if not self.interrupted:
            _show_progress(progress, total, message)

    def show_notification(self, message: dict[str, Any]) -> None:
        """The client's message handler: log messages and other notifications, none once interrupted."""
        if not self.interrupted:
            _show_notification(message)


async def _run_until_interrupted(args: argparse.Namespace) -> int:
    """Run the command in a cancel scope that the first SIGINT cancels; the exit status
    (:data:`INTERRUPTED` once interrupted). Resource handling: owns the SIGINT handler (Trio's
    ``KeyboardInterrupt`` is back once the command is over) and the task that watches it.
    Raises what the command raises."""
    console = _Console()
    status = INTERRUPTED
    with trio.open_signal_receiver(signal.SIGINT) as interrupts, unwrap_single_exception():
        async with trio.open_nursery() as nursery:
            command = trio.CancelScope()
            nursery.start_soon(_watch_interrupts, interrupts, command, console)
            with command:
                status = await _run(args, console)
            nursery.cancel_scope.cancel()
    return INTERRUPTED if console.interrupted else status


async def _watch_interrupts(interrupts: AsyncIterator[int], command: trio.CancelScope, console: _Console) -> None:
    """At the first SIGINT, silence ``console`` and cancel ``command`` (its cleanup tells the
    server, then closes the connection). At the second, exit the process at once: the
    operating system then closes the server's pipes or sockets, which a server takes as its
    client gone."""
    await anext(interrupts)
    console.interrupt()
    command.cancel(reason="interrupted")
    await anext(interrupts)
    os._exit(INTERRUPTED)


async def _run(args: argparse.Namespace, console: _Console) -> int:
    headers = dict(_header(h) for h in args.header)
    options: dict[str, Any] = {
        "protocol_version": args.protocol_version,
        "transport": args.transport,
        "timeout": args.timeout,
        "headers": headers,
        "verify": not args.insecure,
        "message_handler": console.show_notification if args.command == "call" else None,
        "log_level": args.log_level if args.command == "call" else None,
    }
    async with AsyncExitStack() as stack:
        options["auth"] = await _auth(args, stack)
        client = await stack.enter_async_context(open_client(_target(args.target, args.transport), **options))
        return await _command(args, console, client)


async def _command(args: argparse.Namespace, console: _Console, client: Any) -> int:
    if args.command == "inspect":
        return _inspect(client, args.json)
    if args.command == "list":
        items = await getattr(client, LIST_KINDS[args.kind])()
        return _list(items, args.json)
    if args.command == "read":
        return _show_contents(await client.read_resource(args.uri), args.json)
    if args.command == "prompt":
        arguments = {}
        for pair in args.arguments:
            key, equals, text = pair.partition("=")
            if not equals or not key:
                raise ValueError(f"arguments are key=value, got {pair!r}")
            arguments[key] = text
        return _show_messages(await client.get_prompt(args.name, arguments), args.json)
    schema = await _input_schema(client, args.tool) if args.arguments else {}
    arguments = json.loads(args.json_arguments) if args.json_arguments else {}
    arguments.update(parse_arguments(args.arguments, schema))
    result = await client.call_tool(args.tool, arguments, on_progress=console.show_progress)
    return _show_result(result, args.json)


async def _auth(args: argparse.Namespace, stack: AsyncExitStack) -> str | OAuth | None:
    """What the command authorizes with: a given bearer token, or with ``--oauth`` the browser
    flow through a loopback redirect listener (owned by ``stack``), its tokens in
    :func:`token_store_path`."""
    if not args.oauth:
        return _token(args)
    if args.token is not None or args.token_file is not None:
        raise ValueError("--oauth gets its own tokens: give it or --token/--token-file, not both")
    loopback = await stack.enter_async_context(open_loopback_redirect(_show_authorization_url))
    store = FileTokenStore(token_store_path())
    return OAuth(authorize=loopback.authorize, redirect_uri=loopback.redirect_uri, client_name="trimcp", store=store)


def token_store_path() -> Path:
    """Where ``--oauth`` keeps tokens and client registrations, per server: the user's cache
    directory (``$XDG_CACHE_HOME``, else ``~/.cache``), ``trimcp/tokens.json``, readable by
    the user only."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "trimcp" / "tokens.json"


def _show_authorization_url(url: str) -> None:
    _say(f"trimcp: to authorize, open this URL in a browser (trying to open one now):\n{url}")


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        with open(args.token_file, encoding="utf-8") as file:
            return file.read().strip()
    return args.token


def _target(target: str, transport: str | None) -> Any:
    if transport == "in-process" or (transport is None and _SERVER_SPEC.match(target)):
        from ._cli import load_server

        return load_server(target)
    return target


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise SystemExit(f"trimcp: --header wants NAME:VALUE, got {text!r}")
    return name.strip(), value.strip()


async def _input_schema(client: Any, tool: str) -> dict[str, Any]:
    for listed in await client.list_tools():
        if listed.get("name") == tool:
            return listed.get("inputSchema") or {}
    return {}


def parse_arguments(pairs: list[str], schema: dict[str, Any]) -> dict[str, Any]:
    """``key=value`` pairs as tool arguments: a value is JSON when it parses as JSON, unless the
    schema says that property is a string."""
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise ValueError(f"arguments are key=value, got {pair!r}")
        if (properties.get(key) or {}).get("type") == "string":
            arguments[key] = text
            continue
        try:
            arguments[key] = json.loads(text)
        except ValueError:
            arguments[key] = text
    return arguments


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _show_progress(progress: float, total: float | None, message: str | None) -> None:
    fraction = f"{progress:g}/{total:g}" if total is not None else f"{progress:g}"
    _say(f"progress {fraction}" + (f": {message}" if message else ""))


def _show_notification(message: dict[str, Any]) -> None:
    method = message.get("method")
    params = message.get("params") or {}
    if method == "notifications/progress":
        return  # shown by the call's own progress callback
    if method == "notifications/message":
        logger = f" {params['logger']}" if params.get("logger") else ""
        data = params.get("data")
        _say(f"log [{params.get('level', '?')}]{logger}: {data if isinstance(data, str) else json.dumps(data)}")
        return
    _say(f"{method} {json.dumps(params)}")


def _show_result(result: dict[str, Any], raw: bool) -> int:
    if raw:
        print(json.dumps(result, indent=2))
    else:
        for block in result.get("content") or []:
            print(block["text"] if block.get("type") == "text" else json.dumps(block))
        if "structuredContent" in result and not result.get("content"):
            print(json.dumps(result["structuredContent"], indent=2))
    return 1 if result.get("isError") else 0


def _show_contents(result: dict[str, Any], raw: bool) -> int:
    """A resource's contents: text as it is, binary as a line saying what it is."""
    if raw:
        print(json.dumps(result, indent=2))
        return 0
    for contents in result.get("contents") or []:
        if "text" in contents:
            print(contents["text"])
        else:
            size = len(contents.get("blob", "")) * 3 // 4
            print(f"[{contents.get('mimeType') or 'binary'}, about {size} bytes: use --json for the data]")
    return 0


def _show_messages(result: dict[str, Any], raw: bool) -> int:
    """A prompt's messages, one ``role: text`` block each."""
    if raw:
        print(json.dumps(result, indent=2))
        return 0
    for message in result.get("messages") or []:
        content = message.get("content") or {}
        text = content.get("text") if content.get("type") == "text" else json.dumps(content)
        print(f"{message.get('role')}: {text}")
    return 0


def _list(items: list[dict[str, Any]], raw: bool) -> int:
    if raw:
        print(json.dumps(items, indent=2))
        return 0
    for item in items:
        name = item.get("name") or item.get("uri") or item.get("uriTemplate") or "?"
        where = item.get("uriTemplate") or item.get("uri")
        label = f"{name} ({where})" if where and where != name else name
        description = (item.get("description") or "").strip().splitlines()
        print(f"{label}: {description[0]}" if description else label)
    return 0


def _inspect(client: Any, raw: bool) -> int:
    facts = {
        "transport": client.transport_name,
        "era": client.era.value,
        "protocolVersion": client.protocol_version,
        "serverInfo": client.server_info,
        "capabilities": client.server_capabilities,
        "instructions": client.instructions,
    }
    if raw:
        print(json.dumps(facts, indent=2))
        return 0
    for key, value in facts.items():
        if value is not None:
            print(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    return 0
