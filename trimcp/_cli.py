"""The ``trimcp`` command line: ``trimcp serve module:server``, ``trimcp dev``, and the client
commands (``trimcp call``, ``list``, ``inspect``, ``read``, ``prompt``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import trio
from hypercorn.utils import LifespanFailureError

from . import _client_cli
from ._cli_auth import add_auth_flags, auth_config
from ._cli_dev import add_dev_command, run_dev
from ._cli_observe import add_observability_flags, configure_logging, install_observers
from ._cli_reload import RELOADED, run_reloader
from ._cli_workers import SESSIONS_NEED_REDIS, SUPERVISOR_PID, WORKER_FD, refusal, run_supervisor, serve_worker
from ._server.server import Server
from ._transports import HTTPConfig, serve_http, serve_stdio

_DEFAULT_NAMES = ("server", "mcp", "app")
_HTTP = HTTPConfig()
#: Flags whose destination is an HTTPConfig field of the same name go to it as they are.
_SETTINGS = attrs.fields_dict(HTTPConfig).keys()


def load_server(target: str) -> Server:
    """Find the :class:`Server` named by ``module:attribute`` or ``path/to/file.py:attribute``.

    Without ``:attribute``, a module-level ``server``, ``mcp`` or ``app`` is used. Raises
    ``SystemExit`` with a readable message when nothing fits.
    """
    module_name, _, attribute = target.partition(":")
    try:
        module = _import(module_name)
    except Exception as exc:
        raise SystemExit(
            f"trimcp: cannot import {module_name!r}: {_where_raised(exc)}{type(exc).__name__}: {exc}"
        ) from exc
    names = [attribute] if attribute else [n for n in _DEFAULT_NAMES if hasattr(module, n)]
    for name in names:
        value: Any = getattr(module, name, None)
        if isinstance(value, Server):
            return value
        if value is not None:
            raise SystemExit(f"trimcp: {module_name}:{name} is a {type(value).__name__}, not a trimcp.Server")
    wanted = attribute or " or ".join(_DEFAULT_NAMES)
    raise SystemExit(f"trimcp: no trimcp.Server named {wanted} in {module_name!r}")


def _where_raised(exc: BaseException) -> str:
    """``file:line: `` of the deepest frame of ``exc`` outside the Python library, else ``""``."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if "importlib" not in frame.filename]
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""


def _import(name: str) -> Any:
    if name.endswith(".py") or os.sep in name:
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(name))[0], name)
        if spec is None or spec.loader is None:
            raise ImportError(f"no Python file at {name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trimcp", description="A Trio-native runtime for MCP servers.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a trimcp.Server",
        epilog="Every --flag may be set in the environment instead: TRIMCP_PORT=9000, TRIMCP_JSON_RESPONSE=1, "
        "TRIMCP_ALLOW_HOST=a.example,b.example (the command line wins).",
    )
    serve.add_argument("target", help="module:attribute (or path/to/file.py:attribute) of the Server")
    serve.add_argument(
        "--transport", choices=["stdio", "streamable-http", "sse"], default="stdio",
        help="how clients connect (default: stdio); sse is the deprecated HTTP+SSE transport of 2024-11-05",
    )  # fmt: skip
    serve.add_argument(
        "--graceful-timeout", "--grace", dest="graceful_timeout_seconds", type=float, default=None, metavar="SECONDS",
        help=f"seconds running requests get at shutdown (stdio: 1, HTTP: {_HTTP.graceful_timeout_seconds:g})",
    )  # fmt: skip
    http = serve.add_argument_group("streamable-http (defaults: trimcp.HTTPConfig)")
    http.add_argument("--host", default=_HTTP.host, help=f"address to bind (default: {_HTTP.host})")
    http.add_argument("--port", type=int, default=_HTTP.port, help=f"port to bind (default: {_HTTP.port})")
    http.add_argument("--path", default=_HTTP.path, help=f"the Streamable HTTP endpoint's path (default: {_HTTP.path})")
    http.add_argument(
        "--legacy-sse",
        action="store_true",
        help="with streamable-http: also serve the HTTP+SSE transport (at --sse-path and --messages-path)",
    )
    http.add_argument("--sse-path", default="/sse", help="the HTTP+SSE transport's stream path (default: /sse)")
    http.add_argument(
        "--health-path", metavar="PATH", help="answer health checks here (200 serving, 503 shutting down)"
    )
    http.add_argument(
        "--messages-path", default=_HTTP.messages_path, help=f"its message path (default: {_HTTP.messages_path})"
    )
    http.add_argument(
        "--allow-host",
        action="append",
        dest="allowed_hosts",
        metavar="HOST",
        help="accept this Host (repeatable; default: loopback names when bound to loopback)",
    )
    http.add_argument(
        "--allow-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="accept this Origin (repeatable; '*' for any)",
    )
    http.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        default=[],
        metavar="ORIGIN",
        help="let browser pages from this origin call the server (repeatable)",
    )
    http.add_argument("--certfile", help="TLS certificate (PEM)")
    http.add_argument("--keyfile", help="TLS private key (PEM)")
    http.add_argument(
        "--json-response",
        action="store_true",
        help="answer requests with JSON; SSE only where a request must stream (questions, listen)",
    )
    http.add_argument(
        "--websocket",
        action="store_true",
        help="also accept WebSocket connections (subprotocol mcp, SEP-1288 draft) at --path",
    )
    _number(http, "--backlog", "backlog", "connections waiting to be accepted")
    _number(http, "--max-sessions", "max_sessions", "open sessions (beyond: 503)")
    _number(http, "--max-body-bytes", "max_body_bytes", "bytes in one request body (beyond: 413)")
    _number(http, "--session-idle-timeout", "session_idle_timeout_seconds", "seconds before an idle session ends")
    _number(http, "--keep-alive-timeout", "keep_alive_timeout_seconds", "seconds an idle connection stays open")
    shared = serve.add_argument_group("several processes or machines (docs/deployment.md)")
    shared.add_argument(
        "--redis", dest="redis_url", metavar="URL",
        help="share change notifications and tasks through this Redis/Valkey (pip install 'trimcp[redis]')",
    )  # fmt: skip
    serve.add_argument(
        "--reload",
        action="store_true",
        help="restart the server when a Python file of the project changes (development)",
    )
    shared.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="streamable-http: N processes serving one socket, supervised (default: 1)",
    )  # fmt: skip
    add_auth_flags(serve)
    add_observability_flags(serve)
    defaults_from_environment(serve, os.environ)
    _client_cli.add_commands(commands)
    add_dev_command(commands)
    return parser


def defaults_from_environment(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """Every ``--some-flag`` of ``parser`` takes its default from ``TRIMCP_SOME_FLAG`` when set
    (a flag on the command line still wins): numbers and paths as written, switches from
    ``1``/``true``/``yes``, repeatable flags from a comma-separated list. Raises ``SystemExit``
    for a value the flag would refuse."""
    for action in parser._actions:
        flags = [flag for flag in action.option_strings if flag.startswith("--")]
        if not flags or action.dest == "help":
            continue
        variable = "TRIMCP_" + flags[0][2:].upper().replace("-", "_")
        raw = environ.get(variable)
        if raw is None:
            continue
        try:
            if isinstance(action, argparse._StoreTrueAction):
                value: Any = raw.strip().lower() in ("1", "true", "yes", "on")
            elif isinstance(action, argparse._AppendAction):
                value = [item.strip() for item in raw.split(",") if item.strip()]
            else:
                value = action.type(raw) if callable(action.type) else raw
        except ValueError:
            raise SystemExit(f"trimcp: {variable}={raw!r} is not a valid {flags[0]}") from None
        if action.choices is not None and value not in action.choices:
            raise SystemExit(f"trimcp: {variable} must be one of {', '.join(map(str, action.choices))}")
        action.default = value


def _number(group: Any, flag: str, setting: str, what: str) -> None:
    """A numeric flag for an :class:`HTTPConfig` setting, with its default and type."""
    default = getattr(_HTTP, setting)
    group.add_argument(
        flag, dest=setting, type=type(default), default=default, metavar="N", help=f"{what} (default: {default})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "dev":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        sys.exit(run_dev(args))
    if args.command != "serve":
        sys.exit(_client_cli.run(args))
    configure_logging(args)
    if args.reload and not os.environ.get(RELOADED):
        if args.workers > 1:
            raise SystemExit("trimcp: --reload serves one process; leave out --workers")
        sys.exit(run_reloader(argv, args.target))
    server = load_server(args.target)
    install_observers(args, server)
    if args.redis_url:
        server.use_backend(_redis_backend(args.redis_url))
    if args.transport == "stdio":
        if args.workers > 1:
            raise SystemExit("trimcp: --workers is for the HTTP transports (a stdio server has one client)")
        grace = 1.0 if args.graceful_timeout_seconds is None else args.graceful_timeout_seconds
        blocked = args.blocked_loop_warning_seconds
        trio.run(lambda: serve_stdio(server, graceful_timeout_seconds=grace, blocked_loop_warning_seconds=blocked))
        return
    legacy = args.transport == "sse" or args.legacy_sse
    settings = {name: value for name, value in vars(args).items() if name in _SETTINGS and value is not None}
    settings["path"] = None if args.transport == "sse" else args.path
    settings["sse_path"] = args.sse_path if legacy else None
    settings["blocked_loop_warning_seconds"] = args.blocked_loop_warning_seconds
    settings["auth"] = auth_config(args, server, args.host, args.port, settings["path"])
    config = HTTPConfig(**settings)
    try:
        if os.environ.get(WORKER_FD):  # a worker of `--workers N`
            trio.run(serve_worker, server, config, int(os.environ[WORKER_FD]), int(os.environ[SUPERVISOR_PID]))
        elif args.workers > 1:
            if why := refusal(server, args.workers, args.redis_url):
                raise SystemExit(f"trimcp: {why}")
            if not args.redis_url and config.path is not None:
                logging.getLogger("trimcp").warning(SESSIONS_NEED_REDIS)
            sys.exit(run_supervisor(argv, config, args.workers))
        else:
            trio.run(lambda: serve_http(server, config))
    except BaseException as exc:
        if (refused := _startup_refusal(exc)) is not None:
            raise SystemExit(f"trimcp: cannot start: {refused}") from None
        cause = _listen_failure(exc)
        if cause is None:
            raise
        raise SystemExit(f"trimcp: cannot listen on {config.host}:{config.port}: {cause.strerror or cause}") from None


def _redis_backend(url: str) -> Any:
    try:
        from ._redis import RedisBackend
    except ImportError:
        raise SystemExit("trimcp: --redis needs coredis: pip install 'trimcp[redis]'") from None
    return RedisBackend(url)


def _startup_refusal(exc: BaseException) -> str | None:
    """Why the app refused to start (its lifespan failed: a backend it cannot reach), if that
    is what ``exc`` (possibly nested in exception groups) says."""
    if isinstance(exc, LifespanFailureError):  # "Lifespan failure in startup. '<the app's message>'"
        text = str(exc)
        return text.partition(". '")[2].removesuffix("'") or text
    if isinstance(exc, BaseExceptionGroup):
        found = [_startup_refusal(inner) for inner in exc.exceptions]
        return next((refusal for refusal in found if refusal is not None), None)
    return None


def _listen_failure(exc: BaseException) -> OSError | None:
    """The socket error inside ``exc`` (possibly nested in exception groups) that stopped the
    server from listening, else ``None``."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _listen_failure(inner)
            if found is not None:
                return found
    return None
